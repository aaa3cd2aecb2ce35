//! A retention run: every cold file whose policy's hot plus cold window has passed, and that no
//! legal hold keeps, is unregistered, recorded as an event, and deleted once no reader holds a
//! snapshot that may still read it.

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;
use serde_json::json;

use super::manifest::{HANDOFF_LOCK, all_files};
use super::policy::{Policy, governing};
use super::run::{RunLock, TierContext};
use super::{Error, Result};

/// One file's fate.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    pub path: String,
    pub tenant: String,
    pub kind: String,
    pub policy: String,
    pub max_recorded_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rows: i64,
    pub bytes: i64,
    /// `delete`, `keep` (not yet expired or kept forever) or `legal_hold`.
    pub decision: &'static str,
}

/// What a run did, or in a dry run would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub deleted_files: usize,
    pub deleted_rows: i64,
    pub held_files: usize,
    pub files: Vec<Expiry>,
}

/// Applies `policies` to every cold file as of `now`.
pub async fn retention_run(
    ctx: &TierContext,
    policies: &[Policy],
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RetentionReport> {
    let lock = RunLock::take(&ctx.store).await?;
    let mut report = RetentionReport {
        dry_run,
        ..RetentionReport::default()
    };
    for file in all_files(&ctx.store).await? {
        let kind = file.kind.clone().unwrap_or_else(|| "metric".to_owned());
        let policy = governing(policies, &file.tenant, &kind).map_err(Error::Policy)?;
        let expires_at = policy.cold_for.map(|cold| file.max_recorded_at + policy.hot_for + cold);
        let decision = match expires_at {
            Some(_) if policy.legal_hold => "legal_hold",
            Some(at) if at <= now => "delete",
            _ => "keep",
        };
        if decision == "legal_hold" {
            report.held_files += 1;
        }
        if decision == "delete" {
            report.deleted_files += 1;
            report.deleted_rows += file.row_count;
            if !dry_run {
                delete(ctx, &lock, &file, policy).await?;
            }
        }
        report.files.push(Expiry {
            path: file.path,
            tenant: file.tenant,
            kind,
            policy: policy.name.clone(),
            max_recorded_at: file.max_recorded_at,
            expires_at,
            rows: file.row_count,
            bytes: file.bytes,
            decision,
        });
    }
    Ok(report)
}

async fn delete(ctx: &TierContext, lock: &RunLock, file: &super::ColdFile, policy: &Policy) -> Result<()> {
    let client = lock.client();
    let err = crate::store::Error::from;
    client
        .execute("DELETE FROM cold_files WHERE id = $1", &[&file.id])
        .await
        .map_err(err)?;
    let fields = json!({
        "tidemark.action": "retention.delete",
        "tidemark.table": file.table,
        "tidemark.path": file.path,
        "tidemark.policy": policy.name,
        "tidemark.policy_file": policy.file,
        "tidemark.rows": file.row_count,
        "tidemark.bytes": file.bytes,
        "tidemark.sha256": hex::encode(&file.sha256),
        "tidemark.first_position": file.first_position,
        "tidemark.last_position": file.last_position,
        "tidemark.max_recorded_at": file.max_recorded_at,
    });
    let message = format!(
        "deleted {} {} rows in {} under retention policy {}",
        file.row_count, file.table, file.path, policy.name
    );
    super::action::record(&ctx.appender, &file.tenant, "retention.delete", message, fields).await;
    // Readers that listed the file before it was unregistered finish first.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&HANDOFF_LOCK])
        .await
        .map_err(err)?;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&HANDOFF_LOCK])
        .await
        .map_err(err)?;
    match ctx.objects.delete(&Path::from(file.path.as_str())).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        // Unregistered already: the next tiering run removes it as an orphan.
        Err(e) => tracing::warn!(path = %file.path, error = %e, "cannot delete an expired cold file yet"),
    }
    tracing::info!(path = %file.path, rows = file.row_count, policy = %policy.name, "cold file expired and deleted");
    Ok(())
}
