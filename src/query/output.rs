//! A hunt's result as a byte stream: a JSON document, NDJSON, CSV, an Arrow IPC stream or a
//! Parquet file, written batch by batch. JSON and NDJSON end with `partial` and the scan
//! statistics (and an `error` if the hunt failed midway); Parquet keeps them in its footer.

use std::str::FromStr;

use arrow::array::RecordBatch;
use arrow::csv;
use arrow::ipc::writer::StreamWriter;
use arrow::json::WriterBuilder;
use arrow::json::writer::LineDelimited;
use bytes::Bytes;
use futures_util::Stream;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde_json::json;

use super::{Error, Hunt};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Ndjson,
    Csv,
    Arrow,
    Parquet,
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            "arrow" => Format::Arrow,
            "parquet" => Format::Parquet,
            other => {
                return Err(Error::BadRequest(format!(
                    "format {other:?} is not one of json, ndjson, csv, arrow, parquet"
                )));
            }
        })
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Rows in a Parquet row group of a hunt result.
const PARQUET_ROW_GROUP: usize = 65_536;

enum Writer {
    Json { rows_written: bool },
    Ndjson,
    Csv { header_written: bool },
    Arrow(StreamWriter<Vec<u8>>),
    Parquet(ArrowWriter<Vec<u8>>),
}

struct Encoder {
    hunt: Hunt,
    writer: Writer,
    done: bool,
}

/// Encodes `hunt` as `format`, batch by batch. A failure after the first bytes ends JSON and
/// NDJSON with an `error` member; the binary formats and CSV end the stream with an error.
pub fn encode(hunt: Hunt, format: Format) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let start = Encoder::start(hunt, format);
    futures_util::stream::unfold(Some(start), |state| async move {
        let (mut encoder, head) = match state? {
            Ok(started) => started,
            Err(e) => return Some((Err(std::io::Error::other(e)), None)),
        };
        if !head.is_empty() {
            return Some((Ok(Bytes::from(head)), Some(Ok((encoder, Vec::new())))));
        }
        match encoder.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(Ok((encoder, Vec::new()))))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
}

impl Encoder {
    /// The encoder and the bytes that open the output.
    fn start(hunt: Hunt, format: Format) -> Result<(Encoder, Vec<u8>), String> {
        let schema = hunt.schema();
        let (writer, head) = match format {
            Format::Json => {
                let columns: Vec<_> = schema
                    .fields()
                    .iter()
                    .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
                    .collect();
                let head = format!("{{\"columns\":{},\"rows\":[", serde_json::Value::Array(columns));
                (Writer::Json { rows_written: false }, head.into_bytes())
            }
            Format::Ndjson => (Writer::Ndjson, Vec::new()),
            Format::Csv => (Writer::Csv { header_written: false }, Vec::new()),
            Format::Arrow => {
                let mut w = StreamWriter::try_new(Vec::new(), &schema).map_err(|e| e.to_string())?;
                let head = std::mem::take(w.get_mut());
                (Writer::Arrow(w), head)
            }
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
                    .build();
                let w = ArrowWriter::try_new(Vec::new(), schema, Some(props)).map_err(|e| e.to_string())?;
                (Writer::Parquet(w), Vec::new())
            }
        };
        let encoder = Encoder {
            hunt,
            writer,
            done: false,
        };
        Ok((encoder, head))
    }

    /// The next non-empty piece of output, or `None` after the last.
    async fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        while !self.done {
            let chunk = match self.hunt.next_batch().await {
                Ok(Some(batch)) => self.rows(&batch).map_err(std::io::Error::other)?,
                Ok(None) => {
                    self.done = true;
                    self.tail(None).map_err(std::io::Error::other)?
                }
                Err(e) => {
                    self.done = true;
                    tracing::warn!(error = %e, "hunt failed while streaming its result");
                    match self.writer {
                        Writer::Json { .. } | Writer::Ndjson => self.tail(Some(&e)).map_err(std::io::Error::other)?,
                        _ => return Err(std::io::Error::other(e.to_string())),
                    }
                }
            };
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
        }
        Ok(None)
    }

    fn rows(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        match &mut self.writer {
            Writer::Json { rows_written } => {
                let lines = ndjson(batch)?;
                let mut out = Vec::with_capacity(lines.len() + 1);
                for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    if *rows_written {
                        out.push(b',');
                    }
                    out.extend_from_slice(line);
                    *rows_written = true;
                }
                Ok(out)
            }
            Writer::Ndjson => ndjson(batch),
            Writer::Csv { header_written } => {
                let mut w = csv::WriterBuilder::new()
                    .with_header(!*header_written)
                    .build(Vec::new());
                w.write(batch).map_err(|x| e(&x))?;
                *header_written = true;
                Ok(w.into_inner())
            }
            Writer::Arrow(w) => {
                w.write(batch).map_err(|x| e(&x))?;
                Ok(std::mem::take(w.get_mut()))
            }
            Writer::Parquet(w) => {
                w.write(batch).map_err(|x| e(&x))?;
                // Written row groups leave memory as soon as they are complete.
                Ok(std::mem::take(w.inner_mut()))
            }
        }
    }

    /// The bytes that close the output, with `partial`, the statistics and any error.
    fn tail(&mut self, error: Option<&Error>) -> Result<Vec<u8>, String> {
        let mut summary = json!({
            "partial": self.hunt.partial() || error.is_some(),
            "stats": self.hunt.stats(),
        });
        if let Some(e) = error {
            summary["error"] = json!(e.to_string());
        }
        match &mut self.writer {
            Writer::Json { .. } => {
                let summary = summary.to_string();
                // `{"partial":...}` becomes the document's last members.
                Ok(format!("],{}", &summary[1..]).into_bytes())
            }
            Writer::Ndjson => Ok(format!("{summary}\n").into_bytes()),
            Writer::Csv { .. } => Ok(Vec::new()),
            Writer::Arrow(w) => {
                w.finish().map_err(|e| e.to_string())?;
                Ok(std::mem::take(w.get_mut()))
            }
            Writer::Parquet(w) => {
                w.append_key_value_metadata(KeyValue::new("tidemark.partial".into(), summary["partial"].to_string()));
                w.append_key_value_metadata(KeyValue::new("tidemark.stats".into(), summary["stats"].to_string()));
                w.finish().map_err(|e| e.to_string())?;
                Ok(std::mem::take(w.inner_mut()))
            }
        }
    }
}

/// The batch as NDJSON, nulls written out so every row names every column.
fn ndjson(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let mut w = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, LineDelimited>(Vec::new());
    w.write(batch).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(w.into_inner())
}
