//! Transports: listeners that turn bytes on the wire into messages for `parse`. A transport
//! only frames bytes; formats belong to `parse`, storage to `store`. Listeners are run as
//! connectors: rows of the `connectors` table that a [`connector::Supervisor`] keeps running.

pub mod connector;
pub mod framing;
pub mod ratelimit;
pub mod stats;
pub mod syslog;
pub mod tls;
