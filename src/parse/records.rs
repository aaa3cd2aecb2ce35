//! Framing of a structured ingest body: a JSON array of objects, or NDJSON (one value per
//! line). Each record keeps the exact bytes it came from, for `raw` and for the dead letters.

use serde_json::value::RawValue;

/// One record of a body: its index in the request, its bytes, and the parsed JSON.
#[derive(Debug)]
pub struct Record<'a> {
    pub index: usize,
    pub raw: &'a [u8],
    pub value: serde_json::Value,
}

/// The body is not valid JSON. Line and column are 1-based; `offset` is the 0-based byte
/// offset into the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed JSON at line {line}, column {column} (byte offset {offset}): {reason}")]
pub struct FrameError {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub reason: String,
}

/// Splits `body` into records. A body whose first non-blank byte is `[` is one JSON array;
/// anything else is NDJSON, where blank lines are skipped.
pub fn split_records(body: &[u8]) -> Result<Vec<Record<'_>>, FrameError> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    match first {
        None => Ok(Vec::new()),
        Some(i) if body[i] == b'[' => split_array(body),
        Some(_) => split_ndjson(body),
    }
}

fn split_array(body: &[u8]) -> Result<Vec<Record<'_>>, FrameError> {
    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| frame_error(body, 0, &e))?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let text = item.get();
            let value = serde_json::from_str(text).map_err(|e| {
                let start = subslice_offset(body, text.as_bytes());
                frame_error(body, start, &e)
            })?;
            Ok(Record {
                index,
                raw: text.as_bytes(),
                value,
            })
        })
        .collect()
}

fn split_ndjson(body: &[u8]) -> Result<Vec<Record<'_>>, FrameError> {
    let mut records = Vec::new();
    let mut start = 0;
    for (line_no, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_start = start;
        start += line.len() + 1;
        let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
        if trimmed.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = serde_json::from_slice(trimmed).map_err(|e| {
            let column = e.column().max(1);
            FrameError {
                line: line_no + 1,
                column,
                offset: line_start + column - 1,
                reason: strip_position(&e),
            }
        })?;
        records.push(Record {
            index: records.len(),
            raw: trimmed,
            value,
        });
    }
    Ok(records)
}

/// Builds the error for a parse that started at byte `base` of `body`.
fn frame_error(body: &[u8], base: usize, e: &serde_json::Error) -> FrameError {
    let (line, column) = (e.line().max(1), e.column().max(1));
    // serde_json counts lines and columns from where parsing began; translate to the body.
    let mut offset = base;
    for _ in 1..line {
        match body[offset..].iter().position(|&b| b == b'\n') {
            Some(nl) => offset += nl + 1,
            None => break,
        }
    }
    offset = (offset + column - 1).min(body.len());
    let body_line = body[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = body[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    FrameError {
        line: body_line,
        column: offset - line_start + 1,
        offset,
        reason: strip_position(e),
    }
}

/// serde_json appends " at line L column C"; the caller reports positions itself.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn subslice_offset(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_records_keep_their_exact_bytes_and_skip_blank_lines() {
        let body = b"{\"a\":1}\r\n\n  \n{\"b\": [1, 2]}";
        let records = split_records(body).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].raw, b"{\"a\":1}");
        assert_eq!(records[1].raw, b"{\"b\": [1, 2]}");
        assert_eq!(records[1].index, 1);
        assert_eq!(records[1].value["b"][1], 2);
    }

    #[test]
    fn array_records_keep_each_element_as_written() {
        let body = b" [ {\"a\": 1} ,\n {\"b\":\"x\"} ]";
        let records = split_records(body).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].raw, b"{\"a\": 1}");
        assert_eq!(records[1].raw, b"{\"b\":\"x\"}");
    }

    #[test]
    fn malformed_ndjson_names_the_line_column_and_offset() {
        let body = b"{\"a\":1}\n{\"b\":}\n";
        let err = split_records(body).unwrap_err();
        assert_eq!((err.line, err.column), (2, 6));
        assert_eq!(err.offset, 13);
        assert_eq!(body[err.offset], b'}');
    }

    #[test]
    fn malformed_array_names_the_line_and_offset_in_the_body() {
        let body = b"[\n {\"a\":1},\n {\"b\" 2}\n]";
        let err = split_records(body).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(body[err.offset], b'2');
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn an_empty_body_has_no_records() {
        assert!(split_records(b"  \n").unwrap().is_empty());
        assert!(split_records(b"[]").unwrap().is_empty());
    }
}
