//! RFC 5424 structured data: validated once by [`scan`], then read lazily from the line by
//! iterators, so a parse allocates nothing; only [`SdParam::value`] unescapes, on demand.

use std::borrow::Cow;

use super::{Result, SyslogError};

/// The structured data of a line: zero or more `[SD-ID name="value" ...]` elements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StructuredData<'a> {
    raw: &'a str,
}

/// One `[SD-ID ...]` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdElement<'a> {
    id: &'a str,
    /// The text after the SD-ID, up to the closing `]`.
    params: &'a str,
}

/// One `name="value"` parameter, its value as written (escapes kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdParam<'a> {
    name: &'a str,
    raw_value: &'a str,
}

/// Checks the structured data starting at the `[` at `start` and returns the index after its
/// last `]`. SD-IDs and names are printable ASCII without `=`, space, `]` or `"`; values may
/// hold any UTF-8, with `"`, `\` and `]` escaped by `\` (an unescaped `]` is tolerated).
pub(super) fn scan(bytes: &[u8], start: usize) -> Result<usize> {
    let mut pos = start;
    while bytes.get(pos) == Some(&b'[') {
        pos = name_end(bytes, pos + 1).ok_or(SyslogError::StructuredData(pos + 1))?;
        loop {
            match bytes.get(pos) {
                Some(b']') => break,
                Some(b' ') => pos = super::skip_spaces(bytes, pos),
                _ => return Err(SyslogError::StructuredData(pos)),
            }
            if bytes.get(pos) == Some(&b']') {
                break;
            }
            pos = name_end(bytes, pos).ok_or(SyslogError::StructuredData(pos))?;
            if bytes.get(pos..pos + 2) != Some(b"=\"") {
                return Err(SyslogError::StructuredData(pos));
            }
            pos = value_end(bytes, pos + 2).ok_or(SyslogError::StructuredData(pos + 1))? + 1;
        }
        pos += 1;
    }
    Ok(pos)
}

/// The index after a non-empty SD-NAME starting at `pos`.
fn name_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let len = bytes
        .get(pos..)?
        .iter()
        .position(|&b| !matches!(b, b'!'..=b'~') || matches!(b, b'=' | b']' | b'"'))
        .unwrap_or(bytes.len() - pos);
    (len > 0).then_some(pos + len)
}

/// The index of the closing `"` of a value starting at `pos`.
fn value_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        match bytes.get(pos)? {
            b'"' => return Some(pos),
            b'\\' => pos += 2,
            _ => pos += 1,
        }
    }
}

impl<'a> StructuredData<'a> {
    pub(super) fn new(raw: &'a str) -> Self {
        StructuredData { raw }
    }

    /// No structured data (`-`, or an RFC 3164 line).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The structured data as written, `[...][...]`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The elements in the order written.
    pub fn elements(&self) -> Elements<'a> {
        Elements { rest: self.raw }
    }
}

impl<'a> IntoIterator for StructuredData<'a> {
    type Item = SdElement<'a>;
    type IntoIter = Elements<'a>;

    fn into_iter(self) -> Elements<'a> {
        self.elements()
    }
}

/// The elements of [`StructuredData`], in order.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Elements<'a> {
    type Item = SdElement<'a>;

    fn next(&mut self) -> Option<SdElement<'a>> {
        let bytes = self.rest.as_bytes();
        let id_end = name_end(bytes, 1)?;
        let mut pos = id_end;
        // Skip over the params to the closing `]`, stepping over quoted values.
        while let Some(&b) = bytes.get(pos) {
            match b {
                b']' => break,
                b'"' => pos = value_end(bytes, pos + 1)? + 1,
                _ => pos += 1,
            }
        }
        let element = SdElement {
            id: self.rest.get(1..id_end)?,
            params: self.rest.get(id_end..pos)?,
        };
        self.rest = self.rest.get(pos + 1..).unwrap_or("");
        Some(element)
    }
}

impl<'a> SdElement<'a> {
    /// The SD-ID, `timeQuality` or `name@enterprise-number`.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The parameters in the order written; a name may repeat.
    pub fn params(&self) -> Params<'a> {
        Params { rest: self.params }
    }
}

/// The parameters of an [`SdElement`], in order.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = SdParam<'a>;

    fn next(&mut self) -> Option<SdParam<'a>> {
        let bytes = self.rest.as_bytes();
        let start = super::skip_spaces(bytes, 0);
        let name_end = name_end(bytes, start)?;
        let close = value_end(bytes, name_end + 2)?;
        let param = SdParam {
            name: self.rest.get(start..name_end)?,
            raw_value: self.rest.get(name_end + 2..close)?,
        };
        self.rest = self.rest.get(close + 1..).unwrap_or("");
        Some(param)
    }
}

impl<'a> SdParam<'a> {
    /// The PARAM-NAME.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value as written between the quotes, with its escapes.
    pub fn raw_value(&self) -> &'a str {
        self.raw_value
    }

    /// The value with `\"`, `\\` and `\]` unescaped; a backslash before anything else is kept.
    pub fn value(&self) -> Cow<'a, str> {
        if !self.raw_value.contains('\\') {
            return Cow::Borrowed(self.raw_value);
        }
        let mut out = String::with_capacity(self.raw_value.len());
        let mut chars = self.raw_value.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some(e @ ('"' | '\\' | ']')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        Cow::Owned(out)
    }
}
