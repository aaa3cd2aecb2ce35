//! An incident's timeline: every event that touched it, in position order: its actions, and
//! for each alert linked to it, the alert's source events and actions.

use super::Result;
use super::action::ObjectRef;
use super::fold::{Cutoff, LIVE_ALERTS, events_at, load_incident};
use crate::event::TenantId;
use crate::store::{Store, StoredEvent};

/// Positions of the events on incident `id`'s timeline, ascending.
pub async fn timeline_positions(store: &Store, tenant: &TenantId, id: i64) -> Result<Vec<i64>> {
    let client = store.client().await?;
    let incident = load_incident(&**client, tenant, id, Cutoff::Now).await?;
    let mut positions: Vec<i64> = vec![id];
    let mut objects = vec![ObjectRef::Incident(id)];
    objects.extend(incident.alert_ids.iter().map(|a| ObjectRef::Alert(*a)));
    for object in objects {
        let rows = client
            .query(
                "SELECT position FROM events WHERE tenant_id = $1 AND kind = 'action' \
                 AND (fields -> 'soc.objects') @> $2::jsonb",
                &[&tenant.as_str(), &object.probe()],
            )
            .await?;
        positions.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    let rows = client
        .query(
            &format!(
                "SELECT position FROM alert_sources WHERE version = {LIVE_ALERTS} AND tenant_id = $1 \
                 AND alert_id = ANY($2)"
            ),
            &[&tenant.as_str(), &incident.alert_ids],
        )
        .await?;
    positions.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    positions.sort_unstable();
    positions.dedup();
    Ok(positions)
}

/// The tenant's events at `positions` (ascending), for one page of a timeline.
pub async fn timeline_page(store: &Store, tenant: &TenantId, positions: &[i64]) -> Result<Vec<StoredEvent>> {
    let client = store.client().await?;
    events_at(&**client, tenant, positions, Cutoff::Now).await
}
