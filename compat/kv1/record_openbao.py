#!/usr/bin/env python3
"""Record reference KV v1 HTTP responses from a real OpenBao dev server.

Starts `bao server -dev` on a free loopback port with a random root token,
mounts a KV version 1 engine at `kv1/` (recorded as step 0), runs a fixed
sequence of KV v1 calls against it, and writes every request/response pair to
`compat/kv1/fixtures/openbao-<version>.json` (next to this script).

Usage (from the repository root):

    python3 compat/kv1/record_openbao.py

Only the Python standard library is used. `bao` must be on PATH (or set the
BAO environment variable to the binary to use). The HTTP client, free-port,
bounded-wait and step-recording helpers are shared with
`compat/kv2/record_openbao.py`, which is loaded by path.
"""

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_kv2_helpers():
    path = os.path.join(os.path.dirname(HERE), "kv2", "record_openbao.py")
    spec = importlib.util.spec_from_file_location("strongroom_compat_kv2_recorder", path)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no compat/kv2/__pycache__
    try:
        spec.loader.exec_module(module)  # defines helpers only; main() is guarded
    finally:
        sys.dont_write_bytecode = saved
    return module


_kv2 = _load_kv2_helpers()
Client = _kv2.Client
free_port = _kv2.free_port
wait_until = _kv2.wait_until
record = _kv2.record

OPENBAO_VERSION = _kv2.OPENBAO_VERSION  # same binary for both recordings
FIXTURE = os.path.join(HERE, "fixtures", f"openbao-{OPENBAO_VERSION}.json")

MOUNT = ("mount", "POST", "sys/mounts/kv1", {}, {"type": "kv", "options": {"version": "1"}})

# (name, method, path under /v1/, query, body)
SEQUENCE = [
    ("write", "POST", "kv1/app", {}, {"user": "u1", "pass": "p1"}),
    ("read", "GET", "kv1/app", {}, None),
    ("write-ttl", "POST", "kv1/cached", {}, {"value": "x", "ttl": "1h"}),
    ("read-ttl", "GET", "kv1/cached", {}, None),
    ("write-ttl-seconds", "POST", "kv1/cached2", {}, {"value": "y", "ttl": 90}),
    ("read-ttl-seconds", "GET", "kv1/cached2", {}, None),
    ("write-nested", "POST", "kv1/dir/one", {}, {"a": {"b": 1}}),
    ("list-root", "LIST", "kv1/", {}, None),
    ("list-dir", "LIST", "kv1/dir", {}, None),
    ("list-missing", "LIST", "kv1/nothing", {}, None),
    ("read-missing", "GET", "kv1/missing", {}, None),
    ("overwrite", "POST", "kv1/app", {}, {"only": "this"}),
    ("read-overwritten", "GET", "kv1/app", {}, None),
    ("delete", "DELETE", "kv1/app", {}, None),
    ("read-deleted", "GET", "kv1/app", {}, None),
    ("delete-missing", "DELETE", "kv1/never", {}, None),
    ("write-empty", "POST", "kv1/empty", {}, {}),
    ("write-bad-ttl", "POST", "kv1/badttl", {}, {"value": "z", "ttl": "soon"}),
    # Client sends PATCH bodies as application/merge-patch+json.
    ("patch", "PATCH", "kv1/dir/one", {}, {"a": 2}),
    ("read-folder-path", "GET", "kv1/dir/", {}, None),
]


def kv1_mounted(client):
    status, body = client.call("GET", "sys/mounts")
    if status != 200 or not body:
        raise RuntimeError(f"GET /v1/sys/mounts returned {status}: {body}")
    mounts = body.get("data", body)
    m = mounts.get("kv1/")
    return bool(m) and m.get("type") == "kv" and (m.get("options") or {}).get("version") == "1"


def stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def main():
    bao = os.environ.get("BAO", "bao")
    token = "root-" + secrets.token_hex(12)
    port = free_port()
    client = Client(f"http://127.0.0.1:{port}", token)

    proc = subprocess.Popen(
        [bao, "server", "-dev",
         f"-dev-root-token-id={token}",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # own process group, so cleanup reaches any child
    )
    steps = []
    try:
        wait_until(lambda: client.call("GET", "sys/health", token=False)[0] == 200,
                   "GET /v1/sys/health == 200", proc)

        if kv1_mounted(client):
            raise RuntimeError("kv1/ is already mounted on a fresh dev server; refusing to record")
        steps.append(record(client, 0, *MOUNT))
        if steps[0]["status"] // 100 != 2 or not kv1_mounted(client):
            raise RuntimeError(f"failed to mount KV v1 at kv1/: {steps[0]}")

        for i, (name, method, path, query, body) in enumerate(SEQUENCE, start=1):
            steps.append(record(client, i, name, method, path, query, body))
    finally:
        stop(proc)

    if [s["step"] for s in steps] != list(range(len(SEQUENCE) + 1)):
        raise RuntimeError("incomplete recording; fixture not written")

    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    with open(FIXTURE, "w", encoding="utf-8") as f:
        json.dump(steps, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(steps)} steps to {FIXTURE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
