//! `sys/host-info`: the host the server runs on, in Vault's shape (gopsutil's field names):
//! CPUs, CPU times, the root file system's usage, the host and its memory. Read from Linux's
//! `/proc` and `/sys` and `uname`/`statvfs`; a source that cannot be read leaves its part empty
//! (never an error: the endpoint is for diagnostics).

use serde_json::{Map, Value, json};
use strongroom_logical::{Context, Fields};

use super::{Declared, System};
use crate::Result;
use crate::request::VaultResponse;

pub(super) fn endpoints() -> Vec<Declared> {
    vec![
        Declared::new("host-info")
            .read(|s, c, f| Box::pin(host_info(s, c, f)))
            .synopsis("Information about the host the server runs on.")
            .description(
                "The host's CPUs, CPU times, root file system usage, host details and memory, \
                 with the field names Vault uses.",
            ),
    ]
}

async fn host_info(_sys: &System, ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let now = crate::clock::unix(ctx.now);
    // Small files of the kernel's: read off the async workers all the same.
    let data = tokio::task::spawn_blocking(gather)
        .await
        .unwrap_or_default();
    let mut data = data;
    data.insert("timestamp".into(), json!(crate::util::rfc3339(now)));
    Ok(VaultResponse::data(data))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn gather() -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("cpu".into(), Value::Array(cpus(&read("/proc/cpuinfo"))));
    let stat = read("/proc/stat");
    out.insert("cpu_times".into(), Value::Array(cpu_times(&stat)));
    out.insert("disk".into(), Value::Array(disks(&read("/proc/mounts"))));
    out.insert("host".into(), host(&stat));
    out.insert("memory".into(), memory(&read("/proc/meminfo")));
    out
}

/// `/proc/cpuinfo`: one object per logical CPU.
fn cpus(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        (key.trim() == name).then(|| value.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let int = |name: &str| field(name).parse::<i64>().unwrap_or(0);
            let cache_kb = field("cache size")
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0);
            json!({
                "cpu": int("processor"),
                "vendorId": field("vendor_id"),
                "family": field("cpu family"),
                "model": field("model"),
                "stepping": int("stepping"),
                "physicalId": field("physical id"),
                "coreId": field("core id"),
                "cores": 1,
                "modelName": field("model name"),
                "mhz": field("cpu MHz").parse::<f64>().unwrap_or(0.0),
                "cacheSize": cache_kb,
                "flags": field("flags").split_whitespace().collect::<Vec<_>>(),
                "microcode": field("microcode"),
            })
        })
        .collect()
}

/// `/proc/stat`'s `cpuN` lines, in seconds (the kernel counts in 1/100 s).
fn cpu_times(stat: &str) -> Vec<Value> {
    stat.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            let ticks: Vec<f64> = parts
                .map(|p| p.parse::<f64>().unwrap_or(0.0) / 100.0)
                .collect();
            let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
            Some(json!({
                "cpu": name,
                "user": at(0),
                "system": at(2),
                "idle": at(3),
                "nice": at(1),
                "iowait": at(4),
                "irq": at(5),
                "softirq": at(6),
                "steal": at(7),
                "guest": at(8),
                "guestNice": at(9),
            }))
        })
        .collect()
}

/// The root file system's usage.
fn disks(mounts: &str) -> Vec<Value> {
    let Ok(stat) = rustix::fs::statvfs("/") else {
        return Vec::new();
    };
    // The last mount on `/` is the one in effect.
    let fstype = mounts
        .lines()
        .rev()
        .find_map(|line| {
            let mut parts = line.split_whitespace();
            let _device = parts.next()?;
            let point = parts.next()?;
            let kind = parts.next()?;
            (point == "/").then(|| kind.to_owned())
        })
        .unwrap_or_default();
    let block = stat.f_frsize;
    let total = stat.f_blocks.saturating_mul(block);
    let free = stat.f_bavail.saturating_mul(block);
    let used = stat
        .f_blocks
        .saturating_sub(stat.f_bfree)
        .saturating_mul(block);
    let percent = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            to_f64(part) / to_f64(whole) * 100.0
        }
    };
    let inodes_used = stat.f_files.saturating_sub(stat.f_ffree);
    vec![json!({
        "path": "/",
        "fstype": fstype,
        "total": total,
        "free": free,
        "used": used,
        "usedPercent": percent(used, used.saturating_add(free)),
        "inodesTotal": stat.f_files,
        "inodesUsed": inodes_used,
        "inodesFree": stat.f_ffree,
        "inodesUsedPercent": percent(inodes_used, stat.f_files),
    })]
}

/// A count as a float, for percentages (exact below 2^53, close enough above).
#[allow(
    clippy::cast_precision_loss,
    reason = "a percentage of byte counts needs no more precision"
)]
fn to_f64(n: u64) -> f64 {
    n as f64
}

/// The host: its names, uptime, processes, OS and kernel.
fn host(stat: &str) -> Value {
    let uname = rustix::system::uname();
    let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    let uptime = read("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.split('.').next().map(str::to_owned))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let boot_time = stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let procs = std::fs::read_dir("/proc").map_or(0, |entries| {
        entries
            .filter_map(std::result::Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .count()
    });
    let release = read("/etc/os-release");
    let os_field = |name: &str| {
        release
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let platform = os_field("ID");
    let version = match read("/etc/debian_version").trim() {
        "" => os_field("VERSION_ID"),
        debian => debian.to_owned(),
    };
    let family = match os_field("ID_LIKE").split_whitespace().next() {
        Some(like) => like.to_owned(),
        None => platform.clone(),
    };
    let hostid = [
        "/sys/class/dmi/id/product_uuid",
        "/etc/machine-id",
        "/proc/sys/kernel/random/boot_id",
    ]
    .iter()
    .map(|path| read(path).trim().to_lowercase())
    .find(|id| !id.is_empty())
    .map(|id| uuid_shaped(&id))
    .unwrap_or_default();
    json!({
        "hostname": text(uname.nodename()),
        "uptime": uptime,
        "bootTime": boot_time,
        "procs": procs,
        "os": std::env::consts::OS,
        "platform": platform,
        "platformFamily": family,
        "platformVersion": version,
        "kernelVersion": text(uname.release()),
        "kernelArch": text(uname.machine()),
        "virtualizationSystem": "",
        "virtualizationRole": "",
        "hostid": hostid,
    })
}

/// A machine id of 32 hex digits written as a UUID (gopsutil's form); anything else as it is.
fn uuid_shaped(id: &str) -> String {
    match (id.len(), id.bytes().all(|b| b.is_ascii_hexdigit())) {
        (32, true) => [(0, 8), (8, 12), (12, 16), (16, 20), (20, 32)]
            .iter()
            .filter_map(|&(a, b)| id.get(a..b))
            .collect::<Vec<_>>()
            .join("-"),
        _ => id.to_owned(),
    }
}

/// `/proc/meminfo`, in bytes, with gopsutil's names.
fn memory(text: &str) -> Value {
    let kb = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name)
                    .then(|| value.split_whitespace().next()?.parse::<u64>().ok())?
            })
            .unwrap_or(0)
            .saturating_mul(1024)
    };
    let total = kb("MemTotal");
    let free = kb("MemFree");
    let buffers = kb("Buffers");
    let cached = kb("Cached").saturating_add(kb("SReclaimable"));
    let available = match kb("MemAvailable") {
        0 => free.saturating_add(buffers).saturating_add(cached),
        n => n,
    };
    let used = total.saturating_sub(available);
    let used_percent = if total == 0 {
        0.0
    } else {
        to_f64(used) / to_f64(total) * 100.0
    };
    json!({
        "total": total,
        "available": available,
        "used": used,
        "usedPercent": used_percent,
        "free": free,
        "active": kb("Active"),
        "inactive": kb("Inactive"),
        "wired": 0,
        "laundry": 0,
        "buffers": buffers,
        "cached": cached,
        "writeback": kb("Writeback"),
        "dirty": kb("Dirty"),
        "writebacktmp": kb("WritebackTmp"),
        "shared": kb("Shmem"),
        "slab": kb("Slab"),
        "sreclaimable": kb("SReclaimable"),
        "sunreclaim": kb("SUnreclaim"),
        "pagetables": kb("PageTables"),
        "swapcached": kb("SwapCached"),
        "commitlimit": kb("CommitLimit"),
        "committedas": kb("Committed_AS"),
        "hightotal": kb("HighTotal"),
        "highfree": kb("HighFree"),
        "lowtotal": kb("LowTotal"),
        "lowfree": kb("LowFree"),
        "swaptotal": kb("SwapTotal"),
        "swapfree": kb("SwapFree"),
        "mapped": kb("Mapped"),
        "vmalloctotal": kb("VmallocTotal"),
        "vmallocused": kb("VmallocUsed"),
        "vmallocchunk": kb("VmallocChunk"),
        "hugepagestotal": kb("HugePages_Total") / 1024,
        "hugepagesfree": kb("HugePages_Free") / 1024,
        "hugepagesize": kb("Hugepagesize"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse_into_vaults_fields() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\
                       model\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n\
                       cpu MHz\t\t: 2596.134\ncache size\t: 1024 KB\nphysical id\t: 0\n\
                       core id\t\t: 0\nflags\t\t: fpu vme\nmicrocode\t: 0x1\n\n\
                       processor\t: 1\n";
        let cpus = cpus(cpuinfo);
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0]["vendorId"], "AuthenticAMD");
        assert_eq!(cpus[0]["family"], "25");
        assert_eq!(cpus[0]["cacheSize"], 1024);
        assert_eq!(cpus[0]["mhz"], 2596.134);
        assert_eq!(cpus[0]["flags"], json!(["fpu", "vme"]));
        assert_eq!(cpus[1]["cpu"], 1);

        let stat = "cpu  1 2 3 4\ncpu0 168558 0 37893 21819 3238 0 63 632 0 0\nbtime 1796300316\n";
        let times = cpu_times(stat);
        assert_eq!(times.len(), 1, "the aggregate line is left out");
        assert_eq!(times[0]["cpu"], "cpu0");
        assert_eq!(times[0]["user"], 1685.58);
        assert_eq!(times[0]["steal"], 6.32);
        assert_eq!(host(stat)["bootTime"], 1_796_300_316);

        let meminfo = "MemTotal:  1000 kB\nMemFree:  100 kB\nMemAvailable:  600 kB\n";
        let memory = memory(meminfo);
        assert_eq!(memory["total"], 1_024_000);
        assert_eq!(memory["used"], 409_600);
        assert_eq!(memory["usedPercent"], 40.0);
        // Nothing to read: zeros, never a panic.
        assert_eq!(super::memory("")["usedPercent"], 0.0);
        assert!(cpus_or_empty());
        assert_eq!(
            uuid_shaped("3d1219c7c4c5404aaa1f6d2a48adfda4"),
            "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"
        );
    }

    fn cpus_or_empty() -> bool {
        cpus("").is_empty() && cpu_times("").is_empty()
    }
}
