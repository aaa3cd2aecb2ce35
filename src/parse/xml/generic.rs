//! Any XML document that is not a Windows event export, as one record of dotted paths.
//!
//! Convention: an element's text is at its path from the root (`alert.src`), an attribute at
//! the element's path plus the attribute name (`alert.src.ip`), a child at the path plus the
//! child's name. A path written more than once (repeated elements, or an attribute and a child
//! of the same name) holds an array of the values in document order. Text is trimmed of XML
//! whitespace; an element with no text, attributes or children is an empty string.

use serde_json::Value;

use super::Element;
use crate::parse::Fields;

/// The fields of a document: each root flattened under its own name.
pub(super) fn fields(roots: &[Element]) -> Fields {
    let mut out = Fields::new();
    for root in roots {
        flatten(root, &root.name, &mut out);
    }
    out
}

/// Writes `element` and everything under it at `path`.
pub(super) fn flatten(element: &Element, path: &str, out: &mut Fields) {
    for (name, value) in &element.attrs {
        insert(out, format!("{path}.{name}"), value);
    }
    let text = element.trimmed_text();
    if !text.is_empty() || (element.attrs.is_empty() && element.children.is_empty()) {
        insert(out, path.to_owned(), text);
    }
    for child in &element.children {
        flatten(child, &format!("{path}.{}", child.name), out);
    }
}

/// Sets `key`, turning it into an array when it already has a value.
fn insert(out: &mut Fields, key: String, value: &str) {
    let value = Value::from(value);
    match out.get_mut(&key) {
        None => {
            out.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}
