//! URLs: where one starting with a scheme ends in running text, and its normalized form.
//! The host must be a domain or an IP literal; the path is kept as written.

use super::ip::{ipv4_reserved, ipv6_reserved, parse_ipv4, parse_ipv6};
use super::name::{Context, domain, push_display};

/// Schemes recognized after refanging (`hxxp` → `http`, `fxp` → `ftp`), longest first.
const SCHEMES: [&str; 3] = ["https://", "http://", "ftp://"];

/// A URL found in the text.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Found {
    /// The byte offset in the text just past the URL.
    pub(super) end: usize,
    /// Whether the host is a reserved IP address.
    pub(super) private: bool,
}

/// Whether a URL may start at byte `at` of `text`: an ASCII `h` or `f`. A cheap pre-check.
pub(super) fn may_start(byte: u8) -> bool {
    matches!(byte, b'h' | b'H' | b'f' | b'F')
}

/// Reads the URL whose scheme starts at byte `start` of `text` and writes its normalized form
/// (scheme and host lowercased, IP hosts canonical, the rest as written) to `out`.
///
/// The URL runs to whitespace, a control character, a quote, `<` or `>`; then trailing `.,;:!?*`
/// and closing `)`, `]`, `}` without a partner inside the URL are dropped. When the host (and
/// port) is not followed by `/`, `?` or `#`, the URL ends there (`http://a.com,b.com`).
/// `None` when there is no scheme at `start` or the host is neither a domain nor an IP address.
/// The host is checked before the path is read, so a failed attempt costs only the authority.
pub(super) fn url_at(text: &str, start: usize, out: &mut String) -> Option<Found> {
    let rest = text.get(start..)?;
    let scheme = SCHEMES.iter().find(|scheme| {
        rest.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    })?;
    let tail = &rest[scheme.len()..];
    let authority_end = tail
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#') || !b.is_ascii() || stops_url(char::from(b)))
        .unwrap_or(tail.len());
    let host_start = tail[..authority_end].rfind('@').map_or(0, |at| at + 1);
    out.clear();
    out.push_str(scheme);
    out.push_str(&tail[..host_start]);
    let (host_len, private) = host(&tail[host_start..authority_end], out)?;
    let mut end = host_start + host_len;
    let port_digits = tail[end..]
        .strip_prefix(':')
        .map_or(0, |p| p.bytes().take_while(u8::is_ascii_digit).count());
    if (1..=5).contains(&port_digits) {
        out.push_str(&tail[end..end + 1 + port_digits]);
        end += 1 + port_digits;
    }
    if matches!(tail.as_bytes().get(end), Some(b'/' | b'?' | b'#')) {
        let path_len = tail[end..].find(stops_url).unwrap_or(tail.len() - end);
        let path = trim_trailing(&tail[end..end + path_len]);
        out.push_str(path);
        end += path.len();
    }
    Some(Found {
        end: start + scheme.len() + end,
        private,
    })
}

/// Whether `c` ends a URL in running text.
fn stops_url(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// `path` without trailing punctuation, nor trailing closing brackets that have no opening
/// partner inside it (`(see http://a.com/x)` keeps `/x`, `http://a.com/f(1)` keeps `(1)`).
fn trim_trailing(path: &str) -> &str {
    let count = |c: u8| path.bytes().filter(|&b| b == c).count();
    let open = [count(b'('), count(b'['), count(b'{')];
    let mut close = [count(b')'), count(b']'), count(b'}')];
    let mut end = path.len();
    while let Some(&last) = path.as_bytes()[..end].last() {
        let pair = match last {
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b'*' => None,
            b')' => Some(0),
            b']' => Some(1),
            b'}' => Some(2),
            _ => break,
        };
        if let Some(pair) = pair {
            if close[pair] <= open[pair] {
                break;
            }
            close[pair] -= 1;
        }
        end -= 1;
    }
    // Only ASCII bytes were dropped, so `end` is a char boundary.
    &path[..end]
}

/// Appends the normalized host at the start of `authority` to `out`: a bracketed IPv6 literal,
/// a dotted-quad IPv4 address, or a domain (a trailing root dot is dropped). Returns where the
/// host ends in `authority` and whether it is a reserved address.
fn host(authority: &str, out: &mut String) -> Option<(usize, bool)> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let close = bracketed.find(']')?;
        // A zone in a URL is percent-encoded (`%25eth0`); `parse_ipv6` drops it either way.
        let v6 = parse_ipv6(&bracketed[..close])?;
        push_display(out, &format_args!("[{v6}]"));
        return Some((close + 2, ipv6_reserved(v6)));
    }
    let len = authority
        .bytes()
        .take_while(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        .count();
    let name = authority[..len].trim_end_matches('.');
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let v4 = parse_ipv4(name)?;
        push_display(out, &v4);
        return Some((len, ipv4_reserved(v4)));
    }
    domain(name, Context::Embedded, out).then_some((len, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalized URL at the start of `text` and the rest of the text after it.
    fn url(text: &str) -> Option<(String, &str, bool)> {
        let mut out = String::new();
        url_at(text, 0, &mut out).map(|found| (out, &text[found.end..], found.private))
    }

    fn value(text: &str) -> Option<String> {
        url(text).map(|(value, _, _)| value)
    }

    #[test]
    fn a_url_keeps_its_path_query_and_fragment_and_lowercases_scheme_and_host() {
        assert_eq!(
            url("HTTPS://Evil.COM:8443/Path/A.php?q=Rx&b=1#Frag rest"),
            Some(("https://evil.com:8443/Path/A.php?q=Rx&b=1#Frag".into(), " rest", false))
        );
        assert_eq!(
            value("ftp://files.example.org/a.zip").as_deref(),
            Some("ftp://files.example.org/a.zip")
        );
    }

    #[test]
    fn a_url_stops_at_whitespace_quotes_and_angle_brackets() {
        for (text, rest) in [
            ("http://a.com/x y", " y"),
            ("http://a.com/x\"y", "\"y"),
            ("http://a.com/x'y", "'y"),
            ("http://a.com/x>y", ">y"),
            ("http://a.com/x<y", "<y"),
            ("http://a.com/x\u{a0}y", "\u{a0}y"),
        ] {
            assert_eq!(url(text).map(|(_, rest, _)| rest), Some(rest), "{text}");
        }
    }

    #[test]
    fn trailing_punctuation_and_unbalanced_closing_brackets_are_not_part_of_a_url() {
        assert_eq!(value("http://a.com/x.").as_deref(), Some("http://a.com/x"));
        assert_eq!(value("http://a.com/x),").as_deref(), Some("http://a.com/x"));
        assert_eq!(
            value("http://a.com/wiki/Foo_(bar))").as_deref(),
            Some("http://a.com/wiki/Foo_(bar)")
        );
        assert_eq!(value("http://a.com/x]").as_deref(), Some("http://a.com/x"));
        assert_eq!(value("http://a.com/?a=[1]").as_deref(), Some("http://a.com/?a=[1]"));
        assert_eq!(value("http://a.com.").as_deref(), Some("http://a.com"));
        assert_eq!(url("http://a.com:"), Some(("http://a.com".into(), ":", false)));
        assert_eq!(value("http://a.com?").as_deref(), Some("http://a.com"));
    }

    #[test]
    fn a_url_without_a_path_ends_after_its_host_and_port() {
        assert_eq!(
            url("http://a.com,b.com"),
            Some(("http://a.com".into(), ",b.com", false))
        );
        assert_eq!(url("http://a.com:80x"), Some(("http://a.com:80".into(), "x", false)));
    }

    #[test]
    fn userinfo_is_kept_and_the_host_follows_the_last_at_sign() {
        assert_eq!(
            value("http://Bob:Pw@Evil.com/x").as_deref(),
            Some("http://Bob:Pw@evil.com/x")
        );
    }

    #[test]
    fn ip_hosts_are_canonical_and_flagged_when_reserved() {
        assert_eq!(url("http://010.0.0.1/a"), Some(("http://10.0.0.1/a".into(), "", true)));
        assert_eq!(url("http://8.8.8.8"), Some(("http://8.8.8.8".into(), "", false)));
        assert_eq!(
            url("http://[2001:DB8:0::1]:8080/"),
            Some(("http://[2001:db8::1]:8080/".into(), "", true))
        );
        assert_eq!(
            url("http://[fe80::1%25eth0]/"),
            Some(("http://[fe80::1]/".into(), "", true))
        );
    }

    #[test]
    fn file_extension_tlds_are_domains_inside_a_url() {
        assert_eq!(value("https://evil.zip/").as_deref(), Some("https://evil.zip/"));
    }

    #[test]
    fn urls_whose_host_is_not_a_domain_or_ip_are_rejected() {
        for text in [
            "http://localhost/",
            "http://invoice.pdf/",
            "http://1.2.3.4.5/",
            "http://",
            "http:///x",
            "http://[zz]/",
        ] {
            assert_eq!(value(text), None, "{text}");
        }
    }

    #[test]
    fn text_without_a_scheme_is_not_a_url() {
        assert_eq!(value("www.evil.com/x"), None);
        assert_eq!(value("httpx://evil.com/x"), None);
        assert_eq!(value("h"), None);
    }
}
