//! Retention policies: `retention/*.toml`, each matching tenants and kinds and setting how long
//! data stays hot, how long it then stays cold, and whether a legal hold keeps it regardless.
//! For a (tenant, kind), the most specific matching policy wins; two equally specific ones are
//! an error naming both files.

use std::path::{Path, PathBuf};

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("retention policy {file}: {reason}")]
pub struct PolicyError {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: Option<String>,
    description: Option<String>,
    tenants: Vec<String>,
    kinds: Vec<String>,
    hot_for: String,
    cold_for: String,
    #[serde(default)]
    legal_hold: bool,
}

/// One checked policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub name: String,
    pub file: String,
    pub description: Option<String>,
    /// `*` matches every tenant.
    pub tenants: Vec<String>,
    /// `*` matches every kind.
    pub kinds: Vec<String>,
    #[serde(serialize_with = "as_seconds")]
    pub hot_for: Duration,
    /// `None`: kept forever.
    #[serde(serialize_with = "as_optional_seconds")]
    pub cold_for: Option<Duration>,
    pub legal_hold: bool,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.num_seconds())
}

fn as_optional_seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_i64(d.num_seconds()),
        None => s.serialize_none(),
    }
}

/// Used when the directory holds no policy: a week hot, kept forever.
pub fn builtin_default() -> Policy {
    Policy {
        name: "builtin-default".into(),
        file: "(built in)".into(),
        description: Some("no retention/*.toml: one week hot, then cold forever".into()),
        tenants: vec!["*".into()],
        kinds: vec!["*".into()],
        hot_for: Duration::days(7),
        cold_for: None,
        legal_hold: false,
    }
}

/// Every `*.toml` in `dir` (sorted by name); the built-in default when there is none.
pub fn load(dir: &Path) -> Result<Vec<Policy>, PolicyError> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(PolicyError {
                file: dir.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    paths.sort();
    let mut policies = Vec::with_capacity(paths.len());
    for path in paths {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| PolicyError {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        policies.push(parse(&file, &text)?);
    }
    if policies.is_empty() {
        policies.push(builtin_default());
    }
    Ok(policies)
}

/// Checks one policy file's text.
pub fn parse(file: &str, text: &str) -> Result<Policy, PolicyError> {
    let bad = |reason: String| PolicyError {
        file: file.to_owned(),
        reason,
    };
    let raw: PolicyFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    if raw.tenants.is_empty() || raw.kinds.is_empty() {
        return Err(bad(
            "tenants and kinds must each list at least one value (or \"*\")".into()
        ));
    }
    for kind in &raw.kinds {
        if kind != "*" && kind.parse::<crate::event::EventKind>().is_err() {
            return Err(bad(format!("kinds: {kind:?} is not an event kind")));
        }
    }
    let hot_for = duration(&raw.hot_for).map_err(|e| bad(format!("hot_for: {e}")))?;
    let cold_for = match raw.cold_for.as_str() {
        "forever" => None,
        other => Some(duration(other).map_err(|e| bad(format!("cold_for: {e}")))?),
    };
    let stem = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned());
    Ok(Policy {
        name: raw.name.or(stem).unwrap_or_else(|| file.to_owned()),
        file: file.to_owned(),
        description: raw.description,
        tenants: raw.tenants,
        kinds: raw.kinds,
        hot_for,
        cold_for,
        legal_hold: raw.legal_hold,
    })
}

/// `90s`, `30m`, `12h`, `7d` or `2w`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 7d, 12h, 30m, 90s or 2w"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{text:?} is not a duration like 7d, 12h, 30m, 90s or 2w")),
    };
    n.checked_mul(seconds)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(|| format!("{text:?} is longer than 100 years"))
}

/// The policy governing `(tenant, kind)`.
pub fn governing<'a>(policies: &'a [Policy], tenant: &str, kind: &str) -> Result<&'a Policy, PolicyError> {
    let specificity = |p: &Policy| {
        let t = if p.tenants.iter().any(|t| t == tenant) {
            2
        } else if p.tenants.iter().any(|t| t == "*") {
            1
        } else {
            0
        };
        let k = if p.kinds.iter().any(|k| k == kind) {
            2
        } else if p.kinds.iter().any(|k| k == "*") {
            1
        } else {
            0
        };
        (t > 0 && k > 0).then_some(t * 3 + k)
    };
    let mut best: Option<(&Policy, i32)> = None;
    for p in policies {
        let Some(score) = specificity(p) else { continue };
        match best {
            Some((other, s)) if s == score => {
                return Err(PolicyError {
                    file: p.file.clone(),
                    reason: format!(
                        "matches tenant {tenant:?} and kind {kind:?} as specifically as {}",
                        other.file
                    ),
                });
            }
            Some((_, s)) if s > score => {}
            _ => best = Some((p, score)),
        }
    }
    best.map(|(p, _)| p).ok_or_else(|| PolicyError {
        file: "retention/".into(),
        reason: format!(
            "no policy matches tenant {tenant:?} and kind {kind:?}; add one with tenants = [\"*\"], kinds = [\"*\"]"
        ),
    })
}

/// How long chunks stay hot: the longest hot window of any policy, since a chunk holds every
/// tenant's and kind's rows and must not leave before any of them may.
pub fn hot_window(policies: &[Policy]) -> Duration {
    policies
        .iter()
        .map(|p| p.hot_for)
        .max()
        .unwrap_or_else(|| builtin_default().hot_for)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(file: &str, tenants: &str, kinds: &str, hot: &str, cold: &str) -> Policy {
        parse(
            file,
            &format!("tenants = [{tenants}]\nkinds = [{kinds}]\nhot_for = \"{hot}\"\ncold_for = \"{cold}\"\n"),
        )
        .unwrap()
    }

    #[test]
    fn durations_read_each_unit_and_refuse_the_rest() {
        assert_eq!(duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(duration("7d").unwrap(), Duration::days(7));
        assert_eq!(duration("2w").unwrap(), Duration::days(14));
        for bad in ["7", "d", "7 days", "-1d", "99999999999w"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_most_specific_policy_wins_and_ties_are_errors() {
        let all = policy("all.toml", "\"*\"", "\"*\"", "7d", "365d");
        let alerts = policy("alerts.toml", "\"*\"", "\"alert\"", "30d", "forever");
        let acme = policy("acme.toml", "\"acme\"", "\"*\"", "1d", "30d");
        let policies = vec![all, alerts, acme];
        assert_eq!(governing(&policies, "globex", "log").unwrap().file, "all.toml");
        assert_eq!(governing(&policies, "globex", "alert").unwrap().file, "alerts.toml");
        assert_eq!(governing(&policies, "acme", "alert").unwrap().file, "acme.toml");
        assert_eq!(hot_window(&policies), Duration::days(30));
        let twin = policy("twin.toml", "\"acme\"", "\"*\"", "1d", "1d");
        let err = governing(&[policies[2].clone(), twin], "acme", "log").unwrap_err();
        assert!(err.reason.contains("acme.toml"), "{err}");
    }

    #[test]
    fn bad_files_name_the_field() {
        let err = parse(
            "x.toml",
            "tenants = [\"*\"]\nkinds = [\"logs\"]\nhot_for = \"1d\"\ncold_for = \"1d\"",
        )
        .unwrap_err();
        assert!(err.reason.contains("kinds"), "{err}");
        let err = parse(
            "x.toml",
            "tenants = [\"*\"]\nkinds = [\"*\"]\nhot_for = \"soon\"\ncold_for = \"1d\"",
        )
        .unwrap_err();
        assert!(err.reason.contains("hot_for"), "{err}");
        let err = parse("x.toml", "tenants = [\"*\"]\nkinds = [\"*\"]\nhot_for = \"1d\"").unwrap_err();
        assert!(err.reason.contains("cold_for"), "{err}");
    }

    #[test]
    fn the_shipped_policies_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("retention");
        let policies = load(&dir).unwrap();
        assert!(policies.iter().all(|p| p.file.ends_with(".toml")), "{policies:?}");
        for kind in crate::event::EventKind::ALL {
            governing(&policies, "acme", kind.as_str()).unwrap();
        }
    }
}
