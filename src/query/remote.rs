//! A hunt whose every scan falls in the hot tier runs whole in PostgreSQL: filters, grouping,
//! aggregates, ordering and limits included, so only the answer crosses the wire instead of
//! every row the scan matched.
//!
//! Only plans PostgreSQL evaluates exactly as DataFusion would are sent: projections, filters,
//! aggregates (`count`, `sum`, `min`, `max`), sorts and limits over `events` and `metrics`,
//! with comparisons, `LIKE`, `IN`, `BETWEEN`, `IS NULL`, `CASE`, `COALESCE`, `date_trunc`,
//! `date_bin`, `to_unixtime` and widening casts. Text compares by bytes in both (PostgreSQL under the "C" collation), and
//! times are truncated in UTC. Anything else (joins, windows, subqueries, other functions,
//! arithmetic, casts) is left to DataFusion, as is any plan whose scans touch a cold file.
//!
//! Each node becomes a subquery whose columns are `c0`, `c1`, … in the order of the node's
//! schema; PostgreSQL's planner flattens them again. Every value is a bound parameter.

use std::any::Any;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::default_table_source::DefaultTableSource;
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, Alias, Case, Cast, ScalarFunction};
use datafusion::logical_expr::logical_plan::{FetchType, SkipType};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, TableScan};
use datafusion::scalar::ScalarValue;

use super::cold;
use super::hot::HotQuery;
use super::pushdown::{Pred, SqlBuilder, Value, same_like, translate};
use super::table::TieredTable;
use crate::store::Store;

/// Units `date_trunc` truncates to the same instant in both engines (in UTC).
const TRUNC_UNITS: [&str; 8] = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];

/// `plan` as one PostgreSQL query, if all of it can run there and no scan reads a cold file.
pub(crate) async fn compile(plan: &LogicalPlan) -> Result<Option<(Store, HotQuery)>> {
    let mut scans = Vec::new();
    if !collect_scans(plan, &mut scans)? {
        return Ok(None);
    }
    let Some((first, _)) = scans.first() else {
        return Ok(None);
    };
    let scope = first.scope();
    // The SQL first: it costs no round trip, the manifest lookups do.
    if !plan.schema().fields().iter().all(|f| readable(f.data_type())) {
        return Ok(None);
    }
    let mut q = Compiler::default();
    let Some(sql) = q.node(plan) else {
        return Ok(None);
    };
    for (table, preds) in &scans {
        if cold::files(table.scope(), table.def(), preds).await?.is_some() {
            return Ok(None);
        }
    }
    let query = HotQuery {
        sql,
        params: q.b.params,
        statement_timeout_ms: scope.statement_timeout_ms,
    };
    Ok(Some((scope.store.clone(), query)))
}

/// The Arrow types the hot scan decodes.
fn readable(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, _)
    )
}

/// The plan's scans of our tables with their pushed filters; false if some other source is read
/// or a pushed filter does not translate.
fn collect_scans<'a>(plan: &'a LogicalPlan, out: &mut Vec<(&'a TieredTable, Vec<Pred>)>) -> Result<bool> {
    if let LogicalPlan::TableScan(scan) = plan {
        let Some(table) = tiered(scan) else {
            return Ok(false);
        };
        let schema = table.def().schema.as_ref();
        let Some(preds) = scan.filters.iter().map(|f| translate(f, schema)).collect() else {
            return Ok(false);
        };
        out.push((table, preds));
        return Ok(true);
    }
    for input in plan.inputs() {
        if !collect_scans(input, out)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn tiered(scan: &TableScan) -> Option<&TieredTable> {
    let source = scan.source.as_ref().downcast_ref::<DefaultTableSource>()?;
    let provider: &dyn Any = source.table_provider.as_ref();
    provider.downcast_ref::<TieredTable>()
}

#[derive(Default)]
struct Compiler {
    b: SqlBuilder,
    /// Subquery aliases handed out so far.
    aliases: usize,
}

impl Compiler {
    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// The SQL of `plan`, its columns named `c0`, `c1`, … in schema order.
    fn node(&mut self, plan: &LogicalPlan) -> Option<String> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::SubqueryAlias(s) => self.node(&s.input),
            LogicalPlan::Projection(p) => {
                let input = self.node(&p.input)?;
                let t = self.alias();
                let columns = self.columns(&p.expr, p.input.schema(), &t)?;
                Some(format!("SELECT {columns} FROM ({input}) AS {t}"))
            }
            LogicalPlan::Filter(f) => {
                let input = self.node(&f.input)?;
                let t = self.alias();
                let predicate = self.expr(&f.predicate, f.input.schema(), &t)?;
                Some(format!("SELECT * FROM ({input}) AS {t} WHERE {predicate}"))
            }
            LogicalPlan::Aggregate(a) => {
                let input = self.node(&a.input)?;
                let t = self.alias();
                let schema = a.input.schema();
                let mut items = Vec::with_capacity(a.group_expr.len() + a.aggr_expr.len());
                for e in &a.group_expr {
                    if matches!(e, Expr::GroupingSet(_)) {
                        return None;
                    }
                    items.push(self.expr(e, schema, &t)?);
                }
                for e in &a.aggr_expr {
                    items.push(self.aggregate(e, schema, &t)?);
                }
                let columns = named(items);
                let groups: Vec<String> = (1..=a.group_expr.len()).map(|i| i.to_string()).collect();
                let group_by = if groups.is_empty() {
                    String::new()
                } else {
                    format!(" GROUP BY {}", groups.join(", "))
                };
                Some(format!("SELECT {columns} FROM ({input}) AS {t}{group_by}"))
            }
            LogicalPlan::Sort(s) => {
                let input = self.node(&s.input)?;
                let t = self.alias();
                let mut keys = Vec::with_capacity(s.expr.len());
                for key in &s.expr {
                    let e = self.expr(&key.expr, s.input.schema(), &t)?;
                    let dir = if key.asc { "ASC" } else { "DESC" };
                    let nulls = if key.nulls_first { "FIRST" } else { "LAST" };
                    keys.push(format!("{e} {dir} NULLS {nulls}"));
                }
                let limit = s.fetch.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
                Some(format!(
                    "SELECT * FROM ({input}) AS {t} ORDER BY {}{limit}",
                    keys.join(", ")
                ))
            }
            LogicalPlan::Limit(l) => {
                let (Ok(SkipType::Literal(skip)), Ok(FetchType::Literal(fetch))) =
                    (l.get_skip_type(), l.get_fetch_type())
                else {
                    return None;
                };
                let input = self.node(&l.input)?;
                let t = self.alias();
                let fetch = fetch.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
                Some(format!("SELECT * FROM ({input}) AS {t}{fetch} OFFSET {skip}"))
            }
            _ => None,
        }
    }

    /// A scan: the hot SELECT the provider would run, its columns renamed, text compared by bytes.
    fn scan(&mut self, scan: &TableScan) -> Option<String> {
        let table = tiered(scan)?;
        let schema = table.def().schema.as_ref();
        let preds: Vec<Pred> = scan
            .filters
            .iter()
            .map(|f| translate(f, schema))
            .collect::<Option<_>>()?;
        let projected = scan.projected_schema.as_arrow();
        let inner = table.hot_select(&mut self.b, &preds, projected, scan.fetch);
        let s = self.alias();
        let columns: Vec<String> = projected
            .fields()
            .iter()
            .map(|f| {
                let collate = if matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View) {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                format!("{s}.\"{}\"{collate}", f.name())
            })
            .collect();
        Some(format!("SELECT {} FROM ({inner}) AS {s}", named(columns)))
    }

    fn columns(&mut self, exprs: &[Expr], schema: &DFSchema, t: &str) -> Option<String> {
        let items = exprs
            .iter()
            .map(|e| self.expr(e, schema, t))
            .collect::<Option<Vec<_>>>()?;
        Some(named(items))
    }

    /// An aggregate call over columns of `schema` (the aggregate's input).
    fn aggregate(&mut self, e: &Expr, schema: &DFSchema, t: &str) -> Option<String> {
        let Expr::AggregateFunction(AggregateFunction {
            func,
            params:
                AggregateFunctionParams {
                    args,
                    distinct,
                    filter: None,
                    order_by,
                    null_treatment: None,
                },
        }) = strip_alias(e)
        else {
            return None;
        };
        if !order_by.is_empty() || args.len() != 1 {
            return None;
        }
        let name = func.name();
        let distinct = if *distinct { "DISTINCT " } else { "" };
        if name == "count" && distinct.is_empty() && matches!(&args[0], Expr::Literal(v, _) if !v.is_null()) {
            return Some("count(*)".into());
        }
        let arg = self.expr(&args[0], schema, t)?;
        let arg_type = args[0].get_type(schema).ok()?;
        match name {
            "count" => Some(format!("count({distinct}{arg})")),
            // PostgreSQL sums integers as numeric; DataFusion's result is a 64-bit integer.
            "sum" if distinct.is_empty() && arg_type.is_integer() => Some(format!("sum({arg})::bigint")),
            "min" | "max" if distinct.is_empty() => Some(format!("{name}({arg})")),
            _ => None,
        }
    }

    /// A scalar expression over columns of `schema`, whose rows are subquery `t`.
    fn expr(&mut self, e: &Expr, schema: &DFSchema, t: &str) -> Option<String> {
        Some(match e {
            Expr::Alias(Alias { expr, .. }) => self.expr(expr, schema, t)?,
            Expr::Column(c) => format!("{t}.c{}", schema.index_of_column(c).ok()?),
            Expr::Literal(v, _) => self.literal(v)?,
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let op = match op {
                    Operator::Eq => "=",
                    Operator::NotEq => "<>",
                    Operator::Lt => "<",
                    Operator::LtEq => "<=",
                    Operator::Gt => ">",
                    Operator::GtEq => ">=",
                    Operator::And => "AND",
                    Operator::Or => "OR",
                    Operator::IsDistinctFrom => "IS DISTINCT FROM",
                    Operator::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
                    _ => return None,
                };
                let (l, r) = (self.expr(left, schema, t)?, self.expr(right, schema, t)?);
                format!("({l} {op} {r})")
            }
            Expr::Not(inner) => format!("(NOT {})", self.expr(inner, schema, t)?),
            Expr::IsNull(inner) => format!("({} IS NULL)", self.expr(inner, schema, t)?),
            Expr::IsNotNull(inner) => format!("({} IS NOT NULL)", self.expr(inner, schema, t)?),
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => {
                let not = if *negated { "NOT " } else { "" };
                let (v, lo, hi) = (
                    self.expr(expr, schema, t)?,
                    self.expr(low, schema, t)?,
                    self.expr(high, schema, t)?,
                );
                format!("({v} {not}BETWEEN {lo} AND {hi})")
            }
            Expr::InList(list) => {
                if list.list.is_empty() {
                    return None;
                }
                let v = self.expr(&list.expr, schema, t)?;
                let items = list
                    .list
                    .iter()
                    .map(|i| self.expr(i, schema, t))
                    .collect::<Option<Vec<_>>>()?;
                let not = if list.negated { "NOT " } else { "" };
                format!("({v} {not}IN ({}))", items.join(", "))
            }
            Expr::Like(like) if same_like(like) => {
                let not = if like.negated { "NOT " } else { "" };
                let (v, p) = (self.expr(&like.expr, schema, t)?, self.expr(&like.pattern, schema, t)?);
                format!("({v} {not}LIKE {p})")
            }
            Expr::Case(Case {
                expr,
                when_then_expr,
                else_expr,
            }) => {
                let mut sql = String::from("(CASE");
                if let Some(e) = expr {
                    sql.push(' ');
                    sql.push_str(&self.expr(e, schema, t)?);
                }
                for (when, then) in when_then_expr {
                    let (w, th) = (self.expr(when, schema, t)?, self.expr(then, schema, t)?);
                    sql.push_str(&format!(" WHEN {w} THEN {th}"));
                }
                if let Some(e) = else_expr {
                    sql.push_str(&format!(" ELSE {}", self.expr(e, schema, t)?));
                }
                sql.push_str(" END)");
                sql
            }
            Expr::Cast(Cast { expr, field }) => {
                let from = expr.get_type(schema).ok()?;
                let inner = self.expr(expr, schema, t)?;
                match (&from, field.data_type()) {
                    // An instant in another unit or zone is the same timestamptz.
                    (DataType::Timestamp(..), DataType::Timestamp(..)) => inner,
                    (DataType::Int16 | DataType::Int32, DataType::Int64) => format!("({inner})::bigint"),
                    (DataType::Int16, DataType::Int32) => format!("({inner})::integer"),
                    (a, b) if a == b => inner,
                    _ => return None,
                }
            }
            Expr::ScalarFunction(f) => self.function(f, schema, t)?,
            _ => return None,
        })
    }

    fn function(&mut self, f: &ScalarFunction, schema: &DFSchema, t: &str) -> Option<String> {
        let args = &f.args;
        match (f.func.name(), args.as_slice()) {
            ("date_trunc", [Expr::Literal(ScalarValue::Utf8(Some(unit)), _), time]) => {
                let unit = unit.to_ascii_lowercase();
                if !TRUNC_UNITS.contains(&unit.as_str()) || !is_timestamp(time, schema) {
                    return None;
                }
                // The unit is one of ours, never caller text.
                Some(format!("date_trunc('{unit}', {})", self.expr(time, schema, t)?))
            }
            (
                "date_bin",
                [
                    Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(stride)), _),
                    time,
                    origin,
                ],
            ) => {
                if stride.months != 0 || stride.days != 0 || stride.nanoseconds <= 0 || stride.nanoseconds % 1_000 != 0
                {
                    return None;
                }
                if !is_timestamp(time, schema) {
                    return None;
                }
                let micros = stride.nanoseconds / 1_000;
                let (v, o) = (self.expr(time, schema, t)?, self.expr(origin, schema, t)?);
                Some(format!("date_bin(interval '{micros} microseconds', {v}, {o})"))
            }
            ("to_unixtime", [time]) if is_timestamp(time, schema) => {
                // DataFusion divides the microseconds, truncating toward zero.
                Some(format!(
                    "trunc(extract(epoch FROM {}))::bigint",
                    self.expr(time, schema, t)?
                ))
            }
            ("coalesce", [_, ..]) => {
                let items = args
                    .iter()
                    .map(|a| self.expr(a, schema, t))
                    .collect::<Option<Vec<_>>>()?;
                Some(format!("coalesce({})", items.join(", ")))
            }
            _ => None,
        }
    }

    fn literal(&mut self, v: &ScalarValue) -> Option<String> {
        use ScalarValue as S;
        let value = match v {
            S::Boolean(Some(b)) => return Some(if *b { "TRUE" } else { "FALSE" }.into()),
            S::Int8(Some(_)) | S::Int16(Some(_)) | S::Int32(Some(_)) | S::Int64(Some(_)) => {
                Value::Int(v.clone().cast_to(&DataType::Int64).ok().and_then(|i| match i {
                    S::Int64(Some(i)) => Some(i),
                    _ => None,
                })?)
            }
            S::Float64(Some(f)) => Value::Float(*f),
            S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => Value::Text(s.clone()),
            S::TimestampSecond(Some(_), _)
            | S::TimestampMillisecond(Some(_), _)
            | S::TimestampMicrosecond(Some(_), _)
            | S::TimestampNanosecond(Some(_), _) => {
                let S::TimestampMicrosecond(Some(micros), _) =
                    v.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?
                else {
                    return None;
                };
                // A bound DataFusion keeps below microseconds would compare differently here.
                if let S::TimestampNanosecond(Some(n), _) = v
                    && n % 1_000 != 0
                {
                    return None;
                }
                Value::Time(chrono::DateTime::from_timestamp_micros(micros)?)
            }
            _ => return None,
        };
        Some(self.b.bind(value))
    }
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(Alias { expr, .. }) => strip_alias(expr),
        other => other,
    }
}

fn is_timestamp(e: &Expr, schema: &DFSchema) -> bool {
    matches!(e.get_type(schema), Ok(DataType::Timestamp(..)))
}

/// `items` as a select list naming them `c0`, `c1`, …
fn named(items: Vec<String>) -> String {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| format!("{item} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
