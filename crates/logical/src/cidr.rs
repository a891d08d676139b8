//! CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, or a bare address) and membership, for the
//! `*_bound_cidrs` settings of auth methods and tokens.

use std::net::IpAddr;

use crate::{LogicalError, Result};

/// One block of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (a block of one).
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] naming the bad block.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || LogicalError::invalid(format!("invalid CIDR block {text:?}"));
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        // An IPv4-mapped block (`::ffff:10.0.0.0/104`) is the IPv4 block it maps.
        if let IpAddr::V6(v6) = network
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Ok(Self {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { network, prefix })
    }

    /// Parses each block.
    ///
    /// # Errors
    ///
    /// The first bad block.
    pub fn parse_all<S: AsRef<str>>(blocks: &[S]) -> Result<Vec<Self>> {
        blocks.iter().map(|b| Self::parse(b.as_ref())).collect()
    }

    /// Whether `addr` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                prefix_eq(u128::from(net), u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl Cidr {
    /// Whether every address of `self` is in `outer` (a narrowing of it, or the same block).
    pub fn within(&self, outer: &Cidr) -> bool {
        self.prefix >= outer.prefix && self.network.is_ipv4() == outer.network.is_ipv4() && {
            outer.contains(self.network)
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Whether the top `prefix` of `bits` bits of `a` and `b` agree.
fn prefix_eq(a: u128, b: u128, bits: u32, prefix: u8) -> bool {
    let shift = bits - u32::from(prefix);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// Whether every block of `inner` lies within some block of `outer` (an empty `outer` bounds
/// nothing).
pub fn all_within(inner: &[Cidr], outer: &[Cidr]) -> bool {
    outer.is_empty() || inner.iter().all(|i| outer.iter().any(|o| i.within(o)))
}

/// Whether `addr` is in any of `blocks`; an empty list binds nothing (always true), and a
/// missing address (an embedded call) is never inside a non-empty list.
pub fn allowed(blocks: &[Cidr], addr: Option<IpAddr>) -> bool {
    blocks.is_empty() || addr.is_some_and(|a| blocks.iter().any(|b| b.contains(a)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn membership() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.255.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.1.2.3".parse().unwrap()),
            "v4-mapped"
        );
        assert!(!net.contains("2001:db8::1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "x",
            "::/129",
            "1.2.3.4/-1",
            "1.2.3.4/",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains("10.9.9.9".parse().unwrap()));
        assert!(
            Cidr::parse("10.1.0.0/16")
                .unwrap()
                .within(&Cidr::parse("10.0.0.0/8").unwrap())
        );
        assert!(
            !Cidr::parse("0.0.0.0/0")
                .unwrap()
                .within(&Cidr::parse("10.0.0.0/8").unwrap())
        );
        assert!(
            !Cidr::parse("11.0.0.0/16")
                .unwrap()
                .within(&Cidr::parse("10.0.0.0/8").unwrap())
        );
        assert!(!v6.within(&Cidr::parse("0.0.0.0/0").unwrap()));
        assert!(allowed(&[], None));
        assert!(!allowed(&[net], None));
        assert!(allowed(&[one, net], Some("10.1.0.9".parse().unwrap())));
    }
}
