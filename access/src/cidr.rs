//! Source address ranges (CIDR), IPv4 and IPv6: who may connect to a session.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// An address range, `a.b.c.d/n` or `x::y/n`; a bare address is a single host.
///
/// ```
/// use arbiter_access::Cidr;
/// let lan: Cidr = "10.1.0.0/16".parse().unwrap();
/// assert!(lan.contains("10.1.200.3".parse().unwrap()));
/// assert!(!lan.contains("10.2.0.1".parse().unwrap()));
/// assert!("::1".parse::<Cidr>().unwrap().contains("::1".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network, IPv4 as IPv4-mapped IPv6 so one comparison serves both.
    network: u128,
    /// Leading bits that must match, in the 128-bit space.
    prefix_bits: u32,
}

/// Canonical 128-bit form: IPv4 (and IPv4-mapped IPv6) as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
}

fn mask(prefix_bits: u32) -> u128 {
    debug_assert!(prefix_bits <= 128);
    if prefix_bits == 0 {
        0
    } else {
        u128::MAX << (128 - prefix_bits)
    }
}

impl Cidr {
    /// Whether `ip` is inside the range.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        (canonical(ip) ^ self.network) & mask(self.prefix_bits) == 0
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address or CIDR range"))?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = match prefix {
            None => width,
            Some(p) => p
                .parse()
                .ok()
                .filter(|&p| p <= width)
                .ok_or_else(|| format!("{text:?}: prefix length must be 0..={width}"))?,
        };
        let prefix_bits = if ip.is_ipv4() { 96 + prefix } else { prefix };
        let network = canonical(ip) & mask(prefix_bits);
        if network != canonical(ip) {
            return Err(format!(
                "{text:?}: host bits are set (did you mean {}/{prefix}?)",
                display_network(network, ip.is_ipv4())
            ));
        }
        Ok(Cidr {
            network,
            prefix_bits,
        })
    }
}

fn display_network(network: u128, v4: bool) -> String {
    let v6 = Ipv6Addr::from(network);
    match (v4, v6.to_ipv4_mapped()) {
        (true, Some(v4)) => v4.to_string(),
        _ => v6.to_string(),
    }
}

impl core::fmt::Display for Cidr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v6 = Ipv6Addr::from(self.network);
        match v6.to_ipv4_mapped() {
            Some(v4) if self.prefix_bits >= 96 => write!(f, "{v4}/{}", self.prefix_bits - 96),
            _ => write!(f, "{v6}/{}", self.prefix_bits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidr_matches_v4_v6_and_mapped() {
        let one: Cidr = "127.0.0.1/32".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        let loopback: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(loopback.contains(ip("127.9.9.9")));
        assert!(!loopback.contains(ip("128.0.0.1")));
        let any4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any4.contains(ip("8.8.8.8")));
        assert!(!any4.contains(ip("2001:db8::1")));
        let net6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(net6.contains(ip("2001:db8:ffff::1")));
        assert!(!net6.contains(ip("2001:db9::1")));
        assert!(!net6.contains(ip("127.0.0.1")));
        let any: Cidr = "::/0".parse().unwrap();
        assert!(any.contains(ip("2001:db9::1")));
        assert_eq!(loopback.to_string(), "127.0.0.0/8");
        assert_eq!(net6.to_string(), "2001:db8::/32");
    }

    #[test]
    fn cidr_refuses_nonsense_with_a_reason() {
        assert!("10.0.0.1/8"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("10.0.0.0/8"));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("host.example".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }
}
