//! `/api/v1/connectors`: the tenant's listeners (admin role). A write is checked, stored, and
//! applied to the running listeners before the answer, which shows the listener's state.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::{AppState, json_body};
use crate::event::{Role, TenantId};
use crate::ingest::connector::{ConnectorConfig, Protocol};
use crate::store::connectors::{self as table, ConnectorChange, ConnectorRow};

const WHAT: &str = "manage connectors";
/// Most connectors one tenant may have: each holds a port and a task.
const MAX_PER_TENANT: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnector {
    name: String,
    protocol: String,
    #[serde(default = "yes")]
    enabled: bool,
    config: Value,
}

fn yes() -> bool {
    true
}

/// A PATCH body; `config` is a JSON merge patch (RFC 7396) on the stored configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectorPatch {
    name: Option<String>,
    protocol: Option<String>,
    enabled: Option<bool>,
    config: Option<Value>,
}

/// A connector and its status: live from this server's listener, else as last saved.
#[derive(Debug, Serialize)]
struct View {
    #[serde(flatten)]
    row: ConnectorRow,
    status: Value,
}

pub(crate) async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<impl IntoResponse> {
    let caller = auth.require(Role::is_admin, WHAT)?;
    let rows = table::list_connectors(&state.store, Some(&caller.tenant)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(view(&state, row).await?);
    }
    Ok(Json(serde_json::json!({ "connectors": out })))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<impl IntoResponse> {
    let caller = auth.require(Role::is_admin, WHAT)?;
    let row = find(&state, &caller.tenant, id).await?;
    Ok(Json(view(&state, row).await?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let caller = auth.require(Role::is_admin, WHAT)?;
    let new: NewConnector = json_body(&body)?;
    check_name(&new.name)?;
    let protocol = Protocol::parse(&new.protocol).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    check_config(new.config.clone(), protocol, &new.name)?;
    if table::list_connectors(&state.store, Some(&caller.tenant)).await?.len() >= MAX_PER_TENANT {
        return Err(ApiError::Conflict(format!(
            "a tenant may have at most {MAX_PER_TENANT} connectors"
        )));
    }
    let row = table::create_connector(
        &state.store,
        &caller.tenant,
        &new.name,
        protocol.as_str(),
        new.enabled,
        &new.config,
    )
    .await?;
    tracing::info!(connector = %row.name, id = row.id, actor = %caller.actor, "connector created");
    state.connectors.apply().await;
    Ok((StatusCode::CREATED, Json(view(&state, row).await?)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let caller = auth.require(Role::is_admin, WHAT)?;
    let patch: ConnectorPatch = json_body(&body)?;
    let current = find(&state, &caller.tenant, id).await?;
    if let Some(name) = &patch.name {
        check_name(name)?;
    }
    let protocol = Protocol::parse(patch.protocol.as_deref().unwrap_or(&current.protocol))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut config = current.config.clone();
    if let Some(p) = &patch.config {
        merge_patch(&mut config, p);
    }
    check_config(config.clone(), protocol, patch.name.as_deref().unwrap_or(&current.name))?;
    let change = ConnectorChange {
        name: patch.name,
        protocol: Some(protocol.as_str().to_owned()),
        enabled: patch.enabled,
        config: Some(config),
        expected_version: Some(current.version),
    };
    let row = table::update_connector(&state.store, &caller.tenant, id, &change)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("connector {id} changed meanwhile; read it again and retry")))?;
    tracing::info!(connector = %row.name, id, version = row.version, actor = %caller.actor, "connector changed");
    state.connectors.apply().await;
    Ok(Json(view(&state, row).await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<impl IntoResponse> {
    let caller = auth.require(Role::is_admin, WHAT)?;
    if !table::delete_connector(&state.store, &caller.tenant, id).await? {
        return Err(not_found(id));
    }
    tracing::info!(id, actor = %caller.actor, "connector deleted");
    state.connectors.apply().await;
    Ok(StatusCode::NO_CONTENT)
}

async fn find(state: &AppState, tenant: &TenantId, id: i64) -> ApiResult<ConnectorRow> {
    table::get_connector(&state.store, tenant, id)
        .await?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no connector {id} in this tenant"))
}

async fn view(state: &AppState, row: ConnectorRow) -> ApiResult<View> {
    let status = match state.connectors.live(row.id).await {
        Some(live) => serde_json::to_value(live).map(|mut v| {
            v["source"] = "live".into();
            v
        }),
        None => match table::load_status(&state.store, &[row.id]).await?.remove(&row.id) {
            Some(saved) => serde_json::to_value(saved).map(|mut v| {
                v["source"] = "saved".into();
                v
            }),
            None => Ok(serde_json::json!({ "state": "starting", "source": "none" })),
        },
    }
    .unwrap_or(Value::Null);
    Ok(View { row, status })
}

fn check_name(name: &str) -> ApiResult<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'_' | b'.' | b'-')));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "name: {name:?} must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )))
    }
}

fn check_config(config: Value, protocol: Protocol, name: &str) -> ApiResult<()> {
    ConnectorConfig::from_json(config)
        .and_then(|c| c.check(protocol, name))
        .map(drop)
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// RFC 7396: objects merge key by key, `null` removes a key, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"bind": "0.0.0.0:1", "tz": "UTC", "filter": {"max_severity": 4, "facilities": ["auth"]}});
        merge_patch(
            &mut doc,
            &json!({"bind": "0.0.0.0:2", "tz": null, "filter": {"facilities": ["kern"]}}),
        );
        assert_eq!(
            doc,
            json!({"bind": "0.0.0.0:2", "filter": {"max_severity": 4, "facilities": ["kern"]}})
        );
    }
}
