//! The part of STIX patterning an indicator store needs: find the comparisons
//! (`<object-type>:<path> <op> <literal>`) in a pattern, in order, and take the first
//! `=` comparison on an object path that has an ECS indicator field. Observation operators
//! (AND, OR, FOLLOWEDBY), brackets and qualifiers (WITHIN, START/STOP, REPEATS) are skipped;
//! the whole pattern is kept by the caller.

use std::borrow::Cow;
use std::net::IpAddr;

/// The first supported comparison of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// ECS `threat.indicator.type`: `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `file`,
    /// `email-addr`.
    pub(super) kind: &'static str,
    /// The typed ECS field for the value, when the value fits it (an IP field gets no CIDR).
    pub(super) field: Option<Cow<'static, str>>,
    /// The literal, unescaped.
    pub(super) value: String,
}

/// One `<object-type>:<path> <op> <value>` comparison.
#[derive(Debug, PartialEq, Eq)]
struct Comparison<'a> {
    object: &'a str,
    path: Vec<Cow<'a, str>>,
    equals: bool,
    value: Option<String>,
}

/// The first comparison of `pattern` with an ECS indicator field, if any.
pub(super) fn first_supported(pattern: &str) -> Option<Found> {
    let mut scan = Scanner {
        s: pattern.as_bytes(),
        text: pattern,
        i: 0,
    };
    while let Some(comparison) = scan.next_comparison() {
        if let Some(found) = supported(&comparison) {
            return Some(found);
        }
    }
    None
}

fn supported(c: &Comparison<'_>) -> Option<Found> {
    let value = c.value.clone().filter(|_| c.equals)?;
    let path: Vec<&str> = c.path.iter().map(Cow::as_ref).collect();
    let ip = |value: &str| value.parse::<IpAddr>().is_ok();
    let (kind, field): (&'static str, Option<Cow<'static, str>>) = match (c.object, path.as_slice()) {
        ("ipv4-addr", ["value"]) => ("ipv4-addr", ip(&value).then_some(Cow::Borrowed("threat.indicator.ip"))),
        ("ipv6-addr", ["value"]) => ("ipv6-addr", ip(&value).then_some(Cow::Borrowed("threat.indicator.ip"))),
        ("domain-name", ["value"]) => ("domain-name", Some(Cow::Borrowed("threat.indicator.url.domain"))),
        ("url", ["value"]) => ("url", Some(Cow::Borrowed("threat.indicator.url.full"))),
        ("email-addr", ["value"]) => ("email-addr", Some(Cow::Borrowed("threat.indicator.email.address"))),
        ("file", ["name"]) => ("file", Some(Cow::Borrowed("threat.indicator.file.name"))),
        ("file", ["hashes", algorithm]) => {
            let ecs = hash_name(algorithm)?;
            ("file", Some(Cow::Owned(format!("threat.indicator.file.hash.{ecs}"))))
        }
        _ => return None,
    };
    Some(Found { kind, field, value })
}

/// The ECS name of a STIX hash algorithm (`SHA-256`, `sha256`, `MD5`, ...).
fn hash_name(algorithm: &str) -> Option<&'static str> {
    let normalized: String = algorithm
        .chars()
        .filter(|&c| c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match normalized.as_str() {
        "md5" => "md5",
        "sha1" => "sha1",
        "sha256" => "sha256",
        "sha384" => "sha384",
        "sha512" => "sha512",
        "ssdeep" => "ssdeep",
        "tlsh" => "tlsh",
        _ => return None,
    })
}

struct Scanner<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Scanner<'a> {
    /// The next comparison after the current position; `None` at the end of the pattern.
    fn next_comparison(&mut self) -> Option<Comparison<'a>> {
        while self.i < self.s.len() {
            let c = self.s[self.i];
            if c == b'\'' {
                self.literal();
            } else if is_word(c) {
                let word = self.word();
                if self.peek() == Some(b':') {
                    self.i += 1;
                    if let Some(comparison) = self.comparison(word) {
                        return Some(comparison);
                    }
                } else if self.peek() == Some(b'\'') && matches!(word, "t" | "h" | "b") {
                    self.literal();
                }
            } else {
                self.i += 1;
            }
        }
        None
    }

    /// After `object:` — the path, operator and value. `None` when what follows is not a
    /// comparison (the scan goes on from where it stopped).
    fn comparison(&mut self, object: &'a str) -> Option<Comparison<'a>> {
        let mut path = Vec::new();
        loop {
            match self.peek()? {
                b'\'' => path.push(Cow::Owned(self.literal()?)),
                c if is_word(c) => path.push(Cow::Borrowed(self.word())),
                _ => return None,
            }
            if self.peek() == Some(b'[') {
                // A list index (`[0]`, `[*]`): not part of the ECS mapping.
                let close = self.s[self.i..].iter().position(|&b| b == b']')?;
                self.i += close + 1;
            }
            if self.peek() != Some(b'.') {
                break;
            }
            self.i += 1;
        }
        self.skip_space();
        let mut negated = false;
        if self.s[self.i..].starts_with(b"NOT") {
            negated = true;
            self.i += 3;
            self.skip_space();
        }
        let equals = match self.peek()? {
            b'=' => {
                self.i += 1;
                true
            }
            b'!' | b'<' | b'>' => {
                self.i += 1;
                if self.peek() == Some(b'=') {
                    self.i += 1;
                }
                false
            }
            c if is_word(c) => {
                self.word();
                false
            }
            _ => return None,
        };
        self.skip_space();
        let value = match self.peek() {
            Some(b'\'') => self.literal(),
            Some(b'(') => {
                self.skip_list();
                None
            }
            Some(c) if is_word(c) => {
                let word = self.word();
                match self.peek() {
                    Some(b'\'') if matches!(word, "t" | "h" | "b") => self.literal(),
                    _ => Some(word.to_owned()),
                }
            }
            _ => None,
        };
        Some(Comparison {
            object,
            path,
            equals: equals && !negated,
            value,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A run of `[A-Za-z0-9_-]`: a keyword, an object type or a path component.
    fn word(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(is_word) {
            self.i += 1;
        }
        // Only ASCII bytes were consumed, so both ends are character boundaries.
        self.text.get(start..self.i).unwrap_or_default()
    }

    /// A `'…'` literal starting at the current quote, with `\'` and `\\` unescaped; `None` when
    /// it is never closed (the scan then ends).
    fn literal(&mut self) -> Option<String> {
        let start = self.i + 1;
        let mut out = String::new();
        let mut run = start;
        let mut j = start;
        while j < self.s.len() {
            match self.s[j] {
                b'\\' if matches!(self.s.get(j + 1), Some(b'\'' | b'\\')) => {
                    out.push_str(self.text.get(run..j)?);
                    run = j + 1;
                    j += 2;
                }
                b'\'' => {
                    out.push_str(self.text.get(run..j)?);
                    self.i = j + 1;
                    return Some(out);
                }
                _ => j += 1,
            }
        }
        self.i = self.s.len();
        None
    }

    /// A parenthesised list of literals, as after `IN`.
    fn skip_list(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b'\'' => {
                    self.literal();
                }
                b')' => {
                    self.i += 1;
                    return;
                }
                _ => self.i += 1,
            }
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(pattern: &str) -> Option<(&'static str, Option<String>, String)> {
        first_supported(pattern).map(|f| (f.kind, f.field.map(Cow::into_owned), f.value))
    }

    fn some(kind: &'static str, field: &str, value: &str) -> Option<(&'static str, Option<String>, String)> {
        Some((kind, Some(field.to_owned()), value.to_owned()))
    }

    #[test]
    fn each_supported_object_path_maps_to_its_ecs_field() {
        let cases = [
            (
                "[ipv4-addr:value = '198.51.100.23']",
                some("ipv4-addr", "threat.indicator.ip", "198.51.100.23"),
            ),
            (
                "[ipv6-addr:value = '2001:db8::1']",
                some("ipv6-addr", "threat.indicator.ip", "2001:db8::1"),
            ),
            (
                "[domain-name:value = 'evil.example.net']",
                some("domain-name", "threat.indicator.url.domain", "evil.example.net"),
            ),
            (
                "[url:value = 'http://evil.example.net/a?b=c']",
                some("url", "threat.indicator.url.full", "http://evil.example.net/a?b=c"),
            ),
            (
                "[email-addr:value = 'ceo@evil.example.net']",
                some("email-addr", "threat.indicator.email.address", "ceo@evil.example.net"),
            ),
            (
                "[file:hashes.'SHA-256' = 'aabb']",
                some("file", "threat.indicator.file.hash.sha256", "aabb"),
            ),
            (
                "[file:hashes.MD5 = 'ccdd']",
                some("file", "threat.indicator.file.hash.md5", "ccdd"),
            ),
            (
                "[file:hashes.'SHA-1' = 'eeff']",
                some("file", "threat.indicator.file.hash.sha1", "eeff"),
            ),
            (
                "[file:hashes.sha512='0011']",
                some("file", "threat.indicator.file.hash.sha512", "0011"),
            ),
            (
                "[file:name = 'invoice.exe']",
                some("file", "threat.indicator.file.name", "invoice.exe"),
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(found(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn the_first_supported_comparison_wins_in_compound_patterns() {
        assert_eq!(
            found("[file:size > 1000 AND file:hashes.'SHA-256' = 'aa'] OR [ipv4-addr:value = '10.0.0.1']"),
            some("file", "threat.indicator.file.hash.sha256", "aa")
        );
        assert_eq!(
            found("([x-acme:foo = 'a'] FOLLOWEDBY [domain-name:value = 'd.example']) WITHIN 300 SECONDS"),
            some("domain-name", "threat.indicator.url.domain", "d.example")
        );
        assert_eq!(
            found("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '1.2.3.4']"),
            None
        );
    }

    #[test]
    fn escaped_quotes_and_backslashes_in_literals_are_unescaped() {
        assert_eq!(
            found(r"[url:value = 'http://x.example/it\'s\\here']"),
            some("url", "threat.indicator.url.full", r"http://x.example/it's\here")
        );
        // A quote inside a literal does not start a comparison.
        assert_eq!(
            found(r"[file:name = 'a\' OR [ipv4-addr:value = \'1.1.1.1\']'] AND [url:value = 'u']"),
            some(
                "file",
                "threat.indicator.file.name",
                "a' OR [ipv4-addr:value = '1.1.1.1']"
            )
        );
    }

    #[test]
    fn other_operators_negations_and_cidrs_are_not_indicator_values() {
        assert_eq!(found("[ipv4-addr:value ISSUBSET '10.0.0.0/8']"), None);
        assert_eq!(found("[ipv4-addr:value NOT = '10.0.0.1']"), None);
        assert_eq!(found("[ipv4-addr:value != '10.0.0.1']"), None);
        assert_eq!(found("[domain-name:value IN ('a.example', 'b.example')]"), None);
        assert_eq!(
            found("[url:value LIKE '%evil%'] OR [url:value = 'http://ok']")
                .unwrap()
                .2,
            "http://ok"
        );
        assert_eq!(
            found("[ipv4-addr:value = '10.0.0.0/8']"),
            Some(("ipv4-addr", None, "10.0.0.0/8".into()))
        );
    }

    #[test]
    fn qualifiers_with_timestamps_are_skipped() {
        assert_eq!(
            found("[url:value = 'http://a'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z'")
                .unwrap()
                .2,
            "http://a"
        );
    }

    #[test]
    fn broken_patterns_yield_nothing_without_panicking() {
        for pattern in [
            "",
            "[",
            "[ipv4-addr:",
            "[ipv4-addr:value = '1.2.3.4",
            "[:value = 'x']",
            "'''",
            "[a:b[",
            "é:é = 'é'",
        ] {
            assert_eq!(found(pattern), None, "{pattern}");
        }
    }
}
