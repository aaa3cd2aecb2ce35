//! CSV documents with a header row: one record per data row, its fields named by the header.
//! Reading is the `csv` crate's (RFC 4180 quoting, embedded newlines, CRLF or LF); this module
//! adds the naming, the spans and the errors. It knows nothing of transport or storage.
//!
//! Conventions: header names are used as written, trimmed, so ECS names (`source.ip`) work
//! directly; an empty header name becomes `column<N>` (1-based); a repeated name is an error.
//! Cell values are trimmed strings and empty cells are left out; a row whose cells are all
//! empty is skipped. An `@timestamp` column is rewritten as RFC 3339 UTC when it parses (see
//! `utc_timestamp`) and kept as written otherwise. A row with a different number of fields
//! than the header makes the whole document an error naming that row's line: a ragged row
//! usually means the columns of every row after it are misread too.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

use super::{DocRecord, Fields, ParseContext, ecs::truncate_to_micros};

/// Why a CSV document could not be read. `line` is the 1-based line where the row starts,
/// `offset` the 0-based byte offset of that row in the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("line {line} (byte offset {offset}): {found} fields where the header has {expected}")]
    FieldCount {
        line: usize,
        offset: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line} (byte offset {offset}): header name {name:?} is used for more than one column")]
    DuplicateHeader { line: usize, offset: usize, name: String },
    #[error("malformed CSV at line {line} (byte offset {offset}): {reason}")]
    Malformed { line: usize, offset: usize, reason: String },
}

impl CsvError {
    /// The 1-based line of the row at fault.
    pub fn line(&self) -> usize {
        match self {
            CsvError::FieldCount { line, .. }
            | CsvError::DuplicateHeader { line, .. }
            | CsvError::Malformed { line, .. } => *line,
        }
    }

    /// The byte offset of the row at fault.
    pub fn offset(&self) -> usize {
        match self {
            CsvError::FieldCount { offset, .. }
            | CsvError::DuplicateHeader { offset, .. }
            | CsvError::Malformed { offset, .. } => *offset,
        }
    }
}

/// A CSV document with a header row; one [`DocRecord`] per data row (span = that row's bytes,
/// without its line terminator). A document with no rows after the header has no records.
pub fn parse(doc: &str, ctx: &ParseContext) -> Result<Vec<DocRecord>, CsvError> {
    // The csv crate would read a byte order mark as part of the first header name.
    let base = doc.len() - doc.trim_start_matches('\u{feff}').len();
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&doc.as_bytes()[base..]);
    let mut rows = Rows {
        doc,
        offset: 0,
        line: 1,
    };
    let mut row = ::csv::StringRecord::new();
    if !rows.read(&mut reader, &mut row, base)? {
        return Ok(Vec::new());
    }
    let names = header_names(&row, rows.locate(row.position(), base))?;
    let mut records = Vec::new();
    while rows.read(&mut reader, &mut row, base)? {
        let (line, offset) = rows.locate(row.position(), base);
        if row.len() != names.len() {
            return Err(CsvError::FieldCount {
                line,
                offset,
                expected: names.len(),
                found: row.len(),
            });
        }
        let mut fields = Fields::new();
        for (name, cell) in names.iter().zip(row.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let value = match name.as_str() {
                "@timestamp" => utc_timestamp(cell, ctx.tz).unwrap_or_else(|| cell.to_owned()),
                _ => cell.to_owned(),
            };
            fields.insert(name.clone(), Value::String(value));
        }
        if fields.is_empty() {
            continue;
        }
        let end = base.saturating_add(byte_offset(reader.position().byte()));
        let text = doc.get(offset..end).unwrap_or_default();
        records.push(DocRecord {
            span: offset..offset + text.trim_end_matches(['\r', '\n']).len(),
            fields,
        });
    }
    Ok(records)
}

/// Where rows start. The csv crate puts a row's position before the previous row's line
/// terminator (and any blank lines); this finds the row's first byte and counts lines to it.
struct Rows<'a> {
    doc: &'a str,
    offset: usize,
    line: usize,
}

impl Rows<'_> {
    /// Reads the next row into `row`; false at the end of the document.
    fn read(
        &mut self,
        reader: &mut ::csv::Reader<&[u8]>,
        row: &mut ::csv::StringRecord,
        base: usize,
    ) -> Result<bool, CsvError> {
        reader.read_record(row).map_err(|e| {
            let (line, offset) = self.locate(e.position(), base);
            CsvError::Malformed {
                line,
                offset,
                reason: e.to_string(),
            }
        })
    }

    /// The 1-based line and byte offset of the row the crate placed at `position`.
    fn locate(&mut self, position: Option<&::csv::Position>, base: usize) -> (usize, usize) {
        let from = base.saturating_add(position.map_or(0, |p| byte_offset(p.byte())));
        let Some(rest) = self.doc.get(from..).filter(|_| from >= self.offset) else {
            return (self.line, self.offset);
        };
        let start = from + (rest.len() - rest.trim_start_matches(['\r', '\n']).len());
        let mut bytes = self.doc.as_bytes()[self.offset..start].iter().peekable();
        while let Some(&b) = bytes.next() {
            // CRLF, LF and a lone CR each end a line.
            if b == b'\n' || (b == b'\r' && bytes.peek() != Some(&&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = start;
        (self.line, start)
    }
}

fn header_names(header: &::csv::StringRecord, (line, offset): (usize, usize)) -> Result<Vec<String>, CsvError> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    let mut seen = HashSet::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let name = match name.trim() {
            "" => format!("column{}", i + 1),
            named => named.to_owned(),
        };
        if !seen.insert(name.clone()) {
            return Err(CsvError::DuplicateHeader { line, offset, name });
        }
        names.push(name);
    }
    Ok(names)
}

fn byte_offset(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `text` as RFC 3339 in UTC with microseconds: RFC 3339 with any offset, or a date and time
/// without one (`2024-03-12 08:41:27`, `T` or space, optional fraction) read in `tz` (UTC when
/// `None`). `None` when it is neither. Shared with the other document parsers.
pub(super) fn utc_timestamp(text: &str, tz: Option<chrono_tz::Tz>) -> Option<String> {
    let text = text.trim();
    let time = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
            match tz {
                Some(tz) => tz.from_local_datetime(&naive).earliest()?.with_timezone(&Utc),
                None => naive.and_utc(),
            }
        }
    };
    Some(truncate_to_micros(time).to_rfc3339_opts(SecondsFormat::Micros, true))
}

#[cfg(test)]
mod tests;
