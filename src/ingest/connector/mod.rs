//! Connectors: listeners configured as rows of the `connectors` table. [`config`] checks a
//! row's configuration; the [`Supervisor`] starts, stops and restarts listeners as rows
//! change, and saves each one's status and counters.

mod config;
mod supervisor;

pub use config::{
    Checked, ClientAuth, ConfigError, ConnectorConfig, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE, FilterConfig,
    Protocol, RateLimitConfig, TlsConfig,
};
pub use supervisor::{Live, Supervisor};
