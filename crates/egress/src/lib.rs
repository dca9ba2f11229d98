//! The egress policy: which addresses keyroute may connect to for a destination a user
//! supplied (a custom base URL, an Azure endpoint, a Vertex token URI). Loopback, link-local
//! (cloud metadata lives there), private, shared (CGNAT), multicast, reserved and unspecified
//! addresses are refused unless the operator allows them by CIDR or host name. Pure: the
//! vault checks a URL's host when a key is added, the router checks every address it is
//! about to connect to (so a name that resolves to a private address is refused too).

mod cidr;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use cidr::Cidr;

/// Why an address is refused: the rule that refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Unspecified,
    Loopback,
    /// 169.254.0.0/16 and fe80::/10, where cloud metadata services answer.
    LinkLocal,
    /// RFC 1918.
    Private,
    /// RFC 4193 unique local addresses (fc00::/7).
    UniqueLocal,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedAddressSpace,
    Multicast,
    /// Broadcast, 240.0.0.0/4 and the deprecated site-local fec0::/10.
    Reserved,
}

impl Rule {
    /// The rule's name, as operators and callers read it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::LinkLocal => "link-local",
            Self::Private => "private",
            Self::UniqueLocal => "unique-local",
            Self::SharedAddressSpace => "shared address space (CGNAT)",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        }
    }
}

/// A destination the policy refuses, with the address and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target} is a {} address, which the egress policy refuses (an operator may allow it with --egress-allow)", .rule.name())]
pub struct Refused {
    pub target: String,
    pub rule: Rule,
}

/// The rule that refuses `ip` by default, if any.
pub fn classify(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Rule> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if a == 0 => Rule::Unspecified,
        _ if ip.is_loopback() => Rule::Loopback,
        _ if ip.is_link_local() => Rule::LinkLocal,
        _ if ip.is_private() => Rule::Private,
        _ if a == 100 && (64..128).contains(&b) => Rule::SharedAddressSpace,
        _ if ip.is_multicast() => Rule::Multicast,
        _ if ip.is_broadcast() || a >= 240 => Rule::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Rule> {
    let first = ip.segments()[0];
    Some(match () {
        _ if ip.is_unspecified() => Rule::Unspecified,
        _ if ip.is_loopback() => Rule::Loopback,
        _ if first & 0xffc0 == 0xfe80 => Rule::LinkLocal,
        _ if first & 0xffc0 == 0xfec0 => Rule::Reserved,
        _ if first & 0xfe00 == 0xfc00 => Rule::UniqueLocal,
        _ if ip.is_multicast() => Rule::Multicast,
        _ => return None,
    })
}

/// What may be reached: everything public, plus what the operator allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    networks: Vec<Cidr>,
    /// Lowercase host names allowed whatever they resolve to.
    hosts: Vec<String>,
}

impl EgressPolicy {
    /// Only public addresses.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Public addresses and loopback: `keyroute dev`, so a local model server works.
    pub fn allowing_loopback() -> Self {
        let mut policy = Self::strict();
        policy
            .networks
            .push(Cidr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8));
        policy
            .networks
            .push(Cidr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128));
        policy
    }

    /// Allows a CIDR (`10.1.0.0/16`, `fd00::/8`), an address, or a host name.
    pub fn allow(&mut self, rule: &str) -> Result<(), String> {
        let rule = rule.trim();
        if rule.is_empty() {
            return Err("an empty egress rule".into());
        }
        if let Ok(cidr) = rule.parse::<Cidr>() {
            self.networks.push(cidr);
            return Ok(());
        }
        if rule.contains('/') || rule.contains(':') {
            return Err(format!("{rule:?} is neither a CIDR nor a host name"));
        }
        let valid = rule
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err(format!("{rule:?} is neither a CIDR nor a host name"));
        }
        self.hosts.push(rule.to_ascii_lowercase());
        Ok(())
    }

    /// Whether the operator allowed this host name outright.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Checks one address about to be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(rule) = classify(ip) else {
            return Ok(());
        };
        if self.networks.iter().any(|net| net.contains(ip)) {
            return Ok(());
        }
        Err(Refused {
            target: ip.to_string(),
            rule,
        })
    }

    /// Checks a URL's host as written, before any lookup: an address literal is checked as
    /// an address, `localhost` (and names under it) as loopback; other names pass here and
    /// are checked on the addresses they resolve to when connecting.
    pub fn check_host(&self, host: &str) -> Result<(), Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        if self.allows_host(bare) {
            return Ok(());
        }
        let lower = bare.trim_end_matches('.').to_ascii_lowercase();
        if lower == "localhost" || lower.ends_with(".localhost") {
            return self
                .check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map_err(|refused| Refused {
                    target: host.to_owned(),
                    ..refused
                });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
