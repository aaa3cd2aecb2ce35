//! Undoing defanging (`hxxp://evil[.]com`, `user[at]evil(dot)com`) before IoCs are matched.
//! Borrows the text unless it holds a marker: most log text has none and costs no allocation.

use std::borrow::Cow;

/// Bracketed markers, matched case-insensitively, and what they stand for.
const MARKERS: [(&str, &str); 11] = [
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("[at]", "@"),
    ("(at)", "@"),
    ("[@]", "@"),
    ("[:]", ":"),
    ("[://]", "://"),
    ("[/]", "/"),
];

/// `text` with every defang marker replaced: the bracketed markers above, and the schemes
/// `hxxp`/`hxxps` (any case) and `fxp`, when followed by `:` or `[`, as `http`, `https`, `ftp`.
pub(super) fn refang(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some((len, replacement)) = marker_at(bytes, i) else {
            i += 1;
            continue;
        };
        // Markers are ASCII, so `i` and `i + len` are char boundaries.
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..i]);
        buf.push_str(replacement);
        i += len;
        copied = i;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// The length of the marker starting at `i` and its replacement.
fn marker_at(bytes: &[u8], i: usize) -> Option<(usize, &'static str)> {
    match bytes[i] {
        b'[' | b'(' | b'{' => MARKERS
            .iter()
            .find(|(marker, _)| starts_with_ignore_case(&bytes[i..], marker))
            .map(|&(marker, replacement)| (marker.len(), replacement)),
        b'h' | b'H' if starts_with_ignore_case(&bytes[i..], "hxxp") && scheme_follows(bytes, i + 4) => {
            Some((4, "http"))
        }
        b'f' | b'F' if starts_with_ignore_case(&bytes[i..], "fxp") && scheme_follows(bytes, i + 3) => Some((3, "ftp")),
        _ => None,
    }
}

/// Whether the bytes at `at` continue a scheme name: an optional `s`, then `:` or `[`.
fn scheme_follows(bytes: &[u8], at: usize) -> bool {
    let rest = bytes.get(at..).unwrap_or_default();
    let rest = match rest.first() {
        Some(b's' | b'S') => &rest[1..],
        _ => rest,
    };
    matches!(rest.first(), Some(b':' | b'['))
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &str) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_markers_is_borrowed_not_copied() {
        let text = "GET /index.html from 10.0.0.1 (http) [ok] {x}";
        assert!(matches!(refang(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn every_dot_marker_becomes_a_dot() {
        for marker in ["[.]", "(.)", "{.}", "[dot]", "(dot)", "[DOT]", "(Dot)"] {
            assert_eq!(refang(&format!("evil{marker}com")), "evil.com", "{marker}");
        }
    }

    #[test]
    fn every_at_marker_becomes_an_at_sign() {
        for marker in ["[at]", "(at)", "[@]", "[AT]", "(At)"] {
            assert_eq!(refang(&format!("bob{marker}evil.com")), "bob@evil.com", "{marker}");
        }
    }

    #[test]
    fn defanged_schemes_and_separators_are_restored() {
        assert_eq!(refang("hxxp://a.com"), "http://a.com");
        assert_eq!(refang("hXXps[://]a.com"), "https://a.com");
        assert_eq!(refang("HXXP[:]//a.com"), "http://a.com");
        assert_eq!(refang("fxp://a.com"), "ftp://a.com");
    }

    #[test]
    fn scheme_lookalikes_without_a_colon_are_left_alone() {
        assert!(matches!(refang("the hxxpd daemon and fxpath"), Cow::Borrowed(_)));
    }

    #[test]
    fn markers_next_to_multibyte_text_and_at_the_end_do_not_panic() {
        assert_eq!(refang("é[.]ü(dot)"), "é.ü.");
        assert_eq!(refang("[."), "[.");
        assert_eq!(refang("hxxp"), "hxxp");
        assert_eq!(refang("hxxps"), "hxxps");
    }
}
