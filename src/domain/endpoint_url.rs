//! Where a business wants its events: an http(s) URL without credentials,
//! and, unless private targets are allowed, never an address inside our own
//! network (the SSRF guard). Names are checked again on the address they
//! resolve to at connect time (`workers::deliveries`), since DNS can change
//! after the endpoint was created; this module holds the one classifier both
//! use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::DomainError;

/// What the service may send to (from the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Loopback, private and other internal addresses allowed (development
    /// and tests only; production refuses to start with it).
    pub allow_private: bool,
    /// Plain http refused (production).
    pub require_https: bool,
}

/// The longest URL we store.
const MAX_LEN: usize = 2048;

/// A checked endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

impl EndpointUrl {
    /// # Errors
    /// A message for the client naming what is wrong.
    pub fn parse(raw: &str, policy: TargetPolicy) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if raw.len() > MAX_LEN {
            return Err(DomainError::new(format!(
                "Ensure this URL has no more than {MAX_LEN} characters."
            )));
        }
        let url = Url::parse(raw).map_err(|_| DomainError::new("Enter a valid URL."))?;
        match url.scheme() {
            "https" => {}
            "http" if !policy.require_https => {}
            "http" => return Err(DomainError::new("The URL must use https.")),
            _ => return Err(DomainError::new("The URL must use http or https.")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DomainError::new("The URL must not contain credentials."));
        }
        let refused = match url.host() {
            None => return Err(DomainError::new("The URL must name a host.")),
            Some(Host::Ipv4(ip)) => !policy.allow_private && !is_public(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => !policy.allow_private && !is_public(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => false,
        };
        if refused {
            return Err(DomainError::new(
                "The URL points to a private, loopback or reserved address.",
            ));
        }
        Ok(Self(url))
    }

    /// A stored URL, trusted as it was checked when stored.
    ///
    /// # Errors
    /// When the stored text is not a URL at all.
    pub fn from_stored(raw: &str) -> Result<Self, DomainError> {
        Url::parse(raw)
            .map(Self)
            .map_err(|_| DomainError::new("stored endpoint URL is not a URL"))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The path the signatures cover (seed 000's "endpoint", seed 001's `uri`).
    #[must_use]
    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// `host[:port]`, for pages that must not show a URL's path or query
    /// (which may carry the receiver's own token).
    #[must_use]
    pub fn host_port(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The literal address of an IP-literal URL (those are never resolved,
    /// so the connect-time check must look at them here).
    #[must_use]
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT), multicast, broadcast, unspecified,
/// documentation, benchmarking, reserved or unique-local, including such an
/// address carried inside IPv6 (mapped, NAT64, 6to4).
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0                                   // "this network", 0.0.0.0
        || a == 10                                         // private
        || (a == 100 && (64..128).contains(&b))            // shared address space (CGNAT)
        || a == 127                                        // loopback
        || (a == 169 && b == 254)                          // link-local
        || (a == 172 && (16..32).contains(&b))             // private
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)                // 6to4 relay anycast
        || (a == 192 && b == 168)                          // private
        || (a == 198 && (b == 18 || b == 19))              // benchmarking
        || (a == 198 && b == 51 && c == 100)               // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)                // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4); // ::ffff:a.b.c.d
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7])); // NAT64 64:ff9b::/96
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2])); // 6to4 2002::/16
    }
    let blocked = ip.is_unspecified()                      // ::
        || ip.is_loopback()                                // ::1
        || s[..6] == [0, 0, 0, 0, 0, 0]                    // IPv4-compatible ::/96 (deprecated)
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])        // discard 100::/64
        || (s[0] == 0x2001 && s[1] < 0x0200)               // IETF assignments 2001::/23 (Teredo …)
        || (s[0] == 0x2001 && s[1] == 0x0db8)              // documentation
        || (s[0] & 0xfe00) == 0xfc00                       // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                       // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                       // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00; // multicast ff00::/8
    !blocked
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARDED: TargetPolicy = TargetPolicy {
        allow_private: false,
        require_https: false,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_internal_range_is_refused() {
        for blocked in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!is_public(ip(blocked)), "{blocked} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860::8888",
        ] {
            assert!(is_public(ip(public)), "{public} must pass");
        }
    }

    #[test]
    fn urls_must_be_http_without_credentials_or_internal_literals() {
        assert!(EndpointUrl::parse("https://hooks.example.com/in", GUARDED).is_ok());
        for (raw, why) in [
            ("ftp://example.com/", "http or https"),
            ("file:///etc/passwd", "http or https"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://user@example.com/", "credentials"),
            ("http://127.0.0.1:8080/", "private"),
            ("http://[::1]/", "private"),
            ("http://[::ffff:127.0.0.1]/", "private"),
            ("http://169.254.169.254/latest/meta-data", "private"),
            ("http://2130706433/", "private"), // 127.0.0.1 written as a number
            ("not a url", "valid URL"),
        ] {
            let err = EndpointUrl::parse(raw, GUARDED).unwrap_err().0;
            assert!(err.contains(why), "{raw}: {err}");
        }
        let open = TargetPolicy {
            allow_private: true,
            require_https: false,
        };
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/", open).is_ok());
        let strict = TargetPolicy {
            allow_private: false,
            require_https: true,
        };
        assert!(EndpointUrl::parse("http://example.com/", strict)
            .unwrap_err()
            .0
            .contains("https"));
    }

    #[test]
    fn the_signed_path_and_literal_address_are_read_from_the_url() {
        let open = TargetPolicy {
            allow_private: true,
            require_https: false,
        };
        let url = EndpointUrl::parse("http://127.0.0.1:9/hooks/in?x=1", open).unwrap();
        assert_eq!(url.path(), "/hooks/in");
        assert_eq!(url.literal_ip(), Some(ip("127.0.0.1")));
        let named = EndpointUrl::parse("https://example.com", open).unwrap();
        assert_eq!((named.path(), named.literal_ip()), ("/", None));
    }
}
