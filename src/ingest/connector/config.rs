//! A connector's configuration as the API takes it and the `connectors.config` column keeps it,
//! and its checked form. Every check names the field it refuses.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ingest::syslog::{Filter, ListenerOptions, Severity};
use crate::parse::Format;

/// Longest message kept unless a connector says otherwise (RFC 6587 receivers commonly use 64 KiB).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;
/// Largest `max_message_bytes` accepted: a UDP datagram cannot be longer, and it bounds memory per connection.
const MAX_MESSAGE_LIMIT: usize = 1024 * 1024;
/// Most TCP or TLS connections one connector serves at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_000;

/// The transport a connector listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s {
            "udp" => Ok(Protocol::Udp),
            "tcp" => Ok(Protocol::Tcp),
            "tls" => Ok(Protocol::Tls),
            other => Err(ConfigError::new(
                "protocol",
                format!("{other:?} is not one of udp, tcp, tls"),
            )),
        }
    }
}

/// A configuration the server refuses, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `connectors.config`, as written by the API caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// `host:port` to listen on, e.g. `0.0.0.0:6514`.
    pub bind: String,
    /// Format hint for the parser (`auto` by default), e.g. `cef` for CEF over syslog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Zone of timestamps that carry none (IANA name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// `source` of the stored events; `syslog:<connector name>` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
}

/// Certificate and key of a TLS listener, and how it treats client certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate chain.
    pub cert: PathBuf,
    /// PEM file with the server's private key.
    pub key: PathBuf,
    /// PEM file with the CAs that sign client certificates; needed unless `client_auth` is `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// Whether a TLS client must present a certificate signed by `client_ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    None,
    Optional,
    Required,
}

/// Which messages are kept: at most `max_severity` (0 emerg … 7 debug), and only the listed
/// facilities, minus the excluded ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// A severity name (`warning`) or number (4); less severe messages are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_severity: Option<serde_json::Value>,
    /// Facility names or numbers to keep; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilities: Option<Vec<serde_json::Value>>,
    /// Facility names or numbers to drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_facilities: Vec<serde_json::Value>,
}

/// A token bucket per source IP: `burst` messages at once, refilled at `per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_second: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl ConnectorConfig {
    /// Reads `value` (the API body's `config`), naming the field at fault.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        serde_json::from_value(value).map_err(|e| ConfigError::new("config", e.to_string()))
    }

    /// The listener options this configuration stands for; file paths are checked when the
    /// listener starts, since the server, not the API caller, must be able to read them.
    pub fn check(&self, protocol: Protocol, name: &str) -> Result<Checked, ConfigError> {
        let bind: SocketAddr = self.bind.parse().map_err(|_| {
            ConfigError::new(
                "config.bind",
                format!("{:?} is not an address like 0.0.0.0:6514", self.bind),
            )
        })?;
        let format = match &self.format {
            Some(f) => f
                .parse::<Format>()
                .map_err(|e| ConfigError::new("config.format", e.to_string()))?,
            None => Format::Auto,
        };
        let tz = match &self.tz {
            Some(tz) => Some(
                tz.parse::<chrono_tz::Tz>()
                    .map_err(|_| ConfigError::new("config.tz", format!("unknown time zone {tz:?}")))?,
            ),
            None => None,
        };
        let source = match &self.source {
            Some(s) if s.trim().is_empty() || s.len() > 200 => {
                return Err(ConfigError::new("config.source", "must be 1 to 200 characters"));
            }
            Some(s) if let Some(owner) = crate::event::reserved_source(s) => {
                return Err(ConfigError::new(
                    "config.source",
                    format!("{s:?} is reserved for {owner}"),
                ));
            }
            Some(s) => s.clone(),
            None => format!("syslog:{name}"),
        };
        let max_message = self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE);
        if !(1..=MAX_MESSAGE_LIMIT).contains(&max_message) {
            return Err(ConfigError::new(
                "config.max_message_bytes",
                format!("must be between 1 and {MAX_MESSAGE_LIMIT}"),
            ));
        }
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if !(1..=100_000).contains(&max_connections) {
            return Err(ConfigError::new(
                "config.max_connections",
                "must be between 1 and 100000",
            ));
        }
        match (protocol, &self.tls) {
            (Protocol::Tls, None) => {
                return Err(ConfigError::new(
                    "config.tls",
                    "a tls connector needs tls.cert and tls.key",
                ));
            }
            (Protocol::Udp | Protocol::Tcp, Some(_)) => {
                return Err(ConfigError::new(
                    "config.tls",
                    "only a tls connector takes TLS settings",
                ));
            }
            (Protocol::Tls, Some(tls)) if tls.client_auth != ClientAuth::None && tls.client_ca.is_none() => {
                return Err(ConfigError::new(
                    "config.tls.client_ca",
                    "client_auth optional or required needs the CA file that signs client certificates",
                ));
            }
            _ => {}
        }
        let filter = self
            .filter
            .as_ref()
            .map(FilterConfig::check)
            .transpose()?
            .unwrap_or_default();
        let rate_limit = match &self.rate_limit {
            Some(r) => {
                if !(r.per_second.is_finite() && r.per_second > 0.0 && r.per_second <= 10_000_000.0) {
                    return Err(ConfigError::new(
                        "config.rate_limit.per_second",
                        "must be a number above 0 and at most 10000000",
                    ));
                }
                let burst = r.burst.unwrap_or_else(|| r.per_second.ceil().max(1.0) as u32);
                if burst == 0 {
                    return Err(ConfigError::new("config.rate_limit.burst", "must be at least 1"));
                }
                Some((r.per_second, burst))
            }
            None => None,
        };
        Ok(Checked {
            bind,
            max_connections,
            tls: self.tls.clone(),
            listener: ListenerOptions {
                source,
                format,
                tz,
                max_message,
                filter,
                rate_limit,
            },
        })
    }
}

impl FilterConfig {
    fn check(&self) -> Result<Filter, ConfigError> {
        let max_severity = match &self.max_severity {
            Some(v) => Severity::from_json(v).ok_or_else(|| {
                ConfigError::new(
                    "config.filter.max_severity",
                    format!("{v} is not a syslog severity (0-7 or emerg … debug)"),
                )
            })?,
            None => Severity::DEBUG,
        };
        let facilities = |field: &str, values: &[serde_json::Value]| -> Result<u32, ConfigError> {
            values.iter().try_fold(0u32, |mask, v| {
                crate::ingest::syslog::facility_from_json(v)
                    .map(|f| mask | (1 << f))
                    .ok_or_else(|| {
                        ConfigError::new(field, format!("{v} is not a syslog facility (0-23 or kern … local7)"))
                    })
            })
        };
        let allowed = match &self.facilities {
            Some(list) => facilities("config.filter.facilities", list)?,
            None => u32::MAX,
        };
        let excluded = facilities("config.filter.exclude_facilities", &self.exclude_facilities)?;
        Ok(Filter {
            max_severity,
            facilities: allowed & !excluded,
        })
    }
}

/// A configuration that passed [`ConnectorConfig::check`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub bind: SocketAddr,
    pub max_connections: usize,
    pub tls: Option<TlsConfig>,
    pub listener: ListenerOptions,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(protocol: Protocol, config: serde_json::Value) -> Result<Checked, ConfigError> {
        ConnectorConfig::from_json(config)?.check(protocol, "edge")
    }

    #[test]
    fn defaults_fill_source_size_and_format() {
        let c = check(Protocol::Udp, json!({"bind": "127.0.0.1:5514"})).unwrap();
        assert_eq!(c.bind.port(), 5514);
        assert_eq!(c.listener.source, "syslog:edge");
        assert_eq!(c.listener.max_message, DEFAULT_MAX_MESSAGE);
        assert_eq!(c.listener.format, Format::Auto);
        assert!(c.listener.rate_limit.is_none());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (Protocol::Udp, json!({"bind": "nowhere"}), "config.bind"),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "format": "yaml"}),
                "config.format",
            ),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "tz": "Mars/Olympus"}),
                "config.tz",
            ),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "max_message_bytes": 0}),
                "config.max_message_bytes",
            ),
            (Protocol::Tls, json!({"bind": "0.0.0.0:1"}), "config.tls"),
            (
                Protocol::Tcp,
                json!({"bind": "0.0.0.0:1", "tls": {"cert": "a", "key": "b"}}),
                "config.tls",
            ),
            (
                Protocol::Tls,
                json!({"bind": "0.0.0.0:1", "tls": {"cert": "a", "key": "b", "client_auth": "required"}}),
                "config.tls.client_ca",
            ),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "filter": {"max_severity": "loud"}}),
                "config.filter.max_severity",
            ),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "filter": {"facilities": ["auth", 99]}}),
                "config.filter.facilities",
            ),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "rate_limit": {"per_second": -1}}),
                "config.rate_limit.per_second",
            ),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "rate_limit": {"per_second": 5, "burst": 0}}),
                "config.rate_limit.burst",
            ),
            (Protocol::Udp, json!({"bind": "0.0.0.0:1", "colour": "blue"}), "config"),
            (
                Protocol::Udp,
                json!({"bind": "0.0.0.0:1", "source": "soc"}),
                "config.source",
            ),
        ];
        for (protocol, config, field) in cases {
            let err = check(protocol, config.clone()).expect_err(&config.to_string());
            assert_eq!(err.field, field, "{config}: {err}");
        }
    }

    #[test]
    fn facility_lists_combine_into_one_mask() {
        let c = check(
            Protocol::Udp,
            json!({"bind": "0.0.0.0:1", "filter": {"max_severity": "warning", "facilities": ["auth", "authpriv", 16], "exclude_facilities": ["authpriv"]}}),
        )
        .unwrap();
        let f = c.listener.filter;
        assert_eq!(f.max_severity, Severity(4));
        assert_eq!(f.facilities, (1 << 4) | (1 << 16));
    }
}
