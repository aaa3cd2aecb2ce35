//! Classifying one word of text (a run of [`is_word_byte`] bytes outside any URL) as an IP
//! address, email, domain, hash or CVE id. Knows nothing of where words come from.

use super::ip::{ipv4_reserved, ipv6_reserved, parse_ipv4, parse_ipv6};
use super::name::{Context, domain, email, push_display};
use super::{Extractor, IocKind};

/// The bytes a word is made of: ASCII letters and digits and `.-_%+@:`.
pub(super) fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'%' | b'+' | b'@' | b':')
}

impl Extractor {
    /// Classifies the word at `text[start..end]`.
    pub(super) fn word(&mut self, text: &str, start: usize, end: usize) {
        // A word touching a non-ASCII letter is a fragment of a longer name (`bücher.de`).
        let touches_letter = |c: Option<char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphanumeric());
        let names = !touches_letter(text[..start].chars().next_back()) && !touches_letter(text[end..].chars().next());
        let word = trim(&text[start..end]);
        if !word.contains(':') {
            self.piece(word, names);
            return;
        }
        // `fe80::1:` at the end of a sentence: retry without the colon.
        if let Some(v6) = parse_ipv6(word).or_else(|| parse_ipv6(word.strip_suffix(':')?)) {
            self.buf.clear();
            push_display(&mut self.buf, &v6);
            self.found.push(IocKind::Ipv6, &self.buf, ipv6_reserved(v6));
            return;
        }
        if names
            && word.contains("@[")
            && let Some(private) = email(word, &mut self.buf)
        {
            self.found.push(IocKind::Email, &self.buf, private);
            return;
        }
        for piece in word.split(':') {
            self.piece(trim(piece), names);
        }
    }

    /// Classifies a word or a `:`-separated piece of one, which holds no `:`.
    fn piece(&mut self, piece: &str, names: bool) {
        if piece.contains('@') {
            if let Some(private) = email(piece, &mut self.buf).filter(|_| names) {
                self.found.push(IocKind::Email, &self.buf, private);
            }
            return;
        }
        if piece.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            for address in piece.split('-') {
                if let Some(v4) = parse_ipv4(address) {
                    self.buf.clear();
                    push_display(&mut self.buf, &v4);
                    self.found.push(IocKind::Ipv4, &self.buf, ipv4_reserved(v4));
                }
            }
            return;
        }
        if names && piece.contains('.') {
            self.buf.clear();
            if domain(piece, Context::Bare, &mut self.buf) {
                self.found.push(IocKind::Domain, &self.buf, false);
                return;
            }
        }
        if self.hash(piece) {
            return;
        }
        for cve in cves(piece) {
            self.buf.clear();
            self.buf.push_str("CVE-");
            self.buf.push_str(cve);
            self.found.push(IocKind::Cve, &self.buf, false);
        }
        if piece.contains('.') {
            for label in piece.split('.') {
                self.hash(label);
            }
        }
    }

    /// Adds `candidate` as a hash if it is one; returns whether it was.
    fn hash(&mut self, candidate: &str) -> bool {
        let Some(kind) = hash_kind(candidate) else {
            return false;
        };
        self.buf.clear();
        self.buf.push_str(candidate);
        self.buf.make_ascii_lowercase();
        self.found.push(kind, &self.buf, false);
        true
    }
}

/// `word` without the separators that cannot start or end an IoC.
fn trim(word: &str) -> &str {
    word.trim_matches(['.', '-', '+', '%', '@'])
}

/// The hash kind of exactly 32, 40 or 64 hex digits, unless all are the same character or all
/// are decimal digits (a zero hash, a long number).
fn hash_kind(candidate: &str) -> Option<IocKind> {
    let kind = match candidate.len() {
        32 => IocKind::Md5,
        40 => IocKind::Sha1,
        64 => IocKind::Sha256,
        _ => return None,
    };
    let bytes = candidate.as_bytes();
    let plausible = bytes.iter().all(u8::is_ascii_hexdigit)
        && bytes.iter().any(|&b| b != bytes[0])
        && !bytes.iter().all(u8::is_ascii_digit);
    plausible.then_some(kind)
}

/// The `YYYY-NNNN…` part of every CVE id in `word` (`cve-` in any case, four digits, `-`, four
/// or more digits) that no letter or digit touches on either side.
fn cves(word: &str) -> impl Iterator<Item = &str> {
    let bytes = word.as_bytes();
    let alnum_at = move |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
    (0..bytes.len().saturating_sub(3)).filter_map(move |i| {
        if !bytes[i..i + 4].eq_ignore_ascii_case(b"cve-") || (i > 0 && alnum_at(i - 1)) {
            return None;
        }
        let start = i + 4;
        let digits_from = |from: usize| {
            bytes[from.min(bytes.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let year = digits_from(start);
        let number = digits_from(start + year + 1);
        let end = start + year + 1 + number;
        let shaped = year == 4 && bytes.get(start + 4) == Some(&b'-') && number >= 4 && !alnum_at(end);
        // Only ASCII bytes were matched, so `start..end` are char boundaries.
        shaped.then(|| &word[start..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_kinds_follow_the_exact_length() {
        assert_eq!(hash_kind(&"ab".repeat(16)), Some(IocKind::Md5));
        assert_eq!(hash_kind(&"ab".repeat(20)), Some(IocKind::Sha1));
        assert_eq!(hash_kind(&"ab".repeat(32)), Some(IocKind::Sha256));
        assert_eq!(hash_kind(&"ab".repeat(24)), None);
        assert_eq!(hash_kind(&"ab".repeat(33)[1..]), None);
    }

    #[test]
    fn zero_same_character_decimal_and_non_hex_runs_are_not_hashes() {
        assert_eq!(hash_kind(&"0".repeat(32)), None);
        assert_eq!(hash_kind(&"f".repeat(64)), None);
        assert_eq!(hash_kind(&"1234567890".repeat(4)), None);
        assert_eq!(hash_kind(&"ag".repeat(16)), None);
    }

    #[test]
    fn cve_ids_are_found_where_no_letter_or_digit_touches_them() {
        assert_eq!(cves("CVE-2021-44228").collect::<Vec<_>>(), ["2021-44228"]);
        assert_eq!(cves("cve-2014-0160-poc.py").collect::<Vec<_>>(), ["2014-0160"]);
        assert_eq!(cves("x-CVE-2019-1234567").collect::<Vec<_>>(), ["2019-1234567"]);
        for not_cve in [
            "CVE-2021-442",
            "CVE-21-44228",
            "XCVE-2021-44228",
            "CVE-2021-44228a",
            "CVE-20211-4422",
            "cve-",
            "CVE-2021-",
        ] {
            assert_eq!(cves(not_cve).count(), 0, "{not_cve}");
        }
    }
}
