//! The HTTP API (axum). The only module that knows about HTTP; handlers read as a few `?`
//! steps over the store, and `error` maps every failure to a status code.

mod aggregates;
mod alerts;
mod auth;
mod connectors;
pub mod error;
mod health;
mod hunt;
mod incidents;
mod ingest;
mod replay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use self::error::{ApiError, ApiResult};
use crate::ingest::connector::Supervisor;
use crate::project::{RunnerSet, Soc};
use crate::query::{QueryEngine, QueryOptions};
use crate::store::{Appender, Store};
use crate::telemetry::{HttpLabels, Metrics};

/// Limits a caller cannot exceed.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub replay_page_size: i64,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    /// The listeners of the `connectors` table.
    pub connectors: Arc<Supervisor>,
    tokens: Arc<auth::TokenCache>,
    /// Analyst actions and evidence files.
    pub soc: Soc,
    /// This process's projection runners; they stop with the last clone of the state.
    projections: Option<Arc<RunnerSet>>,
    /// The object store of the cold tier; `None` when its URL could not be opened (logged).
    pub objects: Option<Arc<dyn object_store::ObjectStore>>,
    /// Hunt limits and the named queries' directory.
    pub query: Arc<QueryOptions>,
}

impl AppState {
    pub fn new(store: Store, appender: Appender, metrics: Arc<Metrics>, limits: Limits) -> Self {
        let (store_for_soc, appender_for_soc) = (store.clone(), appender.clone());
        let (metrics_for_soc, request_timeout) = (Arc::clone(&metrics), limits.request_timeout);
        let connectors = Arc::new(Supervisor::new(store.clone(), appender.clone(), Arc::clone(&metrics)));
        AppState {
            store,
            appender,
            metrics,
            limits: Arc::new(limits),
            connectors,
            tokens: Arc::default(),
            soc: Soc::new(store_for_soc, appender_for_soc, metrics_for_soc, request_timeout),
            projections: None,
            objects: None,
            query: Arc::default(),
        }
    }

    /// Keeps `runners` alive as long as the state.
    pub fn with_projections(mut self, runners: RunnerSet) -> Self {
        self.projections = Some(Arc::new(runners));
        self
    }
}

impl AppState {
    /// The query layer over this state's database and cold tier.
    pub(crate) fn query_engine(&self) -> QueryEngine {
        QueryEngine::new(self.store.clone(), self.objects.clone(), self.query.limits.clone())
            .with_shared(self.query.shared.clone())
    }
}

/// Reads a JSON request body whatever its `Content-Type`; malformed JSON or a wrong field is a
/// 400 naming the field, line and column.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}

/// The whole API as a router, so tests can drive it without a socket.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/api/v1/ingest", post(ingest::ingest))
        .route("/api/v1/ingest/raw", post(ingest::ingest_raw))
        .route("/api/v1/metrics", post(ingest::metrics))
        .route("/api/v1/replay", get(replay::replay))
        .route("/api/v1/hunt", post(hunt::hunt))
        .route("/api/v1/queries", get(hunt::list_queries))
        .route("/api/v1/queries/{name}", post(hunt::run_query))
        .route("/api/v1/aggregates/events", get(aggregates::events))
        .route("/api/v1/aggregates/metrics", get(aggregates::metrics))
        .route("/api/v1/connectors", get(connectors::list).post(connectors::create))
        .route(
            "/api/v1/connectors/{id}",
            get(connectors::get).patch(connectors::update).delete(connectors::delete),
        )
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}", get(alerts::get))
        .route("/api/v1/alerts/{id}/actions", post(alerts::act))
        .route("/api/v1/incidents", get(incidents::list).post(incidents::create))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route("/api/v1/incidents/{id}/actions", post(incidents::act))
        .route("/api/v1/incidents/{id}/timeline", get(incidents::timeline))
        .route(
            "/api/v1/incidents/{id}/evidence",
            // The file streams to the object store; its own size limit applies, not max_body_bytes.
            get(incidents::list_evidence).post(incidents::upload_evidence),
        )
        .route(
            "/api/v1/incidents/{id}/evidence/{evidence_id}",
            get(incidents::download_evidence),
        )
        .route("/api/health", get(health::health))
        .route("/metrics", get(health::prometheus))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), route, request_id, tenant = tracing::field::Empty)
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(req).await;
    let labels = HttpLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state
        .metrics
        .http_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}
