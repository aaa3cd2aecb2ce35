//! Named queries: `queries/*.sql`, each opening with a header of comment lines that give its
//! name, description and typed parameters, used in the SQL as `$name`:
//!
//! ```sql
//! -- name: failed_logins_by_ip
//! -- description: Source IPs with many failed logins
//! -- param: since timestamp
//! -- param: min_count int default 5
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use serde::Serialize;
use serde_json::Value as Json;

use super::{Error, Result};

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Text,
    Int,
    Float,
    Bool,
    /// RFC 3339.
    Timestamp,
    /// An IPv4 or IPv6 address, compared in its canonical text form.
    Ip,
}

impl ParamType {
    fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "text" => ParamType::Text,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "timestamp" => ParamType::Timestamp,
            "ip" => ParamType::Ip,
            _ => return None,
        })
    }

    /// `value` as this type; strings are accepted for every type (query strings, defaults).
    fn value(self, value: &Json) -> Option<ScalarValue> {
        let text = value.as_str();
        Some(match self {
            ParamType::Text => ScalarValue::Utf8(Some(text?.to_owned())),
            ParamType::Int => ScalarValue::Int64(Some(match value {
                Json::Number(n) => n.as_i64()?,
                _ => text?.trim().parse().ok()?,
            })),
            ParamType::Float => ScalarValue::Float64(Some(match value {
                Json::Number(n) => n.as_f64()?,
                _ => text?.trim().parse().ok()?,
            })),
            ParamType::Bool => ScalarValue::Boolean(Some(match value {
                Json::Bool(b) => *b,
                _ => text?.trim().parse().ok()?,
            })),
            ParamType::Timestamp => {
                let t = DateTime::parse_from_rfc3339(text?.trim()).ok()?.with_timezone(&Utc);
                ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into()))
            }
            ParamType::Ip => ScalarValue::Utf8(Some(text?.trim().parse::<IpAddr>().ok()?.to_string())),
        })
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(Json::as_str).unwrap_or("?"))
    }
}

/// One declared parameter.
#[derive(Debug, Clone, Serialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A query file, parsed.
#[derive(Debug, Clone, Serialize)]
pub struct NamedQuery {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
    #[serde(skip)]
    pub sql: String,
}

/// Parses one file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<NamedQuery> {
    let bad = |line: usize, why: String| Error::BadRequest(format!("{file}:{line}: {why}"));
    let (mut name, mut description, mut params) = (None, String::new(), Vec::<ParamSpec>::new());
    let mut body = String::new();
    let mut in_header = true;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let comment = trimmed.strip_prefix("--").map(str::trim);
        let Some(comment) = comment.filter(|_| in_header) else {
            in_header = in_header && trimmed.is_empty();
            body.push_str(line);
            body.push('\n');
            continue;
        };
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "name" => {
                let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ok {
                    return Err(bad(i + 1, format!("name {value:?} must be letters, digits and '_'")));
                }
                name = Some(value.to_owned());
            }
            "description" => {
                if !description.is_empty() {
                    description.push(' ');
                }
                description.push_str(value);
            }
            "param" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                let (pname, ty, default) = match words.as_slice() {
                    [n, t] => (*n, *t, None),
                    [n, t, "default", d @ ..] if !d.is_empty() => (*n, *t, Some(d.join(" "))),
                    _ => return Err(bad(i + 1, "expected `param: NAME TYPE [default VALUE]`".into())),
                };
                let ty = ParamType::parse(ty).ok_or_else(|| {
                    bad(
                        i + 1,
                        format!("type {ty:?} is not one of text, int, float, bool, timestamp, ip"),
                    )
                })?;
                if let Some(d) = &default
                    && ty.value(&Json::String(d.clone())).is_none()
                {
                    return Err(bad(i + 1, format!("default {d:?} is not a valid {ty}")));
                }
                if params.iter().any(|p| p.name == pname) {
                    return Err(bad(i + 1, format!("parameter {pname} is declared twice")));
                }
                params.push(ParamSpec {
                    name: pname.to_owned(),
                    ty,
                    default,
                });
            }
            _ => {}
        }
    }
    let name = name.ok_or_else(|| bad(1, "missing `-- name:` header line".into()))?;
    if body.trim().is_empty() {
        return Err(bad(1, "no SQL after the header".into()));
    }
    Ok(NamedQuery {
        name,
        description,
        params,
        sql: body,
    })
}

/// Every `*.sql` file of `dir`, sorted by name; a file that does not parse is an error.
pub fn load_dir(dir: &Path) -> Result<Vec<NamedQuery>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Internal(format!("cannot read the queries directory {}: {e}", dir.display())))?;
    let mut queries = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::Internal(e.to_string()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::Internal(format!("cannot read {}: {e}", path.display())))?;
        let file = path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        queries.push(parse(&file, &text)?);
    }
    queries.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = queries.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::Internal(format!("two query files are named {}", w[0].name)));
    }
    Ok(queries)
}

/// The query named `name` in `dir`.
pub fn find(dir: &Path, name: &str) -> Result<NamedQuery> {
    load_dir(dir)?
        .into_iter()
        .find(|q| q.name == name)
        .ok_or_else(|| Error::UnknownQuery(name.to_owned()))
}

impl NamedQuery {
    /// The caller's values, typed, with defaults filled in. Unknown, missing and mistyped
    /// parameters are refused by name.
    pub fn bind(&self, given: &serde_json::Map<String, Json>) -> Result<HashMap<String, ScalarValue>> {
        let declared = || {
            let names: Vec<String> = self.params.iter().map(|p| format!("{} ({})", p.name, p.ty)).collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        if let Some(unknown) = given.keys().find(|k| !self.params.iter().any(|p| &p.name == *k)) {
            return Err(Error::BadParam(format!(
                "{}: unknown parameter `{unknown}`; it takes {}",
                self.name,
                declared()
            )));
        }
        let mut out = HashMap::with_capacity(self.params.len());
        for p in &self.params {
            let value = match (given.get(&p.name), &p.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => Json::String(d.clone()),
                (None, None) => {
                    return Err(Error::BadParam(format!(
                        "{}: missing parameter `{}` ({})",
                        self.name, p.name, p.ty
                    )));
                }
            };
            let scalar = p.ty.value(&value).ok_or_else(|| {
                Error::BadParam(format!(
                    "{}: parameter `{}` must be of type {}, not {value}",
                    self.name, p.name, p.ty
                ))
            })?;
            out.insert(p.name.clone(), scalar);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = "-- name: by_ip\n-- description: Events\n-- description: for one IP.\n\
        -- param: ip ip\n-- param: n int default 5\n\nSELECT * FROM events WHERE source_ip = $ip LIMIT $n\n";

    #[test]
    fn the_header_gives_name_description_and_typed_params() {
        let q = parse("by_ip.sql", FILE).unwrap();
        assert_eq!(q.name, "by_ip");
        assert_eq!(q.description, "Events for one IP.");
        assert_eq!(q.params.len(), 2);
        assert_eq!(
            (q.params[1].ty, q.params[1].default.as_deref()),
            (ParamType::Int, Some("5"))
        );
        assert!(q.sql.trim_start().starts_with("SELECT"), "{}", q.sql);
    }

    #[test]
    fn bad_headers_name_the_file_and_line() {
        let e = parse("x.sql", "-- name: x\n-- param: since date\nSELECT 1").unwrap_err();
        assert!(e.to_string().starts_with("x.sql:2:"), "{e}");
        let e = parse("y.sql", "-- name: y\n-- param: n int default many\nSELECT 1").unwrap_err();
        assert!(e.to_string().contains("\"many\""), "{e}");
        assert!(parse("z.sql", "SELECT 1").unwrap_err().to_string().contains("name"));
    }

    #[test]
    fn unknown_missing_and_mistyped_params_are_refused_by_name() {
        let q = parse("by_ip.sql", FILE).unwrap();
        let bind = |v: Json| q.bind(v.as_object().unwrap());
        let values = bind(json!({"ip": "10.0.0.1"})).unwrap();
        assert_eq!(values["n"], ScalarValue::Int64(Some(5)), "the default applies");
        assert!(
            bind(json!({}))
                .unwrap_err()
                .to_string()
                .contains("missing parameter `ip`")
        );
        let e = bind(json!({"ip": "10.0.0.1", "x": 1})).unwrap_err().to_string();
        assert!(e.contains("unknown parameter `x`"), "{e}");
        let e = bind(json!({"ip": "10.0.0.300"})).unwrap_err().to_string();
        assert!(e.contains("`ip` must be of type ip"), "{e}");
        let e = bind(json!({"ip": "::1", "n": "five"})).unwrap_err().to_string();
        assert!(e.contains("`n` must be of type int"), "{e}");
    }
}
