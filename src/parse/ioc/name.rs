//! Host names and email addresses: the public-suffix sanity check that keeps `invoice.pdf` and
//! `a.b` out, the file-extension rule that keeps a bare `setup.zip` out, and email syntax.

use super::ip::{ipv4_reserved, ipv6_reserved, parse_ipv4, parse_ipv6};

/// Where a host name was found; only a bare one is subject to the file-extension rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    /// On its own in the text, with no scheme or `@` before it.
    Bare,
    /// The host of a URL, or the domain of an email address.
    Embedded,
}

/// Top-level domains that are also common file extensions. A bare two-label name under one of
/// them (`setup.zip`, `clip.mov`, `README.md`, `exploit.pl`, `id_rsa.pub`) is taken for a file
/// name; with a scheme, an `@` or a third label (`http://evil.zip`, `www.evil.zip`) it is a
/// domain.
const FILE_EXTENSION_TLDS: [&str; 20] = [
    "ac", "am", "app", "cab", "cat", "cc", "md", "mk", "mov", "pl", "pm", "ps", "pub", "py", "rs", "run", "sh", "so",
    "tf", "zip",
];

/// Appends `name` lowercased to `out` and returns true when it is a plausible domain name
/// (`out` is left as it was otherwise):
/// - ASCII labels of letters, digits, `-` and `_`, 1–63 bytes each, none starting or ending
///   with `-`, at most 253 bytes in all (IDNs count in their `xn--` form only);
/// - the public suffix, read from the ICANN section of the Public Suffix List, is known, and
///   there is a registrable label before it (so `com`, `co.uk` and unknown suffixes like
///   `invoice.pdf`, `readme.txt`, `a.b` are out). A private-section suffix such as `github.io`
///   counts as its ICANN part (`io`), so `github.io` and `evil.github.io` are both domains;
/// - `_` appears only in subdomain labels (`_dmarc.example.com`), never in the registrable
///   label or the suffix;
/// - in [`Context::Bare`], not two labels under a [`FILE_EXTENSION_TLDS`] top-level domain.
pub(super) fn domain(name: &str, context: Context, out: &mut String) -> bool {
    let valid_labels = (1..=253).contains(&name.len())
        && name.contains('.')
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid_labels {
        return false;
    }
    let mark = out.len();
    out.extend(name.chars().map(|c| c.to_ascii_lowercase()));
    let ok = registrable(&out[mark..], context);
    if !ok {
        out.truncate(mark);
    }
    ok
}

/// The suffix and registrable-label checks of [`domain`] on a lowercased, well-formed name.
fn registrable(name: &str, context: Context) -> bool {
    let Some(suffix_len) = icann_suffix_len(name.as_bytes()) else {
        return false;
    };
    // The registrable label is the one before the suffix; it and the suffix may not hold `_`.
    let Some(suffix_dot) = name.len().checked_sub(suffix_len + 1) else {
        return false;
    };
    let registrable_start = name[..suffix_dot].rfind('.').map_or(0, |dot| dot + 1);
    if name[registrable_start..].contains('_') {
        return false;
    }
    let two_labels = registrable_start == 0;
    !(context == Context::Bare && two_labels && FILE_EXTENSION_TLDS.contains(&&name[suffix_dot + 1..]))
}

/// The byte length of the ICANN public suffix of a lowercased `name`; `None` when the suffix
/// is not on the list. A private-section match is walked down to the ICANN suffix it sits under.
fn icann_suffix_len(name: &[u8]) -> Option<usize> {
    let mut rest = name;
    loop {
        let suffix = psl::suffix(rest)?;
        match suffix.typ()? {
            psl::Type::Icann => return Some(suffix.as_bytes().len()),
            psl::Type::Private => {
                let bytes = suffix.as_bytes();
                let dot = bytes.iter().position(|&b| b == b'.')?;
                rest = &bytes[dot + 1..];
            }
        }
    }
}

/// Writes `word` as a normalized email address to `out` and returns its `private` flag, or
/// `None` when it is not one. The local part is 1–64 bytes of letters, digits and `._%+-`, with
/// no leading, trailing or doubled dot. The domain is a [`domain`] (no file-extension rule), or
/// an IP address, bare or as an address literal (`[10.0.0.1]`, `[IPv6:2001:db8::1]`), which is
/// written back as a literal. The whole address is lowercased.
pub(super) fn email(word: &str, out: &mut String) -> Option<bool> {
    let (local, host) = word.split_once('@')?;
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    if !local_ok {
        return None;
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let ip = literal.unwrap_or(host);
    let ip = match ip.get(..5) {
        Some(prefix) if literal.is_some() && prefix.eq_ignore_ascii_case("ipv6:") => &ip[5..],
        _ => ip,
    };
    out.clear();
    out.extend(local.chars().map(|c| c.to_ascii_lowercase()));
    out.push('@');
    let private = if let Some(v4) = parse_ipv4(ip) {
        push_display(out, &format_args!("[{v4}]"));
        ipv4_reserved(v4)
    } else if let Some(v6) = parse_ipv6(ip).filter(|_| literal.is_some()) {
        push_display(out, &format_args!("[ipv6:{v6}]"));
        ipv6_reserved(v6)
    } else if literal.is_none() && domain(host, Context::Embedded, out) {
        false
    } else {
        return None;
    };
    Some(private)
}

/// Appends `value` to `out`.
pub(super) fn push_display(out: &mut String, value: &dyn std::fmt::Display) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(name: &str) -> Option<String> {
        let mut out = String::from("kept:");
        let found = domain(name, Context::Bare, &mut out);
        let value = out.strip_prefix("kept:").expect("domain only appends").to_owned();
        if !found {
            assert!(value.is_empty(), "a rejected name leaves `out` as it was");
        }
        found.then_some(value)
    }

    fn embedded(name: &str) -> bool {
        domain(name, Context::Embedded, &mut String::new())
    }

    fn mail(word: &str) -> Option<(String, bool)> {
        let mut out = String::new();
        email(word, &mut out).map(|private| (out, private))
    }

    #[test]
    fn names_under_known_public_suffixes_are_domains_and_lowercased() {
        assert_eq!(bare("Evil.COM").as_deref(), Some("evil.com"));
        assert_eq!(bare("login.bank.co.uk").as_deref(), Some("login.bank.co.uk"));
        assert_eq!(bare("xn--80ak6aa92e.com").as_deref(), Some("xn--80ak6aa92e.com"));
        assert_eq!(bare("_dmarc.example.com").as_deref(), Some("_dmarc.example.com"));
    }

    #[test]
    fn file_names_and_unknown_suffixes_are_not_domains() {
        for name in [
            "invoice.pdf",
            "setup.exe",
            "readme.txt",
            "a.b",
            "photo.jpeg",
            "config.local",
            "v1.2",
        ] {
            assert_eq!(bare(name), None, "{name}");
        }
    }

    #[test]
    fn a_bare_public_suffix_has_no_registrable_label_and_is_not_a_domain() {
        for name in ["co.uk", "com", "uk"] {
            assert_eq!(bare(name), None, "{name}");
        }
    }

    #[test]
    fn private_section_suffixes_count_as_the_icann_suffix_beneath_them() {
        assert_eq!(bare("github.io").as_deref(), Some("github.io"));
        assert_eq!(bare("evil.github.io").as_deref(), Some("evil.github.io"));
        assert_eq!(
            bare("bucket.s3.amazonaws.com").as_deref(),
            Some("bucket.s3.amazonaws.com")
        );
    }

    #[test]
    fn bare_two_label_names_under_file_extension_tlds_are_file_names() {
        for name in [
            "setup.zip",
            "clip.MOV",
            "readme.md",
            "exploit.pl",
            "id_rsa.pub",
            "main.rs",
            "run.sh",
        ] {
            assert_eq!(bare(name), None, "{name}");
        }
    }

    #[test]
    fn file_extension_tlds_are_domains_with_a_third_label_or_inside_a_url() {
        assert_eq!(bare("www.evil.zip").as_deref(), Some("www.evil.zip"));
        assert!(embedded("evil.zip"));
        assert!(embedded("evil.mov"));
    }

    #[test]
    fn every_file_extension_tld_is_a_known_icann_suffix() {
        for tld in FILE_EXTENSION_TLDS {
            assert_eq!(icann_suffix_len(tld.as_bytes()), Some(tld.len()), "{tld}");
        }
    }

    #[test]
    fn malformed_labels_are_not_domains() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for name in [
            "-evil.com",
            "evil-.com",
            "evil..com",
            "evil_corp.com",
            "evil.c_m",
            &long_label,
            &long_name,
        ] {
            assert_eq!(bare(name), None, "{name}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked_on_both_sides() {
        assert_eq!(mail("John.Doe+x@Evil.COM"), Some(("john.doe+x@evil.com".into(), false)));
        assert_eq!(mail("bob@invoice.pdf"), None);
        assert_eq!(mail(".bob@evil.com"), None);
        assert_eq!(mail("bo..b@evil.com"), None);
        assert_eq!(mail("@evil.com"), None);
        assert_eq!(mail("bob@evil.com@x.com"), None);
    }

    #[test]
    fn email_domains_skip_the_file_extension_rule() {
        assert_eq!(mail("bob@evil.zip"), Some(("bob@evil.zip".into(), false)));
    }

    #[test]
    fn emails_at_ip_addresses_become_address_literals_flagged_by_range() {
        assert_eq!(mail("root@10.0.0.1"), Some(("root@[10.0.0.1]".into(), true)));
        assert_eq!(mail("root@[8.8.8.8]"), Some(("root@[8.8.8.8]".into(), false)));
        assert_eq!(
            mail("root@[IPv6:2001:DB8::1]"),
            Some(("root@[ipv6:2001:db8::1]".into(), true))
        );
        assert_eq!(mail("root@[evil.com]"), None);
    }
}
