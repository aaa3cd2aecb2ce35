//! Which filters of a scan PostgreSQL can evaluate exactly as DataFusion would, their
//! parameterized SQL, and the file-pruning bounds they imply. Values are always bound as
//! parameters, never written into the SQL text.

use arrow::datatypes::{DataType, Schema};
use chrono::{DateTime, Utc};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};
use datafusion::scalar::ScalarValue;
use tokio_postgres::types::{ToSql, Type};

use crate::tier::schema;

/// Most values of an `IN` list pushed down; longer lists are left to DataFusion.
const MAX_IN_LIST: usize = 1_000;

/// A literal bound as a query parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
    Text(String),
    Time(DateTime<Utc>),
}

impl Value {
    pub(crate) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::Float(v) => v,
            Value::Text(v) => v,
            Value::Time(v) => v,
        }
    }

    fn pg_type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "bigint",
            Value::Float(_) => "double precision",
            Value::Text(_) => "text",
            Value::Time(_) => "timestamptz",
        }
    }

    pub(crate) fn pg_type(&self) -> Type {
        match self {
            Value::Int(_) => Type::INT8,
            Value::Float(_) => Type::FLOAT8,
            Value::Text(_) => Type::TEXT,
            Value::Time(_) => Type::TIMESTAMPTZ,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Op {
    fn from_operator(op: Operator) -> Option<Op> {
        Some(match op {
            Operator::Eq => Op::Eq,
            Operator::NotEq => Op::NotEq,
            Operator::Lt => Op::Lt,
            Operator::LtEq => Op::LtEq,
            Operator::Gt => Op::Gt,
            Operator::GtEq => Op::GtEq,
            _ => return None,
        })
    }

    /// The operator with its operands swapped: `5 < x` is `x > 5`.
    fn flipped(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::LtEq => Op::GtEq,
            Op::Gt => Op::Lt,
            Op::GtEq => Op::LtEq,
            same => same,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::NotEq => "<>",
            Op::Lt => "<",
            Op::LtEq => "<=",
            Op::Gt => ">",
            Op::GtEq => ">=",
        }
    }
}

/// A filter PostgreSQL evaluates with the same result (NULLs included) as DataFusion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pred {
    Cmp {
        col: String,
        op: Op,
        value: Value,
    },
    In {
        col: String,
        values: Vec<Value>,
        negated: bool,
    },
    Between {
        col: String,
        low: Value,
        high: Value,
        negated: bool,
    },
    IsNull {
        col: String,
        negated: bool,
    },
    Like {
        col: String,
        pattern: String,
        negated: bool,
    },
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

/// The kind of value a column holds, for matching literals to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Int,
    Float,
    Text,
    Time,
}

/// Columns filters may name: JSON text and raw bytes are left to DataFusion, because their
/// text form is not guaranteed to be byte-identical across the two tiers.
fn column_type(schema: &Schema, name: &str) -> Option<ColType> {
    if matches!(name, "fields" | "labels" | "raw") {
        return None;
    }
    let field = schema.field_with_name(name).ok()?;
    Some(match field.data_type() {
        DataType::Int16 | DataType::Int32 | DataType::Int64 => ColType::Int,
        DataType::Float64 => ColType::Float,
        DataType::Utf8 | DataType::Utf8View => ColType::Text,
        DataType::Timestamp(..) => ColType::Time,
        _ => return None,
    })
}

/// The literal as a parameter for a column of type `ty`, if the comparison means the same there.
fn value_for(scalar: &ScalarValue, ty: ColType) -> Option<Value> {
    use ScalarValue as S;
    let int = match scalar {
        S::Int8(Some(v)) => Some(i64::from(*v)),
        S::Int16(Some(v)) => Some(i64::from(*v)),
        S::Int32(Some(v)) => Some(i64::from(*v)),
        S::Int64(Some(v)) => Some(*v),
        S::UInt8(Some(v)) => Some(i64::from(*v)),
        S::UInt16(Some(v)) => Some(i64::from(*v)),
        S::UInt32(Some(v)) => Some(i64::from(*v)),
        S::UInt64(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    };
    match ty {
        ColType::Int => int.map(Value::Int),
        ColType::Float => match scalar {
            S::Float64(Some(v)) => Some(Value::Float(*v)),
            S::Float32(Some(v)) => Some(Value::Float(f64::from(*v))),
            _ => int.map(|v| Value::Float(v as f64)),
        },
        ColType::Text => match scalar {
            S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v)) => Some(Value::Text(v.clone())),
            _ => None,
        },
        ColType::Time => {
            let micros = match scalar {
                S::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000)?,
                S::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000)?,
                S::TimestampMicrosecond(Some(v), _) => *v,
                // Sub-microsecond bounds would compare differently at PostgreSQL's precision.
                S::TimestampNanosecond(Some(v), _) if v % 1_000 == 0 => v / 1_000,
                _ => return None,
            };
            DateTime::from_timestamp_micros(micros).map(Value::Time)
        }
    }
}

fn column<'a>(expr: &'a Expr, schema: &Schema) -> Option<(&'a str, ColType)> {
    match expr {
        Expr::Column(c) => column_type(schema, &c.name).map(|ty| (c.name.as_str(), ty)),
        _ => None,
    }
}

fn literal(expr: &Expr, ty: ColType) -> Option<Value> {
    match expr {
        Expr::Literal(scalar, _) => value_for(scalar, ty),
        _ => None,
    }
}

/// The filter as a [`Pred`], if PostgreSQL can evaluate all of it exactly.
pub(crate) fn translate(expr: &Expr, schema: &Schema) -> Option<Pred> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => Some(Pred::And(
                Box::new(translate(left, schema)?),
                Box::new(translate(right, schema)?),
            )),
            Operator::Or => Some(Pred::Or(
                Box::new(translate(left, schema)?),
                Box::new(translate(right, schema)?),
            )),
            _ => {
                let op = Op::from_operator(*op)?;
                if let Some((col, ty)) = column(left, schema) {
                    let value = literal(right, ty)?;
                    return Some(Pred::Cmp {
                        col: col.to_owned(),
                        op,
                        value,
                    });
                }
                let (col, ty) = column(right, schema)?;
                let value = literal(left, ty)?;
                Some(Pred::Cmp {
                    col: col.to_owned(),
                    op: op.flipped(),
                    value,
                })
            }
        },
        Expr::Not(inner) => Some(Pred::Not(Box::new(translate(inner, schema)?))),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            let (col, _) = column(inner, schema)?;
            Some(Pred::IsNull {
                col: col.to_owned(),
                negated: matches!(expr, Expr::IsNotNull(_)),
            })
        }
        Expr::InList(list) => {
            let (col, ty) = column(&list.expr, schema)?;
            if list.list.is_empty() || list.list.len() > MAX_IN_LIST {
                return None;
            }
            let values = list.list.iter().map(|e| literal(e, ty)).collect::<Option<Vec<_>>>()?;
            Some(Pred::In {
                col: col.to_owned(),
                values,
                negated: list.negated,
            })
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let (col, ty) = column(expr, schema)?;
            Some(Pred::Between {
                col: col.to_owned(),
                low: literal(low, ty)?,
                high: literal(high, ty)?,
                negated: *negated,
            })
        }
        Expr::Like(like) if same_like(like) => {
            let Like {
                negated, expr, pattern, ..
            } = like;
            let (col, ColType::Text) = column(expr, schema)? else {
                return None;
            };
            let Value::Text(pattern) = literal(pattern, ColType::Text)? else {
                return None;
            };
            Some(Pred::Like {
                col: col.to_owned(),
                pattern,
                negated: *negated,
            })
        }
        _ => None,
    }
}

/// `text` as an address PostgreSQL's `host()` prints exactly so: then `ip = text::inet` selects
/// the rows `host(ip) = text` does, without converting every row's address to text.
fn canonical_ip(text: &str) -> Option<std::net::IpAddr> {
    let ip: std::net::IpAddr = text.parse().ok()?;
    let plain = match ip {
        std::net::IpAddr::V4(_) => true,
        // PostgreSQL prints IPv4-mapped and -compatible addresses in dotted form.
        std::net::IpAddr::V6(v6) => v6.to_ipv4().is_none(),
    };
    (plain && ip.to_string() == text).then_some(ip)
}

/// A `LIKE` PostgreSQL evaluates as DataFusion does: case-sensitive, backslash escapes.
pub(crate) fn same_like(like: &Like) -> bool {
    matches!(like.escape_char, None | Some('\\')) && !like.case_insensitive
}

/// The PostgreSQL expression of column `col`, in the type the Arrow schema gives it.
pub(crate) fn pg_column(col: &str) -> String {
    if schema::is_address(col) {
        format!("host(\"{col}\")")
    } else {
        format!("\"{col}\"")
    }
}

/// Parameterized SQL under construction: fragments refer to `params` by `$n`.
#[derive(Debug, Default)]
pub(crate) struct SqlBuilder {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

impl SqlBuilder {
    /// Appends `value` as the next parameter and returns its placeholder, typed.
    pub(crate) fn bind(&mut self, value: Value) -> String {
        let ty = value.pg_type_name();
        self.params.push(value);
        format!("${}::{ty}", self.params.len())
    }

    /// Appends `pred` as SQL.
    pub(crate) fn push_pred(&mut self, pred: &Pred) {
        match pred {
            Pred::Cmp {
                col,
                op: op @ (Op::Eq | Op::NotEq),
                value: Value::Text(text),
            } if schema::is_address(col) && canonical_ip(text).is_some() => {
                let p = self.bind(Value::Text(text.clone()));
                self.sql.push_str(&format!("\"{col}\" {} {p}::inet", op.sql()));
            }
            Pred::In { col, values, negated }
                if schema::is_address(col)
                    && values
                        .iter()
                        .all(|v| matches!(v, Value::Text(t) if canonical_ip(t).is_some())) =>
            {
                let list: Vec<String> = values
                    .iter()
                    .map(|v| format!("{}::inet", self.bind(v.clone())))
                    .collect();
                let not = if *negated { " NOT" } else { "" };
                self.sql.push_str(&format!("\"{col}\"{not} IN ({})", list.join(", ")));
            }
            Pred::Cmp { col, op, value } => {
                // Text order follows bytes in DataFusion; "C" makes PostgreSQL agree.
                let collate = if matches!(value, Value::Text(_)) && !matches!(op, Op::Eq | Op::NotEq) {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                let p = self.bind(value.clone());
                self.sql
                    .push_str(&format!("{}{collate} {} {p}", pg_column(col), op.sql()));
            }
            Pred::In { col, values, negated } => {
                let list: Vec<String> = values.iter().map(|v| self.bind(v.clone())).collect();
                let not = if *negated { " NOT" } else { "" };
                self.sql
                    .push_str(&format!("{}{not} IN ({})", pg_column(col), list.join(", ")));
            }
            Pred::Between {
                col,
                low,
                high,
                negated,
            } => {
                let collate = if matches!(low, Value::Text(_)) {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                let (lo, hi) = (self.bind(low.clone()), self.bind(high.clone()));
                let not = if *negated { " NOT" } else { "" };
                self.sql
                    .push_str(&format!("{}{collate}{not} BETWEEN {lo} AND {hi}", pg_column(col)));
            }
            Pred::IsNull { col, negated } => {
                let not = if *negated { " NOT" } else { "" };
                self.sql.push_str(&format!("{} IS{not} NULL", pg_column(col)));
            }
            Pred::Like { col, pattern, negated } => {
                let p = self.bind(Value::Text(pattern.clone()));
                let not = if *negated { " NOT" } else { "" };
                self.sql.push_str(&format!("{}{not} LIKE {p}", pg_column(col)));
            }
            Pred::And(a, b) | Pred::Or(a, b) => {
                let joiner = if matches!(pred, Pred::And(..)) { " AND " } else { " OR " };
                self.sql.push('(');
                self.push_pred(a);
                self.sql.push_str(joiner);
                self.push_pred(b);
                self.sql.push(')');
            }
            Pred::Not(inner) => {
                self.sql.push_str("NOT (");
                self.push_pred(inner);
                self.sql.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn schema() -> std::sync::Arc<Schema> {
        crate::tier::schema::events()
    }

    fn sql(expr: &Expr) -> Option<(String, Vec<Value>)> {
        let pred = translate(expr, &schema())?;
        let mut b = SqlBuilder::default();
        b.push_pred(&pred);
        Some((b.sql, b.params))
    }

    #[test]
    fn comparisons_become_parameters_never_sql_text() {
        let (text, params) = sql(&col("user_name").eq(lit("x' OR '1'='1"))).unwrap();
        assert_eq!(text, "\"user_name\" = $1::text");
        assert_eq!(params, vec![Value::Text("x' OR '1'='1".into())]);
        let (text, _) = sql(&lit(5i64).lt(col("severity"))).unwrap();
        assert_eq!(
            text, "\"severity\" > $1::bigint",
            "a literal on the left flips the operator"
        );
        let (text, _) = sql(&col("host_name").gt(lit("m"))).unwrap();
        assert!(text.contains("COLLATE \"C\""), "{text}");
        let (text, _) = sql(&col("source_ip").in_list(vec![lit("10.0.0.1"), lit("10.0.0.2")], true)).unwrap();
        assert_eq!(text, "\"source_ip\" NOT IN ($1::text::inet, $2::text::inet)");
    }

    #[test]
    fn addresses_compare_as_inet_only_where_host_prints_the_literal_back() {
        let (text, params) = sql(&col("source_ip").eq(lit("2001:db8::1"))).unwrap();
        assert_eq!(text, "\"source_ip\" = $1::text::inet");
        assert_eq!(params, vec![Value::Text("2001:db8::1".into())]);
        // Not how host() prints them: a text comparison keeps them matching nothing, as in Parquet.
        for odd in [
            "10.0.0.01",
            "2001:DB8::1",
            "::ffff:10.0.0.1",
            "10.0.0.1/32",
            "not an address",
        ] {
            let (text, _) = sql(&col("source_ip").eq(lit(odd))).unwrap();
            assert_eq!(text, "host(\"source_ip\") = $1::text", "{odd}");
        }
        let (text, _) = sql(&col("destination_ip").in_list(vec![lit("10.0.0.1"), lit("10.0.0.01")], false)).unwrap();
        assert_eq!(text, "host(\"destination_ip\") IN ($1::text, $2::text)");
        let (text, _) = sql(&col("source_ip").gt(lit("10.0.0.1"))).unwrap();
        assert!(
            text.starts_with("host(\"source_ip\") COLLATE"),
            "ordering stays textual: {text}"
        );
    }

    #[test]
    fn filters_on_json_bytes_or_computed_values_stay_in_datafusion() {
        assert!(sql(&col("fields").eq(lit("{}"))).is_none());
        assert!(
            sql(&col("severity").eq(lit("high"))).is_none(),
            "a type mismatch is not pushed"
        );
        assert!(sql(&(col("severity") + lit(1i64)).gt(lit(2i64))).is_none());
        assert!(sql(&col("kind").eq(lit("log")).or(col("fields").eq(lit("{}")))).is_none());
        let nanos = Expr::Literal(ScalarValue::TimestampNanosecond(Some(1_500), None), None);
        assert!(sql(&col("event_time").gt(nanos)).is_none());
    }
}
