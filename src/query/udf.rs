//! Functions the query sessions register in place of DataFusion's own.

use std::sync::Arc;

use arrow::array::{ArrayRef, make_array};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::scalar::ScalarValue;

/// `date_trunc`, truncating UTC timestamps by arithmetic.
///
/// DataFusion's own takes a calendar path, row by row, for any timestamp that carries a zone,
/// even for hours and days, which in UTC have fixed lengths and need no calendar. Every time in
/// our tables is UTC. So each time bucket paid for that path, at about 100 ns a row.
/// Here a UTC argument loses its zone on the way in (a change of type only, the values
/// are the same instants), which puts DataFusion on its arithmetic path, and gets it back on
/// the way out. Anything else goes to DataFusion's function untouched.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct UtcDateTrunc {
    inner: Arc<ScalarUDF>,
}

impl UtcDateTrunc {
    pub(crate) fn new() -> Self {
        UtcDateTrunc {
            inner: datafusion::functions::datetime::date_trunc(),
        }
    }
}

/// A zone name that means UTC itself, with no daylight time.
fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "+00:00" | "+00")
}

/// `data_type` with the time zone `tz`, if it is a timestamp.
fn with_zone(data_type: &DataType, tz: Option<Arc<str>>) -> Option<DataType> {
    match data_type {
        DataType::Timestamp(unit, _) => Some(DataType::Timestamp(*unit, tz)),
        _ => None,
    }
}

/// The same values as type `to`: only the time zone differs, so the buffers are shared.
fn retag_array(array: &ArrayRef, to: DataType) -> Result<ArrayRef> {
    let data = array.to_data().into_builder().data_type(to).build()?;
    Ok(make_array(data))
}

fn retag_scalar(value: &ScalarValue, tz: Option<Arc<str>>) -> Option<ScalarValue> {
    use ScalarValue as S;
    Some(match value {
        S::TimestampSecond(v, _) => S::TimestampSecond(*v, tz),
        S::TimestampMillisecond(v, _) => S::TimestampMillisecond(*v, tz),
        S::TimestampMicrosecond(v, _) => S::TimestampMicrosecond(*v, tz),
        S::TimestampNanosecond(v, _) => S::TimestampNanosecond(*v, tz),
        _ => return None,
    })
}

/// The zone of a timestamp argument, if it is UTC.
fn utc_zone(value: &ColumnarValue) -> Option<Arc<str>> {
    match value.data_type() {
        DataType::Timestamp(_, Some(tz)) if is_utc(&tz) => Some(tz),
        _ => None,
    }
}

fn retag(value: &ColumnarValue, tz: Option<Arc<str>>) -> Result<Option<ColumnarValue>> {
    Ok(match value {
        ColumnarValue::Array(array) => match with_zone(array.data_type(), tz) {
            Some(to) => Some(ColumnarValue::Array(retag_array(array, to)?)),
            None => None,
        },
        ColumnarValue::Scalar(v) => retag_scalar(v, tz).map(ColumnarValue::Scalar),
    })
}

impl ScalarUDFImpl for UtcDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = args.args.get(1).and_then(utc_zone);
        let (Some(tz), Some(time)) = (zone, args.args.get(1)) else {
            return self.inner.invoke_with_args(args);
        };
        let Some(naive) = retag(time, None)? else {
            return self.inner.invoke_with_args(args);
        };
        // The arguments and the promised result as DataFusion's function checks them: zoneless.
        args.args[1] = naive;
        if let Some(field) = args.arg_fields.get_mut(1)
            && let Some(to) = with_zone(field.data_type(), None)
        {
            *field = Arc::new(field.as_ref().clone().with_data_type(to));
        }
        if let Some(to) = with_zone(args.return_field.data_type(), None) {
            args.return_field = Arc::new(args.return_field.as_ref().clone().with_data_type(to));
        }
        let truncated = self.inner.invoke_with_args(args)?;
        Ok(retag(&truncated, Some(tz))?.unwrap_or(truncated))
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, TimeUnit};
    use datafusion::config::ConfigOptions;

    /// Runs `udf` on `granularity` and `times` (microseconds in zone `tz`).
    fn trunc(udf: &dyn ScalarUDFImpl, granularity: &str, times: &[i64], tz: &str) -> TimestampMicrosecondArray {
        let array: ArrayRef = Arc::new(TimestampMicrosecondArray::from(times.to_vec()).with_timezone(tz));
        let unit = ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.into())));
        let args = ScalarFunctionArgs {
            arg_fields: vec![
                Arc::new(Field::new("g", DataType::Utf8, false)),
                Arc::new(Field::new("t", array.data_type().clone(), true)),
            ],
            args: vec![unit, ColumnarValue::Array(array)],
            number_rows: times.len(),
            return_field: Arc::new(Field::new(
                "r",
                DataType::Timestamp(TimeUnit::Microsecond, Some(tz.into())),
                true,
            )),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let ColumnarValue::Array(out) = udf.invoke_with_args(args).expect("truncates") else {
            panic!("an array in, an array out");
        };
        out.as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("microseconds")
            .clone()
    }

    #[test]
    fn utc_buckets_match_datafusions_own_and_keep_their_zone() {
        // Around a day's start, before 1970 too, and a leap day.
        let times = [
            0,
            -1,
            1_763_683_199_999_999,
            1_763_683_200_000_000,
            1_709_208_000_123_456,
            -86_400_000_001,
        ];
        let ours = UtcDateTrunc::new();
        let theirs = datafusion::functions::datetime::date_trunc();
        for granularity in ["second", "minute", "hour", "day", "week", "month", "year"] {
            let a = trunc(&ours, granularity, &times, "UTC");
            let b = trunc(theirs.inner().as_ref(), granularity, &times, "UTC");
            assert_eq!(a, b, "{granularity}");
            assert_eq!(a.timezone(), Some("UTC"));
        }
    }

    #[test]
    fn other_zones_go_to_datafusions_function() {
        let times = [1_763_683_200_000_000, 1_743_296_400_000_000];
        let ours = trunc(&UtcDateTrunc::new(), "day", &times, "Europe/Berlin");
        let theirs = trunc(
            datafusion::functions::datetime::date_trunc().inner().as_ref(),
            "day",
            &times,
            "Europe/Berlin",
        );
        assert_eq!(ours, theirs);
        // Midnight in Berlin is not midnight in UTC.
        assert_ne!(ours.value(0) % 86_400_000_000, 0);
    }
}
