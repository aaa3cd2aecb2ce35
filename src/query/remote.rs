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
//!
//! Addresses stay `inet` for as long as only their equality matters (carried through,
//! grouped on, counted, counted distinct), which PostgreSQL hashes and sorts far faster than
//! their text; anything else reads them as text, as does the answer.

use std::any::Any;
use std::collections::HashMap;

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
use crate::tier::schema;

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
    let Some(sql) = q.answer(plan) else {
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

/// A node's SQL, and which of its columns are addresses left as `inet`.
struct Sub {
    sql: String,
    inet: Vec<bool>,
}

impl Sub {
    /// A node whose columns are those of its input, in the same order.
    fn over(sql: String, input: &[bool]) -> Self {
        Sub {
            sql,
            inet: input.to_vec(),
        }
    }
}

#[derive(Default)]
struct Compiler {
    b: SqlBuilder,
    /// Subquery aliases handed out so far.
    aliases: usize,
    /// For each alias handed out, which of its columns are `inet`.
    inet: HashMap<String, Vec<bool>>,
}

impl Compiler {
    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// `plan`'s SQL as a subquery under a new alias, for a node above it to read.
    fn input(&mut self, plan: &LogicalPlan) -> Option<(String, String)> {
        let sub = self.node(plan)?;
        let t = self.alias();
        self.inet.insert(t.clone(), sub.inet);
        Some((sub.sql, t))
    }

    fn is_inet(&self, t: &str, i: usize) -> bool {
        self.inet.get(t).is_some_and(|cols| cols.get(i) == Some(&true))
    }

    /// The whole query, every address read as text.
    fn answer(&mut self, plan: &LogicalPlan) -> Option<String> {
        let sub = self.node(plan)?;
        if !sub.inet.contains(&true) {
            return Some(sub.sql);
        }
        let t = self.alias();
        let columns: Vec<String> = sub
            .inet
            .iter()
            .enumerate()
            .map(|(i, &address)| {
                if address {
                    format!("host({t}.c{i})")
                } else {
                    format!("{t}.c{i}")
                }
            })
            .collect();
        Some(format!("SELECT {} FROM ({}) AS {t}", named(columns), sub.sql))
    }

    /// A column as it is, address or not, when only its equality matters; else `expr`.
    fn kept(&mut self, e: &Expr, schema: &DFSchema, t: &str) -> Option<(String, bool)> {
        if let Expr::Column(c) = strip_alias(e) {
            let i = schema.index_of_column(c).ok()?;
            if self.is_inet(t, i) {
                return Some((format!("{t}.c{i}"), true));
            }
        }
        Some((self.expr(e, schema, t)?, false))
    }

    /// The SQL of `plan`, its columns named `c0`, `c1`, … in schema order.
    fn node(&mut self, plan: &LogicalPlan) -> Option<Sub> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::SubqueryAlias(s) => self.node(&s.input),
            LogicalPlan::Projection(p) => {
                let (input, t) = self.input(&p.input)?;
                let (items, inet): (Vec<String>, Vec<bool>) = p
                    .expr
                    .iter()
                    .map(|e| self.kept(e, p.input.schema(), &t))
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .unzip();
                Some(Sub {
                    sql: format!("SELECT {} FROM ({input}) AS {t}", named(items)),
                    inet,
                })
            }
            LogicalPlan::Filter(f) => {
                let (input, t) = self.input(&f.input)?;
                let predicate = self.expr(&f.predicate, f.input.schema(), &t)?;
                let sql = format!("SELECT * FROM ({input}) AS {t} WHERE {predicate}");
                Some(Sub::over(sql, &self.inet[&t]))
            }
            LogicalPlan::Aggregate(a) => {
                let (input, t) = self.input(&a.input)?;
                let schema = a.input.schema();
                let mut items = Vec::with_capacity(a.group_expr.len() + a.aggr_expr.len());
                let mut inet = Vec::with_capacity(items.capacity());
                for e in &a.group_expr {
                    if matches!(e, Expr::GroupingSet(_)) {
                        return None;
                    }
                    let (item, address) = self.kept(e, schema, &t)?;
                    items.push(item);
                    inet.push(address);
                }
                for e in &a.aggr_expr {
                    items.push(self.aggregate(e, schema, &t)?);
                    inet.push(false);
                }
                let columns = named(items);
                let groups: Vec<String> = (1..=a.group_expr.len()).map(|i| i.to_string()).collect();
                let group_by = if groups.is_empty() {
                    String::new()
                } else {
                    format!(" GROUP BY {}", groups.join(", "))
                };
                Some(Sub {
                    sql: format!("SELECT {columns} FROM ({input}) AS {t}{group_by}"),
                    inet,
                })
            }
            LogicalPlan::Sort(s) => {
                let (input, t) = self.input(&s.input)?;
                let mut keys = Vec::with_capacity(s.expr.len());
                for key in &s.expr {
                    let e = self.expr(&key.expr, s.input.schema(), &t)?;
                    let dir = if key.asc { "ASC" } else { "DESC" };
                    let nulls = if key.nulls_first { "FIRST" } else { "LAST" };
                    keys.push(format!("{e} {dir} NULLS {nulls}"));
                }
                let limit = s.fetch.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
                let sql = format!("SELECT * FROM ({input}) AS {t} ORDER BY {}{limit}", keys.join(", "));
                Some(Sub::over(sql, &self.inet[&t]))
            }
            LogicalPlan::Limit(l) => {
                let (Ok(SkipType::Literal(skip)), Ok(FetchType::Literal(fetch))) =
                    (l.get_skip_type(), l.get_fetch_type())
                else {
                    return None;
                };
                let (input, t) = self.input(&l.input)?;
                let fetch = fetch.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
                let sql = format!("SELECT * FROM ({input}) AS {t}{fetch} OFFSET {skip}");
                Some(Sub::over(sql, &self.inet[&t]))
            }
            _ => None,
        }
    }

    /// A scan: the hot SELECT the provider would run, its columns renamed, text compared by
    /// bytes, addresses left `inet`.
    fn scan(&mut self, scan: &TableScan) -> Option<Sub> {
        let table = tiered(scan)?;
        let schema = table.def().schema.as_ref();
        let preds: Vec<Pred> = scan
            .filters
            .iter()
            .map(|f| translate(f, schema))
            .collect::<Option<_>>()?;
        let projected = scan.projected_schema.as_arrow();
        let inner = table.hot_select(&mut self.b, &preds, projected, scan.fetch, true);
        let s = self.alias();
        let (columns, inet): (Vec<String>, Vec<bool>) = projected
            .fields()
            .iter()
            .map(|f| {
                let address = schema::is_address(f.name());
                let text = matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View) && !address;
                let collate = if text { " COLLATE \"C\"" } else { "" };
                (format!("{s}.\"{}\"{collate}", f.name()), address)
            })
            .unzip();
        Some(Sub {
            sql: format!("SELECT {} FROM ({inner}) AS {s}", named(columns)),
            inet,
        })
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
        let arg_type = args[0].get_type(schema).ok()?;
        if name == "count" {
            // Equal addresses are equal texts: counting either gives the same.
            let (arg, _) = self.kept(&args[0], schema, t)?;
            return Some(format!("count({distinct}{arg})"));
        }
        let arg = self.expr(&args[0], schema, t)?;
        match name {
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
            Expr::Column(c) => match schema.index_of_column(c).ok()? {
                i if self.is_inet(t, i) => format!("host({t}.c{i}) COLLATE \"C\""),
                i => format!("{t}.c{i}"),
            },
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
