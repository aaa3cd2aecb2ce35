//! Transports: listeners and pollers that turn bytes on the wire into raw records. A transport
//! only frames bytes; formats belong to `parse`, storage to `store`.

pub mod framing;
pub mod syslog;
