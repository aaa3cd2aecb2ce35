//! XML documents: a Windows event export (one record per `<Event>`) or any other XML document
//! (one record, flattened to dotted paths). This module reads the document into a small
//! element tree with byte spans; `windows` and `generic` turn elements into
//! [`Fields`](super::Fields). It knows nothing of transport or storage.
//!
//! Names are local names: namespace prefixes are dropped and `xmlns` declarations are not
//! data. Entities are the five predefined ones and character references; a DTD is skipped,
//! never expanded, and depth and element count are capped, so no document can make the
//! parser do unbounded work.

mod generic;
mod windows;

use std::ops::Range;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{DocRecord, ParseContext};

/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most elements plus attributes accepted in one document: a 16 MiB export of Windows events
/// has about 300,000; the cap keeps the element tree of any document under about 150 MB.
pub const MAX_NODES: usize = 1_000_000;

/// Why an XML document could not be read. `offset` is the 0-based byte offset in the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML at byte offset {offset}: {reason}")]
    Syntax { offset: usize, reason: String },
    #[error("unknown entity `&{name};` at byte offset {offset}; only the five predefined XML entities are expanded")]
    UnknownEntity { offset: usize, name: String },
    #[error("element `{name}` opened at byte offset {offset} is never closed")]
    Unclosed { offset: usize, name: String },
    #[error("text outside the root element at byte offset {offset}")]
    TextOutsideRoot { offset: usize },
    #[error("no element in the document (read to byte offset {offset})")]
    NoElement { offset: usize },
    #[error("elements nested deeper than {MAX_DEPTH} levels at byte offset {offset}")]
    TooDeep { offset: usize },
    #[error("more than {MAX_NODES} elements and attributes; stopped at byte offset {offset}")]
    TooLarge { offset: usize },
}

impl XmlError {
    /// The byte offset the error points at.
    pub fn offset(&self) -> usize {
        match self {
            XmlError::Syntax { offset, .. }
            | XmlError::UnknownEntity { offset, .. }
            | XmlError::Unclosed { offset, .. }
            | XmlError::TextOutsideRoot { offset }
            | XmlError::NoElement { offset }
            | XmlError::TooDeep { offset }
            | XmlError::TooLarge { offset } => *offset,
        }
    }
}

/// Every record in an XML document: each `<Event>` of a Windows event export (a lone `<Event>`
/// root, several `<Event>` roots, or `<Events><Event>…</Event>…</Events>`), or else the whole
/// document as one generic record. A Windows event is an element named `Event` with a `System`
/// child, with or without the event namespace. A blank document has no records.
pub fn parse(doc: &str, ctx: &ParseContext) -> Result<Vec<DocRecord>, XmlError> {
    let roots = read_tree(doc)?;
    if roots.is_empty() {
        if doc.trim_start_matches('\u{feff}').trim().is_empty() {
            return Ok(Vec::new());
        }
        return Err(XmlError::NoElement { offset: doc.len() });
    }
    let events: Option<&[Element]> = match roots.as_slice() {
        [export]
            if export.name == "Events"
                && export.trimmed_text().is_empty()
                && export.children.iter().all(windows::is_event) =>
        {
            Some(&export.children)
        }
        all if all.iter().all(windows::is_event) => Some(all),
        _ => None,
    };
    if let Some(events) = events {
        return Ok(events
            .iter()
            .map(|e| DocRecord {
                span: e.span.clone(),
                fields: windows::fields(e, ctx),
            })
            .collect());
    }
    let start = doc.len() - doc.trim_start_matches('\u{feff}').trim_start().len();
    let end = doc.trim_end().len();
    Ok(vec![DocRecord {
        span: start..end.max(start),
        fields: generic::fields(&roots),
    }])
}

/// One element: local name, attributes (local names, decoded values, no `xmlns`), children,
/// its text (text, CDATA and references concatenated) and its bytes in the document.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
    span: Range<usize>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.name == name)
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The text without surrounding XML whitespace.
    fn trimmed_text(&self) -> &str {
        trim_xml(&self.text)
    }
}

fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Reads the top-level elements of `doc`.
fn read_tree(doc: &str) -> Result<Vec<Element>, XmlError> {
    // quick-xml skips a byte order mark without counting it; skip it here so offsets count it.
    let (base, body) = match doc.strip_prefix('\u{feff}') {
        Some(rest) => (doc.len() - rest.len(), rest),
        None => (0, doc),
    };
    let at = |position: u64| base.saturating_add(usize::try_from(position).unwrap_or(usize::MAX));
    let mut reader = Reader::from_str(body);
    let mut roots = Vec::new();
    let mut open: Vec<Element> = Vec::new();
    let mut nodes = 0usize;
    loop {
        let start = at(reader.buffer_position());
        let event = reader.read_event().map_err(|e| XmlError::Syntax {
            offset: at(reader.error_position()),
            reason: e.to_string(),
        })?;
        let end = at(reader.buffer_position());
        match event {
            Event::Start(tag) => {
                let opened = element(&tag, start..end, open.len(), &mut nodes)?;
                open.push(opened);
            }
            Event::Empty(tag) => {
                let leaf = element(&tag, start..end, open.len(), &mut nodes)?;
                attach(leaf, &mut open, &mut roots);
            }
            Event::End(_) => {
                // quick-xml has checked that the end tag matches the innermost open element.
                if let Some(mut closed) = open.pop() {
                    closed.span.end = end;
                    attach(closed, &mut open, &mut roots);
                }
            }
            Event::Text(text) => {
                let text = text.xml10_content().map_err(|e| syntax(start, e))?;
                push_text(&mut open, &text, start)?;
            }
            Event::CData(data) => {
                let text = data.xml10_content().map_err(|e| syntax(start, e))?;
                push_text(&mut open, &text, start)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| syntax(start, e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| syntax(start, e))?;
                        match resolve_predefined_entity(&name) {
                            Some(text) => text.to_owned(),
                            None => {
                                return Err(XmlError::UnknownEntity {
                                    offset: start,
                                    name: name.into_owned(),
                                });
                            }
                        }
                    }
                };
                push_text(&mut open, &resolved, start)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    match open.into_iter().next() {
        Some(unclosed) => Err(XmlError::Unclosed {
            offset: unclosed.span.start,
            name: unclosed.name,
        }),
        None => Ok(roots),
    }
}

fn syntax(offset: usize, e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax {
        offset,
        reason: e.to_string(),
    }
}

/// The element for `tag`, whose parent is at `depth` (0 for a root).
fn element(tag: &BytesStart<'_>, span: Range<usize>, depth: usize, nodes: &mut usize) -> Result<Element, XmlError> {
    let at = span.start;
    if depth >= MAX_DEPTH {
        return Err(XmlError::TooDeep { offset: at });
    }
    let too_large = XmlError::TooLarge { offset: at };
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(too_large);
    }
    let mut attrs = Vec::new();
    // Duplicate checks are quadratic in the attribute count; a repeated attribute becomes an array.
    for attr in tag.attributes().with_checks(false) {
        let attr = attr.map_err(|e| syntax(at, e))?;
        let key = attr.key;
        if key.as_ref() == b"xmlns" || key.prefix().is_some_and(|p| p.as_ref() == b"xmlns") {
            continue;
        }
        *nodes += 1;
        if *nodes > MAX_NODES {
            return Err(too_large);
        }
        let value = attr.unescape_value().map_err(|e| syntax(at, e))?;
        attrs.push((name_of(key.local_name().as_ref()), value.into_owned()));
    }
    Ok(Element {
        name: name_of(tag.local_name().as_ref()),
        attrs,
        children: Vec::new(),
        text: String::new(),
        span,
    })
}

/// Names come from a `&str` document, and a prefix ends at an ASCII colon, so they are UTF-8.
fn name_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn attach(element: Element, open: &mut [Element], roots: &mut Vec<Element>) {
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None => roots.push(element),
    }
}

fn push_text(open: &mut [Element], text: &str, at: usize) -> Result<(), XmlError> {
    match open.last_mut() {
        Some(parent) => {
            parent.text.push_str(text);
            Ok(())
        }
        None if trim_xml(text).is_empty() => Ok(()),
        None => Err(XmlError::TextOutsideRoot { offset: at }),
    }
}

#[cfg(test)]
mod tests;
