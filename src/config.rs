//! Typed settings: defaults, then an optional TOML file (`TIDEMARK_CONFIG`), then
//! `TIDEMARK_*` environment variables (and `DATABASE_URL`). Secrets never print.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::telemetry::LogFormat;

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("environment variable {name}={value:?}: {reason}")]
    Env {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Everything Tidemark can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded cluster and local files live.
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    /// An external TimescaleDB; without it, the embedded cluster is used.
    pub database_url: Option<SecretString>,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    pub db_max_connections: usize,
    pub append_max_batch_events: usize,
    pub append_max_queued_events: usize,
    /// Per-request deadline, including the wait for commit.
    pub request_timeout_secs: u64,
    /// Unix-socket port of the embedded cluster.
    pub pg_port: u16,
    pub replay_page_size: i64,
    /// Run the listeners of the `connectors` table on this server (turn off on all but one
    /// server that shares a database, or on query-only nodes).
    pub run_connectors: bool,
    /// Directory of the retention policies (`*.toml`).
    pub retention_dir: PathBuf,
    /// Seconds between scheduled tiering and retention passes; 0 turns them off.
    pub tier_interval_secs: u64,
    /// Where evidence files go; `None` means `file://<data_dir>/objects`.
    pub object_store_url: Option<String>,
    /// Largest evidence file accepted (413 beyond).
    pub evidence_max_bytes: u64,
    /// Alert events with the same fingerprint this close in time become one alert.
    pub alert_dedup_window_secs: u64,
    /// Most events a projection applies in one transaction.
    pub projection_batch_events: i64,
    /// Memory pool of one hunt, aggregate or named query; beyond it the query fails with 422.
    pub hunt_memory_limit_bytes: usize,
    /// A hunt's timeout when the request names none, and the most it may name.
    pub hunt_timeout_ms: u64,
    pub hunt_max_timeout_ms: u64,
    /// Rows a hunt returns when the request names no limit, and the most it may name.
    pub hunt_default_rows: usize,
    pub hunt_max_rows: usize,
    /// Hunts (and aggregates, named queries) running at once; more wait for a slot within
    /// their timeout. Each holds up to its memory limit and a database connection per scan.
    pub hunt_max_concurrent: usize,
    /// The named queries (`*.sql`).
    pub queries_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./data"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            log_format: LogFormat::Pretty,
            log_filter: "info,tokio_postgres=warn,deadpool=error".into(),
            max_body_bytes: 16 * 1024 * 1024,
            db_max_connections: 16,
            append_max_batch_events: 20_000,
            append_max_queued_events: 200_000,
            request_timeout_secs: 60,
            pg_port: 5432,
            replay_page_size: 2_000,
            run_connectors: true,
            retention_dir: PathBuf::from("./retention"),
            tier_interval_secs: 3_600,
            object_store_url: None,
            evidence_max_bytes: 64 * 1024 * 1024,
            alert_dedup_window_secs: 900,
            projection_batch_events: 2_000,
            hunt_memory_limit_bytes: 512 * 1024 * 1024,
            hunt_timeout_ms: 30_000,
            hunt_max_timeout_ms: 300_000,
            hunt_default_rows: 10_000,
            hunt_max_rows: 1_000_000,
            hunt_max_concurrent: 4,
            queries_dir: PathBuf::from("queries"),
        }
    }
}

impl Settings {
    /// Defaults, then `TIDEMARK_CONFIG`, then the environment.
    pub fn load() -> Result<Self, Error> {
        let mut settings = match std::env::var_os("TIDEMARK_CONFIG") {
            Some(path) => Self::from_file(PathBuf::from(path))?,
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    fn from_file(path: PathBuf) -> Result<Self, Error> {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| Error::Parse { path, source })
    }

    /// Applies environment overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        fn parse<T: FromStr>(name: &'static str, value: String) -> Result<T, Error>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| Error::Env {
                name,
                value,
                reason: e.to_string(),
            })
        }
        macro_rules! env {
            ($name:literal, $field:expr) => {
                if let Some(v) = get($name) {
                    $field = parse($name, v)?;
                }
            };
        }
        env!("TIDEMARK_DATA_DIR", self.data_dir);
        env!("TIDEMARK_HTTP_ADDR", self.http_addr);
        env!("TIDEMARK_LOG_FILTER", self.log_filter);
        env!("TIDEMARK_MAX_BODY_BYTES", self.max_body_bytes);
        env!("TIDEMARK_DB_MAX_CONNECTIONS", self.db_max_connections);
        env!("TIDEMARK_APPEND_MAX_BATCH_EVENTS", self.append_max_batch_events);
        env!("TIDEMARK_APPEND_MAX_QUEUED_EVENTS", self.append_max_queued_events);
        env!("TIDEMARK_REQUEST_TIMEOUT_SECS", self.request_timeout_secs);
        env!("TIDEMARK_PG_PORT", self.pg_port);
        env!("TIDEMARK_REPLAY_PAGE_SIZE", self.replay_page_size);
        env!("TIDEMARK_RUN_CONNECTORS", self.run_connectors);
        env!("TIDEMARK_RETENTION_DIR", self.retention_dir);
        env!("TIDEMARK_TIER_INTERVAL_SECS", self.tier_interval_secs);
        env!("TIDEMARK_EVIDENCE_MAX_BYTES", self.evidence_max_bytes);
        env!("TIDEMARK_ALERT_DEDUP_WINDOW_SECS", self.alert_dedup_window_secs);
        env!("TIDEMARK_PROJECTION_BATCH_EVENTS", self.projection_batch_events);
        env!("TIDEMARK_HUNT_MEMORY_LIMIT_BYTES", self.hunt_memory_limit_bytes);
        env!("TIDEMARK_HUNT_TIMEOUT_MS", self.hunt_timeout_ms);
        env!("TIDEMARK_HUNT_MAX_TIMEOUT_MS", self.hunt_max_timeout_ms);
        env!("TIDEMARK_HUNT_DEFAULT_ROWS", self.hunt_default_rows);
        env!("TIDEMARK_HUNT_MAX_ROWS", self.hunt_max_rows);
        env!("TIDEMARK_HUNT_MAX_CONCURRENT", self.hunt_max_concurrent);
        env!("TIDEMARK_QUERIES_DIR", self.queries_dir);
        if let Some(url) = get("TIDEMARK_OBJECT_STORE_URL").filter(|u| !u.is_empty()) {
            self.object_store_url = Some(url);
        }
        if let Some(v) = get("TIDEMARK_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                _ => {
                    return Err(Error::Env {
                        name: "TIDEMARK_LOG_FORMAT",
                        value: v,
                        reason: "expected json or pretty".into(),
                    });
                }
            };
        } else if get("TIDEMARK_ENV").as_deref() == Some("production") {
            self.log_format = LogFormat::Json;
        }
        if let Some(url) = get("DATABASE_URL")
            .or_else(|| get("TIDEMARK_DATABASE_URL"))
            .filter(|u| !u.is_empty())
        {
            self.database_url = Some(SecretString::from(url));
        }
        Ok(())
    }

    /// The object store URL: the setting, else `file://` and `<data_dir>/objects` made absolute.
    pub fn object_store_url(&self) -> String {
        if let Some(url) = &self.object_store_url {
            return url.clone();
        }
        let dir = self.data_dir.join("objects");
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        format!("file://{}", dir.display())
    }

    /// The external database's connection settings, if one is configured.
    pub fn database_config(&self) -> Result<Option<tokio_postgres::Config>, Error> {
        self.database_url
            .as_ref()
            .map(|url| {
                url.expose_secret()
                    .parse()
                    .map_err(|e: tokio_postgres::Error| Error::Env {
                        name: "DATABASE_URL",
                        value: "(hidden)".into(),
                        reason: e.to_string(),
                    })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_overrides_defaults_and_bad_values_name_the_variable() {
        let env: HashMap<&str, &str> = [
            ("TIDEMARK_HTTP_ADDR", "0.0.0.0:9000"),
            ("DATABASE_URL", "host=/tmp user=x"),
            ("TIDEMARK_ENV", "production"),
        ]
        .into();
        let mut s = Settings::default();
        s.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.http_addr.port(), 9000);
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(s.database_config().unwrap().is_some());
        assert!(
            !format!("{s:?}").contains("host=/tmp"),
            "the database URL must not print"
        );

        let err = Settings::default()
            .apply_env(|k| (k == "TIDEMARK_PG_PORT").then(|| "x".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("TIDEMARK_PG_PORT"), "{err}");
    }
}
