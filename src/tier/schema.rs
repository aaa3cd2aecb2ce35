//! The one Arrow schema of each SQL table, shared by the Parquet files of the cold tier and the
//! hot tier's rows as a hunt sees them. Both tiers must produce exactly these columns, so a
//! query over their union cannot tell where a row came from.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Timestamps are microseconds in UTC, as PostgreSQL keeps `timestamptz`.
fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `events` as hunts see it: `inet` columns as their text form, `fields` as JSON text.
pub fn events() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("position", DataType::Int64, false),
            Field::new("recorded_at", timestamp(), false),
            Field::new("tenant_id", DataType::Utf8, false),
            Field::new("event_time", timestamp(), true),
            Field::new("kind", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("event_id", DataType::Utf8, true),
            Field::new("severity", DataType::Int16, true),
            Field::new("host_name", DataType::Utf8, true),
            Field::new("source_ip", DataType::Utf8, true),
            Field::new("source_port", DataType::Int32, true),
            Field::new("destination_ip", DataType::Utf8, true),
            Field::new("destination_port", DataType::Int32, true),
            Field::new("user_name", DataType::Utf8, true),
            Field::new("process_name", DataType::Utf8, true),
            Field::new("event_action", DataType::Utf8, true),
            Field::new("event_outcome", DataType::Utf8, true),
            Field::new("message", DataType::Utf8, true),
            Field::new("fields", DataType::Utf8, false),
            Field::new("raw", DataType::Binary, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// `metrics` as hunts see it: `labels` as JSON text.
pub fn metrics() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("recorded_at", timestamp(), false),
            Field::new("tenant_id", DataType::Utf8, false),
            Field::new("time", timestamp(), false),
            Field::new("name", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
            Field::new("labels", DataType::Utf8, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// Whether column `name` is an `inet` in PostgreSQL. Tidemark writes host addresses only
/// (full netmask), so `host()` is one to one on them: equal addresses, equal texts.
pub fn is_address(name: &str) -> bool {
    matches!(name, "source_ip" | "destination_ip")
}

/// The SQL expression that reads column `name` of `table` from PostgreSQL in the Arrow type
/// above (`inet` → text without the `/32`, `jsonb` → text).
pub fn select_expr(name: &str) -> String {
    match name {
        _ if is_address(name) => format!("host({name}) AS {name}"),
        "fields" | "labels" => format!("{name}::text AS {name}"),
        other => other.to_owned(),
    }
}

/// Columns that get Parquet bloom filters: high-cardinality values a hunt looks up one at a time.
pub const BLOOM_COLUMNS: [&str; 5] = ["source_ip", "destination_ip", "user_name", "host_name", "event_id"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_events_column_has_a_select_expression_naming_it() {
        for field in events().fields() {
            let expr = select_expr(field.name());
            assert!(expr.ends_with(field.name().as_str()), "{expr}");
        }
        assert_eq!(select_expr("source_ip"), "host(source_ip) AS source_ip");
    }

    #[test]
    fn bloom_columns_exist() {
        for c in BLOOM_COLUMNS {
            assert!(events().field_with_name(c).is_ok(), "{c}");
        }
    }
}
