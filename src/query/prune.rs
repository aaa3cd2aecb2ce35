//! File pruning from pushed-down filters: the bounds on position, `recorded_at`, the table's
//! time column and kind that the manifest can use to skip whole Parquet files.

use chrono::{DateTime, Utc};

use super::pushdown::{Op, Pred, Value};
use crate::tier::FileFilter;

/// Narrows `filter` with the bounds that the conjunct `pred` implies on position, recorded_at,
/// `time_col` and kind. Only ever narrows to a superset of the matching rows' files.
pub(crate) fn narrow(filter: &mut FileFilter, pred: &Pred, time_col: &str) {
    fn bounds(op: Op, v: &Value) -> (Option<Value>, Option<Value>) {
        match op {
            Op::Eq => (Some(v.clone()), Some(v.clone())),
            Op::Gt | Op::GtEq => (Some(v.clone()), None),
            Op::Lt | Op::LtEq => (None, Some(v.clone())),
            Op::NotEq => (None, None),
        }
    }
    let (col, low, high) = match pred {
        Pred::Cmp { col, op, value } => {
            let (lo, hi) = bounds(*op, value);
            (col.as_str(), lo, hi)
        }
        Pred::Between {
            col,
            low,
            high,
            negated: false,
        } => (col.as_str(), Some(low.clone()), Some(high.clone())),
        Pred::In {
            col,
            values,
            negated: false,
        } if col == "kind" => {
            let kinds: Vec<String> = values
                .iter()
                .filter_map(|v| match v {
                    Value::Text(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            restrict_kinds(filter, kinds);
            return;
        }
        Pred::And(a, b) => {
            narrow(filter, a, time_col);
            narrow(filter, b, time_col);
            return;
        }
        _ => return,
    };
    match col {
        "position" => {
            if let Some(Value::Int(v)) = low {
                filter.min_position = Some(filter.min_position.map_or(v, |m| m.max(v)));
            }
            if let Some(Value::Int(v)) = high {
                filter.max_position = Some(filter.max_position.map_or(v, |m| m.min(v)));
            }
        }
        "recorded_at" => narrow_time(&mut filter.recorded_from, &mut filter.recorded_to, low, high),
        c if c == time_col => narrow_time(&mut filter.time_from, &mut filter.time_to, low, high),
        "kind" => {
            if let (Some(Value::Text(a)), Some(Value::Text(b))) = (&low, &high)
                && a == b
            {
                restrict_kinds(filter, vec![a.clone()]);
            }
        }
        _ => {}
    }
}

fn narrow_time(
    from: &mut Option<DateTime<Utc>>,
    to: &mut Option<DateTime<Utc>>,
    low: Option<Value>,
    high: Option<Value>,
) {
    if let Some(Value::Time(t)) = low {
        *from = Some(from.map_or(t, |f| f.max(t)));
    }
    if let Some(Value::Time(t)) = high {
        *to = Some(to.map_or(t, |f| f.min(t)));
    }
}

fn restrict_kinds(filter: &mut FileFilter, kinds: Vec<String>) {
    filter.kinds = Some(match filter.kinds.take() {
        Some(existing) => existing.into_iter().filter(|k| kinds.contains(k)).collect(),
        None => kinds,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::pushdown::translate;
    use datafusion::prelude::{col, lit};

    fn schema() -> std::sync::Arc<arrow::datatypes::Schema> {
        crate::tier::schema::events()
    }

    #[test]
    fn conjuncts_narrow_the_file_filter_and_disjunctions_do_not() {
        let mut f = FileFilter::default();
        let s = schema();
        for e in [
            col("position").gt_eq(lit(10i64)),
            col("position").lt(lit(50i64)),
            col("position").between(lit(20i64), lit(90i64)),
            col("kind").in_list(vec![lit("log"), lit("alert")], false),
            col("kind").eq(lit("alert")),
        ] {
            narrow(&mut f, &translate(&e, &s).unwrap(), "event_time");
        }
        assert_eq!((f.min_position, f.max_position), (Some(20), Some(50)));
        assert_eq!(f.kinds, Some(vec!["alert".to_owned()]));
        let mut g = FileFilter::default();
        let or = translate(&col("position").gt(lit(5i64)).or(col("position").lt(lit(2i64))), &s).unwrap();
        narrow(&mut g, &or, "event_time");
        assert_eq!((g.min_position, g.max_position), (None, None));
    }
}
