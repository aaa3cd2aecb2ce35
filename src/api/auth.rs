//! Bearer-token authentication. Known tokens are cached briefly so that a database blip does
//! not turn every request into a lookup failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::store::{Caller, auth::hash_token, auth::lookup_token};

const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 10_000;

/// Recently seen tokens, by hash.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<Vec<u8>, (Caller, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &[u8]) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(c, _)| c.clone())
    }

    fn put(&self, hash: Vec<u8>, caller: Caller) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX {
                entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if entries.len() >= CACHE_MAX {
                    entries.clear();
                }
            }
            entries.insert(hash, (caller, Instant::now()));
        }
    }
}

/// The authenticated caller of a request.
pub(crate) struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing Authorization: Bearer <token> header"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized("Authorization header must be 'Bearer <token>'"))?;
        let hash = hash_token(token);
        let caller = match state.tokens.get(&hash) {
            Some(caller) => caller,
            None => {
                let caller = lookup_token(&state.store, token)
                    .await?
                    .ok_or(ApiError::Unauthorized("invalid or revoked token"))?;
                state.tokens.put(hash, caller.clone());
                caller
            }
        };
        tracing::Span::current().record("tenant", caller.tenant.as_str());
        Ok(Authenticated(caller))
    }
}

impl Authenticated {
    pub(crate) fn require(self, allowed: fn(crate::event::Role) -> bool, what: &str) -> Result<Caller, ApiError> {
        if allowed(self.0.role) {
            Ok(self.0)
        } else {
            Err(ApiError::Forbidden(format!("role {} may not {what}", self.0.role)))
        }
    }
}
