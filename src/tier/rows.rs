//! PostgreSQL rows into Arrow batches of a [`super::schema`] schema. The rows must come from a
//! query whose columns are the schema's fields in order, read with
//! [`super::schema::select_expr`].

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

/// Builds batches column by column from rows.
pub struct RowBatcher {
    schema: SchemaRef,
    columns: Vec<Column>,
    rows: usize,
}

enum Column {
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
}

impl RowBatcher {
    /// A batcher for `schema`; fails on a column type it cannot read.
    pub fn new(schema: SchemaRef) -> Result<Self, ArrowError> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                Ok(match f.data_type() {
                    DataType::Int16 => Column::Int16(Int16Builder::new()),
                    DataType::Int32 => Column::Int32(Int32Builder::new()),
                    DataType::Int64 => Column::Int64(Int64Builder::new()),
                    DataType::Float64 => Column::Float64(Float64Builder::new()),
                    DataType::Utf8 => Column::Utf8(StringBuilder::new()),
                    DataType::Binary => Column::Binary(BinaryBuilder::new()),
                    DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                        Column::Timestamp(TimestampMicrosecondBuilder::new(), tz.clone())
                    }
                    other => {
                        return Err(ArrowError::NotYetImplemented(format!(
                            "column {}: type {other} cannot be read from PostgreSQL",
                            f.name()
                        )));
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RowBatcher {
            schema,
            columns,
            rows: 0,
        })
    }

    /// Rows appended since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends `row`, whose column `i` is the schema's field `i`.
    pub fn push(&mut self, row: &Row) -> Result<(), tokio_postgres::Error> {
        for (i, column) in self.columns.iter_mut().enumerate() {
            match column {
                Column::Int16(b) => b.append_option(row.try_get::<_, Option<i16>>(i)?),
                Column::Int32(b) => b.append_option(row.try_get::<_, Option<i32>>(i)?),
                Column::Int64(b) => b.append_option(row.try_get::<_, Option<i64>>(i)?),
                Column::Float64(b) => b.append_option(row.try_get::<_, Option<f64>>(i)?),
                Column::Utf8(b) => b.append_option(row.try_get::<_, Option<&str>>(i)?),
                Column::Binary(b) => b.append_option(row.try_get::<_, Option<&[u8]>>(i)?),
                Column::Timestamp(b, _) => b.append_option(
                    row.try_get::<_, Option<DateTime<Utc>>>(i)?
                        .map(|t| t.timestamp_micros()),
                ),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended so far as one batch; the batcher starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| match c {
                Column::Int16(b) => Arc::new(b.finish()) as ArrayRef,
                Column::Int32(b) => Arc::new(b.finish()),
                Column::Int64(b) => Arc::new(b.finish()),
                Column::Float64(b) => Arc::new(b.finish()),
                Column::Utf8(b) => Arc::new(b.finish()),
                Column::Binary(b) => Arc::new(b.finish()),
                Column::Timestamp(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
    }
}
