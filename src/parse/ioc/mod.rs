//! Indicators of compromise (IP addresses, domains, URLs, emails, file hashes, CVE ids) found in
//! free text, refanged, typed, normalized and deduplicated. Pure and allocation-light: one pass
//! over the text, allocating only for the IoCs found. It knows no record format; callers hand it
//! text or a record's [`Fields`].
//!
//! Rules, beyond the type definitions below:
//! - **Refanging** first: `hxxp`/`hXXps`/`fxp` schemes, `[.]` `(.)` `{.}` `[dot]`
//!   `(dot)` → `.`, `[at]` `(at)` `[@]` → `@`, `[:]` → `:`, `[://]` → `://`, `[/]` → `/`
//!   (markers in any case; spaced forms like `evil [dot] com` are not joined).
//! - **Words**: outside URLs, an IoC is a whole run of ASCII letters, digits and `.-_%+@:`
//!   (with leading and trailing `.-+%@` dropped), so `1.2.3.4.5`, `v1.2.3.4` and `x_<md5>`
//!   yield nothing. A run holding `:` that is not an IPv6 address is read piece by piece
//!   (`1.2.3.4:443`, `sha256:<hex>`, `mailto:bob@evil.com`), so a MAC address or a time like
//!   `10:00:00` yields nothing. Runs of digits, dots and `-` are read as IPv4 ranges
//!   (`10.0.0.1-10.0.0.9`).
//! - **Domains** pass a Public Suffix List check (see `name::domain`): a known ICANN suffix
//!   and a registrable label before it, so `invoice.pdf`, `readme.txt` and `a.b` are not
//!   domains. A bare two-label name under a TLD that is also a common file extension
//!   (`setup.zip`, `clip.mov`, `README.md`, `exploit.pl`) is taken for a file name; with a
//!   scheme, an `@` or a third label it is a domain. Domains and emails directly next to a
//!   non-ASCII letter are skipped (they would be a fragment of an IDN like `bücher.de`).
//!   A URL whose host has no public suffix (`http://localhost/`) is not reported.
//! - **Parts are not repeated**: a URL's host and an email's domain are not reported as
//!   domains (nor a URL's IP host as an address) unless they also appear on their own.
//! - **Hashes** are exactly 32, 40 or 64 hex digits; all-same-character and all-decimal runs are
//!   skipped (zero hashes, long numbers). `<hash>.exe` still yields the hash.
//! - **CVE ids** (`cve-2021-44228`, any case) may sit inside a word (`CVE-2021-44228-poc.py`)
//!   as long as no letter or digit touches them.

mod ip;
mod name;
mod refang;
#[cfg(test)]
mod tests;
mod url;
mod word;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use serde_json::Value;

use super::Fields;
use refang::refang;

/// What an IoC is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IocKind {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Cve,
}

/// One indicator of compromise found in text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ioc {
    pub kind: IocKind,
    /// Refanged and normalized: domains, emails and hashes lowercased, CVE ids uppercased, IPs in canonical form.
    pub value: String,
    /// Private, loopback, link-local, CGNAT, documentation, multicast, unspecified or otherwise reserved address
    /// (for URLs and emails whose host is such an IP too); false for other kinds.
    pub private: bool,
}

/// Every IoC in `text`, deduplicated by (kind, value), in order of first appearance.
pub fn extract(text: &str) -> Vec<Ioc> {
    let mut extractor = Extractor::default();
    extractor.scan(text);
    extractor.found.list
}

/// Extracts from every string value in `fields` (recursing into arrays, and into objects should
/// a caller nest them), deduplicated across fields, in field order.
pub fn extract_fields(fields: &Fields) -> Vec<Ioc> {
    let mut extractor = Extractor::default();
    // An explicit stack: a deeply nested value built in code must not overflow the call stack.
    let mut pending: Vec<&Value> = fields.values().rev().collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) => extractor.scan(text),
            Value::Array(items) => pending.extend(items.iter().rev()),
            Value::Object(map) => pending.extend(map.values().rev()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    extractor.found.list
}

/// Scanning state shared by every text of one call: the IoCs so far and scratch buffers in
/// which candidate values are normalized before they are known to be new.
#[derive(Default)]
struct Extractor {
    found: Found,
    /// Word values (domains, emails, IPs, hashes, CVE ids).
    buf: String,
    /// URL values, kept apart so a URL can wait while the word before it is flushed.
    url_buf: String,
}

impl Extractor {
    /// One pass over the refanged `text`: URLs wherever a scheme starts after a non-alphanumeric
    /// byte, and everything else word by word (see `word`).
    fn scan(&mut self, text: &str) {
        let text = refang(text);
        let text = text.as_ref();
        let bytes = text.as_bytes();
        let mut word_start = None;
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if url::may_start(byte)
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && let Some(url) = url::url_at(text, i, &mut self.url_buf)
            {
                if let Some(start) = word_start.take() {
                    self.word(text, start, i);
                }
                self.found.push(IocKind::Url, &self.url_buf, url.private);
                i = url.end;
                continue;
            }
            if word::is_word_byte(byte) {
                word_start.get_or_insert(i);
            } else if let Some(start) = word_start {
                // An email's address literal (`bob@[10.0.0.1]`) belongs to its word; it holds
                // no white space, so `@[ <hash> ]` is not one.
                let literal_close = (byte == b'[' && bytes[i - 1] == b'@')
                    .then(|| {
                        bytes[i..]
                            .iter()
                            .take(64)
                            .position(|&b| b == b']' || b.is_ascii_whitespace())
                    })
                    .flatten()
                    .filter(|&close| bytes[i + close] == b']');
                if let Some(close) = literal_close {
                    i += close + 1;
                    continue;
                }
                self.word(text, start, i);
                word_start = None;
            }
            i += 1;
        }
        if let Some(start) = word_start {
            self.word(text, start, bytes.len());
        }
    }
}

/// The IoCs found so far, in order, with an index for deduplication that stores no copy of
/// the values: a hash of (kind, value) points at the first IoC with that hash.
#[derive(Default)]
struct Found {
    list: Vec<Ioc>,
    first_by_hash: HashMap<u64, usize>,
    hasher: RandomState,
}

impl Found {
    /// Adds an IoC unless one with the same kind and value is already there.
    fn push(&mut self, kind: IocKind, value: &str, private: bool) {
        let same = |ioc: &Ioc| ioc.kind == kind && ioc.value == value;
        let hash = self.hasher.hash_one((kind, value));
        match self.first_by_hash.get(&hash) {
            Some(&first) if same(&self.list[first]) => return,
            // A hash collision between different values: fall back to a scan.
            Some(_) if self.list.iter().any(same) => return,
            Some(_) => {}
            None => {
                self.first_by_hash.insert(hash, self.list.len());
            }
        }
        self.list.push(Ioc {
            kind,
            value: value.to_owned(),
            private,
        });
    }
}
