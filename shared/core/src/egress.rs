//! The egress guard's policy: which addresses an outbound call a tenant can aim (Slack and
//! webhook channels, workflow `http_request`) may reach. Loopback, private, link-local (cloud
//! metadata among them), CGNAT, unspecified, multicast and reserved ranges are refused, in every
//! spelling (IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms are unwrapped), unless the
//! operator's allow list (`VIGIL_EGRESS_ALLOW`) names them.
//!
//! Pure: URLs with a literal address (or `localhost`) are checked here when a channel or a
//! workflow is saved; names are resolved and checked at send time by the HTTP adapter, which
//! then connects to exactly the addresses this policy let through.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address or URL may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The address lies in a refused range.
    #[error("{address} is a {range} address")]
    Address {
        address: IpAddr,
        range: &'static str,
    },
    /// `localhost` and `*.localhost` name the machine itself.
    #[error("{0} names this machine (loopback)")]
    Localhost(String),
    /// A name resolved only to refused addresses.
    #[error("{name} resolves only to refused addresses ({first})")]
    Resolved { name: String, first: Box<Denied> },
}

/// An allow list entry that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither a CIDR (10.0.0.0/8, ::1/128), an address nor a host name")]
pub struct BadAllowEntry(pub String);

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Cidr {
            network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Cidr {
            network: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = BadAllowEntry;

    /// `10.0.0.0/8`, `::1/128`, or a single address (a /32 or /128).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadAllowEntry(text.to_owned());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Every refused range with its name; checked in order, after IPv6 forms that carry an IPv4
/// address were unwrapped.
const REFUSED: &[(Cidr, &str)] = &[
    (Cidr::v4(0, 0, 0, 0, 8), "unspecified (this network)"),
    (Cidr::v4(10, 0, 0, 0, 8), "private (RFC 1918)"),
    (Cidr::v4(100, 64, 0, 0, 10), "shared (CGNAT)"),
    (Cidr::v4(127, 0, 0, 0, 8), "loopback"),
    (Cidr::v4(169, 254, 0, 0, 16), "link-local"),
    (Cidr::v4(172, 16, 0, 0, 12), "private (RFC 1918)"),
    (Cidr::v4(192, 0, 0, 0, 24), "IETF protocol assignment"),
    (Cidr::v4(192, 168, 0, 0, 16), "private (RFC 1918)"),
    (Cidr::v4(198, 18, 0, 0, 15), "benchmarking"),
    (Cidr::v4(224, 0, 0, 0, 4), "multicast"),
    (Cidr::v4(240, 0, 0, 0, 4), "reserved (broadcast)"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, not `::` or `::1`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// The refused range `ip` lies in, if any (IPv6 forms of IPv4 addresses unwrapped).
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    let unwrapped = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let candidates = [Some(ip), unwrapped];
    candidates.into_iter().flatten().find_map(|candidate| {
        REFUSED
            .iter()
            .find(|(cidr, _)| cidr.contains(candidate))
            .map(|(_, name)| *name)
    })
}

/// Whether `host` (a name, any case, maybe with a trailing dot) is `localhost` or under it.
pub fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The operator's exceptions: networks and host names outbound calls may reach anyway.
/// Empty by default: nothing private is reachable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    networks: Vec<Cidr>,
    hosts: Vec<String>,
}

impl EgressPolicy {
    /// `VIGIL_EGRESS_ALLOW`: comma-separated CIDRs, addresses and host names; blank is empty.
    pub fn parse(text: &str) -> Result<Self, BadAllowEntry> {
        let mut policy = EgressPolicy::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Ok(cidr) = entry.parse::<Cidr>() {
                policy.networks.push(cidr);
            } else if is_host_name(entry) {
                policy
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(BadAllowEntry(entry.to_owned()));
            }
        }
        Ok(policy)
    }

    /// Whether every address of `host` (a name) is allowed, because the list names it.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// An address may be reached: it is in an allowed network (itself or the IPv4 address it
    /// carries), or in no refused range.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Denied> {
        let unwrapped = match ip {
            IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = [Some(ip), unwrapped]
            .into_iter()
            .flatten()
            .any(|candidate| self.networks.iter().any(|n| n.contains(candidate)));
        match refused_range(ip) {
            Some(range) if !allowed => Err(Denied::Address { address: ip, range }),
            _ => Ok(()),
        }
    }

    /// The check a URL's literal host gets when it is saved: an address is checked now,
    /// `localhost` and `*.localhost` are loopback; any other name waits for the send (it is
    /// resolved then). URLs that do not parse are left to the caller's own checks.
    pub fn check_url(&self, url: &str) -> Result<(), Denied> {
        let Ok(parsed) = url::Url::parse(url) else {
            return Ok(());
        };
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => self.check_name(name),
            None => Ok(()),
        }
    }

    /// A host name before it is resolved: only `localhost` is known to be loopback.
    pub fn check_name(&self, name: &str) -> Result<(), Denied> {
        if !is_localhost(name) || self.allows_host(name) {
            return Ok(());
        }
        let loopback = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        if loopback.into_iter().any(|ip| self.check_ip(ip).is_ok()) {
            return Ok(());
        }
        Err(Denied::Localhost(name.to_owned()))
    }

    /// What a name resolved to, cut to the addresses that may be reached; a [`Denied`] naming
    /// the first refusal when none may.
    pub fn filter_resolved(
        &self,
        name: &str,
        addresses: Vec<IpAddr>,
    ) -> Result<Vec<IpAddr>, Denied> {
        if self.allows_host(name) {
            return Ok(addresses);
        }
        let mut first_refusal = None;
        let allowed: Vec<IpAddr> = addresses
            .into_iter()
            .filter(|ip| match self.check_ip(*ip) {
                Ok(()) => true,
                Err(denied) => {
                    first_refusal.get_or_insert(denied);
                    false
                }
            })
            .collect();
        match first_refusal {
            Some(first) if allowed.is_empty() => Err(Denied::Resolved {
                name: name.to_owned(),
                first: Box::new(first),
            }),
            _ => Ok(allowed),
        }
    }
}

fn is_host_name(text: &str) -> bool {
    let name = text.trim_end_matches('.');
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or_else(|_| panic!("{text} is an address"))
    }

    #[test]
    fn every_refused_range_is_refused_at_its_edges() {
        let table = [
            ("0.0.0.0", "unspecified (this network)"),
            ("0.255.255.255", "unspecified (this network)"),
            ("10.0.0.0", "private (RFC 1918)"),
            ("10.255.255.255", "private (RFC 1918)"),
            ("100.64.0.0", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.255", "loopback"),
            ("169.254.0.0", "link-local"),
            ("169.254.169.254", "link-local"),
            ("169.254.170.2", "link-local"),
            ("169.254.255.255", "link-local"),
            ("172.16.0.0", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.0.0", "private (RFC 1918)"),
            ("192.168.255.255", "private (RFC 1918)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("255.255.255.255", "reserved (broadcast)"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::", "unique-local"),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local"),
            ("fe80::", "link-local"),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"),
            ("ff02::1", "multicast"),
            // IPv6 forms of refused IPv4 addresses.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:7f00:1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private (RFC 1918)"),
            ("::127.0.0.1", "loopback"),
            ("::a9fe:a9fe", "link-local"),
            ("64:ff9b::169.254.169.254", "link-local"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "link-local"),
        ];
        for (address, range) in table {
            assert_eq!(refused_range(ip(address)), Some(range), "{address}");
            assert!(
                EgressPolicy::default().check_ip(ip(address)).is_err(),
                "{address}"
            );
        }
    }

    #[test]
    fn public_addresses_next_to_the_ranges_pass() {
        for address in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe00::",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::",
        ] {
            assert_eq!(refused_range(ip(address)), None, "{address}");
            assert!(EgressPolicy::default().check_ip(ip(address)).is_ok());
        }
    }

    #[test]
    fn the_allow_list_opens_networks_and_names_and_nothing_else() {
        let policy = EgressPolicy::parse(" 127.0.0.0/8, ::1/128 ,10.1.2.3, hooks.internal. ")
            .unwrap_or_default();
        assert!(policy.check_ip(ip("127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("::1")).is_ok());
        assert!(policy.check_ip(ip("10.1.2.3")).is_ok());
        assert!(policy.check_ip(ip("10.1.2.4")).is_err());
        assert!(policy.check_ip(ip("169.254.169.254")).is_err());
        assert!(policy.allows_host("Hooks.Internal"));
        assert!(!policy.allows_host("other.internal"));
        assert_eq!(EgressPolicy::parse(""), Ok(EgressPolicy::default()));
        for bad in [
            "10.0.0.0/33",
            "::1/129",
            "not a host",
            "10.0.0.0/x",
            "-bad-.com",
        ] {
            assert!(EgressPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_hosts_are_checked_in_every_spelling() {
        let policy = EgressPolicy::default();
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://127.0.0.1./",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.170.2/v2/credentials",
            "http://10.0.0.1/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://0/",
            "http://224.0.0.1/",
            "http://[::]/",
            "http://[fc00::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "https://user:pw@127.0.0.1/",
        ] {
            assert!(policy.check_url(url).is_err(), "{url}");
        }
        for url in [
            "https://hooks.slack.com/services/T/B/X",
            "https://8.8.8.8/",
            "http://[2606:4700::1111]/",
            "https://localhost.example.com/",
            "not a url",
        ] {
            assert!(policy.check_url(url).is_ok(), "{url}");
        }
        let loopback = EgressPolicy::parse("127.0.0.0/8").unwrap_or_default();
        assert!(loopback.check_url("http://localhost:9/").is_ok());
        assert!(loopback.check_url("http://0177.0.0.1/").is_ok());
        assert!(loopback.check_url("http://169.254.169.254/").is_err());
        let named = EgressPolicy::parse("localhost").unwrap_or_default();
        assert!(named.check_url("http://localhost./").is_ok());
        assert!(named.check_url("http://127.0.0.1/").is_err());
    }

    #[test]
    fn resolved_addresses_are_cut_to_the_allowed_ones() {
        let policy = EgressPolicy::default();
        assert_eq!(
            policy.filter_resolved("mixed.example", vec![ip("127.0.0.1"), ip("8.8.8.8")]),
            Ok(vec![ip("8.8.8.8")])
        );
        let denied = policy.filter_resolved("evil.example", vec![ip("127.0.0.1"), ip("::1")]);
        assert!(
            matches!(&denied, Err(Denied::Resolved { name, .. }) if name == "evil.example"),
            "{denied:?}"
        );
        let named = EgressPolicy::parse("sink.internal").unwrap_or_default();
        assert_eq!(
            named.filter_resolved("sink.internal", vec![ip("10.0.0.5")]),
            Ok(vec![ip("10.0.0.5")])
        );
    }
}
