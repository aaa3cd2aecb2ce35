//! Tenants and API tokens. A token is shown once at creation; only its SHA-256 is stored.

use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::{Error, Result, Store};
use crate::event::{Role, TenantId};

/// Who is calling: the tenant a token is scoped to and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub role: Role,
    /// Who acts, as recorded on analyst actions: the token's label, else `token-<id>`.
    pub actor: String,
}

const TOKEN_PREFIX: &str = "tmk_";

/// Creates `tenant` if needed and a new token for it; returns the token text.
pub async fn create_token(store: &Store, tenant: &TenantId, role: Role, label: Option<&str>) -> Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Error::Unavailable(format!("no randomness for a token: {e}")))?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let client = store.client().await?;
    client
        .execute(
            "INSERT INTO tenants (id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&tenant.as_str()],
        )
        .await?;
    client
        .execute(
            "INSERT INTO api_tokens (tenant_id, role, token_hash, label) VALUES ($1, $2, $3, $4)",
            &[&tenant.as_str(), &role.as_str(), &hash_token(&token), &label],
        )
        .await?;
    Ok(token)
}

/// The caller a token belongs to, or `None` for an unknown or revoked token.
pub(crate) async fn lookup_token(store: &Store, token: &str) -> Result<Option<Caller>> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let client = store.client().await?;
    let row = client
        .query_opt(
            "SELECT tenant_id, role, id, label FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
            &[&hash_token(token)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (tenant, role): (String, String) = (row.get(0), row.get(1));
    let tenant = TenantId::new(&tenant).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let role = Role::from_str(&role).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let (id, label): (i64, Option<String>) = (row.get(2), row.get(3));
    let actor = label.filter(|l| !l.is_empty()).unwrap_or_else(|| format!("token-{id}"));
    Ok(Some(Caller { tenant, role, actor }))
}

pub(crate) fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
