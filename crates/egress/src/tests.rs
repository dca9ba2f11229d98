use std::net::IpAddr;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|_| panic!("{text}"))
}

#[test]
fn internal_addresses_are_refused_by_the_rule_that_covers_them() {
    let strict = EgressPolicy::strict();
    for (address, rule) in [
        ("127.0.0.1", Rule::Loopback),
        ("127.8.9.10", Rule::Loopback),
        ("::1", Rule::Loopback),
        ("::ffff:127.0.0.1", Rule::Loopback),
        ("169.254.169.254", Rule::LinkLocal),
        ("fe80::1", Rule::LinkLocal),
        ("fd00:ec2::254", Rule::UniqueLocal),
        ("10.0.0.7", Rule::Private),
        ("172.16.0.1", Rule::Private),
        ("172.31.255.255", Rule::Private),
        ("192.168.1.1", Rule::Private),
        ("100.64.0.1", Rule::SharedAddressSpace),
        ("100.127.255.255", Rule::SharedAddressSpace),
        ("224.0.0.1", Rule::Multicast),
        ("ff02::1", Rule::Multicast),
        ("0.0.0.0", Rule::Unspecified),
        ("::", Rule::Unspecified),
        ("255.255.255.255", Rule::Reserved),
        ("240.0.0.1", Rule::Reserved),
    ] {
        let refused = strict.check_ip(ip(address)).unwrap_err();
        assert_eq!(refused.rule, rule, "{address}");
        assert!(refused.to_string().contains(rule.name()), "{refused}");
    }
    for public in [
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
        "1.1.1.1",
    ] {
        assert_eq!(strict.check_ip(ip(public)), Ok(()), "{public}");
    }
}

#[test]
fn operators_allow_networks_and_hosts() {
    let mut policy = EgressPolicy::strict();
    policy.allow("10.1.0.0/16").unwrap();
    policy.allow("fd00::/8").unwrap();
    policy.allow("ollama.internal").unwrap();
    assert!(policy.check_ip(ip("10.1.200.3")).is_ok());
    assert!(policy.check_ip(ip("10.2.0.1")).is_err());
    assert!(policy.check_ip(ip("fd00:ec2::254")).is_ok());
    assert!(policy.allows_host("Ollama.Internal."));
    assert!(policy.check_host("ollama.internal").is_ok());
    for bad in ["", "10.0.0.0/33", "::/200", "http://x", "a b"] {
        assert!(policy.allow(bad).is_err(), "{bad:?}");
    }
    let dev = EgressPolicy::allowing_loopback();
    assert!(dev.check_ip(ip("127.0.0.1")).is_ok());
    assert!(dev.check_ip(ip("::1")).is_ok());
    assert!(dev.check_ip(ip("169.254.169.254")).is_err());
}

#[test]
fn hosts_as_written_are_checked_before_any_lookup() {
    let strict = EgressPolicy::strict();
    assert_eq!(strict.check_host("[::1]").unwrap_err().rule, Rule::Loopback);
    assert_eq!(
        strict.check_host("localhost").unwrap_err().rule,
        Rule::Loopback
    );
    assert_eq!(
        strict.check_host("api.localhost.").unwrap_err().rule,
        Rule::Loopback
    );
    assert_eq!(
        strict.check_host("169.254.169.254").unwrap_err().rule,
        Rule::LinkLocal
    );
    assert!(
        strict.check_host("api.example.com").is_ok(),
        "names wait for their addresses"
    );
}
