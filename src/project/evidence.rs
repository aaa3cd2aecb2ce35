//! Evidence files: streamed into the object store while their SHA-256 and size are counted,
//! then registered on the incident by an `incident.evidence` action. A file whose action fails
//! is deleted at once; one left behind by a crash in between is removed by [`sweep_orphans`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::action::ObjectRef;
use super::commands::{ActionOutcome, Soc};
use super::fold::{Cutoff, load_incident};
use super::incident::{Evidence, evidence_payload};
use super::{Error, Result, required_text};
use crate::event::TenantId;
use crate::store::{Caller, Store};

const PREFIX: &str = "evidence";
const MAX_FILE_NAME: usize = 255;

/// Opens the object store a URL names (see [`crate::tier::objects::open`]).
pub fn open_object_store(url: &str) -> Result<Arc<dyn ObjectStore>> {
    crate::tier::objects::open(url).map_err(|e| Error::ObjectStoreUrl {
        url: e.url,
        reason: e.reason,
    })
}

/// What the uploader says about a file.
#[derive(Debug, Clone)]
pub struct EvidenceUpload {
    pub name: String,
    pub content_type: String,
}

fn new_evidence_id() -> Result<String> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| Error::Upload(format!("no randomness for an evidence id: {e}")))?;
    Ok(hex::encode(id))
}

impl Soc {
    async fn object_store(&self) -> Result<Arc<dyn ObjectStore>> {
        let url = self.object_store_url.as_deref().ok_or(Error::NoObjectStore)?;
        let objects = self
            .objects
            .get_or_try_init(|| async { open_object_store(url) })
            .await?;
        Ok(Arc::clone(objects))
    }

    /// Stores `body` as evidence of incident `id`: checks the incident, streams the file into
    /// the object store (refusing it past the size limit), then registers it with an action.
    #[tracing::instrument(skip_all, fields(incident = id), err)]
    pub async fn add_evidence<S, E>(
        &self,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        upload: EvidenceUpload,
        body: S,
    ) -> Result<(ActionOutcome, Evidence)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let objects = self.object_store().await?;
        let name = required_text("name", &upload.name, MAX_FILE_NAME)?;
        if name.chars().any(char::is_control) {
            return Err(Error::BadInput(
                "query parameter `name` must not contain control characters".into(),
            ));
        }
        // Fail fast, before any byte is stored; checked again under the lock when registering.
        let incident = load_incident(&**self.store.client().await?, &caller.tenant, id, Cutoff::Now).await?;
        incident.check(None, &[]).map_err(|message| Error::InvalidTransition {
            message,
            current: Box::new(serde_json::to_value(&incident).unwrap_or_default()),
        })?;
        let evidence_id = new_evidence_id()?;
        let key = format!("{PREFIX}/{}/{id}/{evidence_id}", caller.tenant);
        let (sha256, size) = write(&objects, &key, body, self.evidence_max_bytes).await?;
        let evidence = Evidence {
            id: evidence_id,
            name,
            content_type: upload.content_type,
            size,
            sha256,
            key: key.clone(),
            position: 0,
            added_at: chrono::Utc::now(),
            added_by: caller.actor.clone(),
        };
        match self
            .register_evidence(caller, id, if_match, evidence_payload(&evidence))
            .await
        {
            Ok(outcome) => {
                self.metrics.evidence_bytes.inc_by(size);
                let evidence = Evidence {
                    position: outcome.position,
                    ..evidence
                };
                Ok((outcome, evidence))
            }
            Err(e) => {
                // Nothing half-written: an unregistered file must not stay.
                if let Err(del) = objects.delete(&Path::from(key.as_str())).await {
                    tracing::warn!(key, error = %del, "could not delete an unregistered evidence file; the sweep will");
                }
                Err(e)
            }
        }
    }

    /// Evidence `evidence_id` of the tenant's incident `id` and a stream of its bytes.
    pub async fn evidence_file(
        &self,
        tenant: &TenantId,
        id: i64,
        evidence_id: &str,
    ) -> Result<(
        Evidence,
        futures_util::stream::BoxStream<'static, object_store::Result<Bytes>>,
    )> {
        let objects = self.object_store().await?;
        let incident = load_incident(&**self.store.client().await?, tenant, id, Cutoff::Now).await?;
        let evidence = incident
            .evidence
            .into_iter()
            .find(|e| e.id == evidence_id)
            .ok_or_else(|| Error::NotFound(format!("evidence {evidence_id} of incident {id}")))?;
        let file = objects.get(&Path::from(evidence.key.as_str())).await?;
        Ok((evidence, file.into_stream()))
    }
}

/// Streams `body` to `key` and returns its hex SHA-256 and size. Past `limit` bytes, or on a
/// read error, the partial upload is aborted and nothing is left.
async fn write<S, E>(objects: &Arc<dyn ObjectStore>, key: &str, mut body: S, limit: u64) -> Result<(String, u64)>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let upload = objects.put_multipart(&Path::from(key)).await?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, 8 << 20);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let failure = loop {
        match body.next().await {
            None => break None,
            Some(Err(e)) => break Some(Error::Upload(e.to_string())),
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                if size > limit {
                    break Some(Error::TooLarge { limit });
                }
                hasher.update(&chunk);
                if let Err(e) = writer.wait_for_capacity(2).await {
                    break Some(e.into());
                }
                writer.write(&chunk);
            }
        }
    };
    match failure {
        None => {
            writer.finish().await?;
            Ok((hex::encode(hasher.finalize()), size))
        }
        Some(e) => {
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

/// Deletes evidence files older than `min_age` that no `incident.evidence` action names:
/// left by a crash between storing a file and registering it. Returns how many it removed.
pub async fn sweep_orphans(store: &Store, objects: &Arc<dyn ObjectStore>, min_age: Duration) -> Result<usize> {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default();
    let mut listing = objects.list(Some(&Path::from(PREFIX)));
    let client = store.client().await?;
    let mut removed = 0;
    while let Some(meta) = listing.next().await {
        let meta = meta?;
        if meta.last_modified > cutoff {
            continue;
        }
        let key = meta.location.to_string();
        let parts: Vec<&str> = key.split('/').collect();
        let (Some(tenant), Some(incident)) = (parts.get(1), parts.get(2).and_then(|i| i.parse::<i64>().ok())) else {
            continue;
        };
        let probe = ObjectRef::Incident(incident).probe();
        let registered = client
            .query_opt(
                "SELECT 1 FROM events WHERE tenant_id = $1 AND kind = 'action' AND event_action = 'incident.evidence' \
                 AND (fields -> 'soc.objects') @> $2::jsonb AND fields -> 'soc.payload' ->> 'key' = $3 LIMIT 1",
                &[tenant, &probe, &key],
            )
            .await?
            .is_some();
        if !registered {
            objects.delete(&meta.location).await?;
            tracing::info!(key, "removed an orphaned evidence file");
            removed += 1;
        }
    }
    Ok(removed)
}
