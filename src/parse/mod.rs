//! Turning bytes into normalized events. Pure code: no tokio, sqlx, axum or database; each
//! function here can be tested and benched without a runtime.
//!
//! `records` frames a request body (JSON array or NDJSON) into records with their raw bytes;
//! `ecs` normalizes one ECS-style JSON object into a [`crate::event::NewEvent`].

pub(crate) mod ecs;
pub(crate) mod metric;
pub(crate) mod records;

pub use ecs::{NormalizeError, normalize};
pub use metric::{SampleError, sample};
pub use records::{FrameError, Record, split_records};
