//! The shape of an outbound URL a tenant saves (a Slack or webhook channel's, a workflow
//! `http_request`'s): `http(s)://`, a host, an optional port, then printable characters. The
//! API document states it as [`TARGET_URL_PATTERN`]; [`check_target_url`] checks the same, so
//! a URL the document accepts is one Vigil accepts. Where it may reach is the egress guard's
//! question (`crate::egress`), asked after this one.

use std::net::Ipv6Addr;

/// [`check_target_url`] as a JSON Schema pattern: a host is a name of RFC 3986 `reg-name`
/// characters or an address in brackets.
pub const TARGET_URL_PATTERN: &str = "^https?://(?:[A-Za-z0-9._~%!$&'()*+,;=-]+|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?(?:[/?#][^\\s\\u0000-\\u001f\\u007f-\\u009f]*)?$";

/// What is wrong with a target URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetUrlProblem {
    /// Breaks [`TARGET_URL_PATTERN`].
    #[error(
        "must be an http(s) URL: a host name or a bracketed address, an optional port, then printable characters"
    )]
    Shape,
    /// A template (`{{…}}`) where it would choose the host or port (also a [`Self::Shape`]).
    #[error("templates may only be used in the path and query, not in the scheme, host or port")]
    TemplatedTarget,
    /// Fits the pattern, but the bracketed host is not an IPv6 address.
    #[error("the host in brackets is not an IPv6 address")]
    NotAnAddress,
}

/// Checks `url` against [`TARGET_URL_PATTERN`], then a bracketed host as an IPv6 address.
pub fn check_target_url(url: &str) -> Result<(), TargetUrlProblem> {
    use TargetUrlProblem::{NotAnAddress, Shape, TemplatedTarget};
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(Shape)?;
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if authority.contains("{{") {
        return Err(TemplatedTarget);
    }
    if tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Shape);
    }
    let (address, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (address, port) = bracketed.split_once(']').ok_or(Shape)?;
            let well_formed = !address.is_empty()
                && address
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            if !well_formed {
                return Err(Shape);
            }
            (Some(address), port)
        }
        None => {
            let (name, port) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
            if name.is_empty() || !name.chars().all(is_name_char) {
                return Err(Shape);
            }
            (None, port)
        }
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':').ok_or(Shape)?;
        if !(1..=5).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(Shape);
        }
    }
    match address {
        Some(address) if address.parse::<Ipv6Addr>().is_err() => Err(NotAnAddress),
        _ => Ok(()),
    }
}

/// RFC 3986 `reg-name`: unreserved, percent-encoded and sub-delimiter characters.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._~%!$&'()*+,;=-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_host_and_printable_rest_are_targets() {
        for url in [
            "https://hooks.example.com/services/T0/B0/x",
            "http://127.0.0.1:9/hook",
            "https://[2001:db8::1]:8443/in?x=1#y",
            "https://[::ffff:7f00:1]/",
            "https://api.example.com/clients/{{client.id}}?stage={{trigger.to}}",
            "https://example.com",
        ] {
            assert_eq!(check_target_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn everything_else_is_named() {
        use TargetUrlProblem::*;
        for (url, problem) in [
            ("ftp://example.com/", Shape),
            ("https://", Shape),
            ("https:///path", Shape),
            ("https://exa mple.com/", Shape),
            ("https://example.com/a b", Shape),
            ("https://example.com:/", Shape),
            ("https://example.com:123456/", Shape),
            ("https://user@example.com/", Shape),
            ("https://[/", Shape),
            ("https://[::1/", Shape),
            ("https://a{b}/", Shape),
            ("https://{{trigger.data.host}}/x", TemplatedTarget),
            ("https://example.com:{{port}}/", TemplatedTarget),
            ("https://[:]/", NotAnAddress),
            ("https://[1.2]/", NotAnAddress),
        ] {
            assert_eq!(check_target_url(url), Err(problem), "{url}");
        }
    }
}
