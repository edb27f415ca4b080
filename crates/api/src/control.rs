//! The controller's HTTP API ([`controller_app`]): the JSON routes under `/api/v1` over
//! [`Shared`] (the latest view, the store, the policy, plan decisions), the Prometheus
//! `/metrics`, the dashboard at `/` and `/healthz`.
//!
//! Every `/api/v1` route is in one table, `ROUTES`: the router is built from it and the
//! OpenAPI test compares it with `openapi.json`, so a route cannot be served undocumented or
//! documented unserved. Handlers parse HTTP into the controller's calls and nothing else;
//! store reads and commands run on tokio's blocking pool (they take the store's lock).
//!
//! Errors are JSON `{"error": "…"}` naming the parameter or id: 400 for a bad parameter or body,
//! 401 without a valid token ([`crate::auth`]), 404 for an unknown id or route, 405 for a
//! method a route does not serve, 409 for a plan that is no longer proposed, 500 when the store
//! fails.

use crate::auth::{require_token, Auth};
use crate::error;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use controller::beacons::BeaconState;
use controller::shared::{CommandError, Shared};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The hand-written OpenAPI 3.0 document of every route, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The dashboard: one self-contained page (inline CSS and JS), served at `/`.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// Who the API names as the author of policies it puts and of plan decisions it makes.
const AUTHOR: &str = "api";

/// `limit` when a list route is not given one.
const DEFAULT_LIMIT: usize = 20;
/// The most records a list route answers with.
const MAX_LIMIT: usize = 500;

type Ctx = Arc<Shared>;
type Reply = Result<Response, ApiError>;

/// Every route under `/api/v1`. The router serves exactly these; `openapi.json` documents
/// exactly these (tested).
static ROUTES: &[crate::Route<Ctx>] = &[
    route!(GET "/api/v1/status" => status),
    route!(GET "/api/v1/hosts" => hosts),
    route!(GET "/api/v1/hosts/{id}" => host),
    route!(GET "/api/v1/instances" => instances),
    route!(GET "/api/v1/telemetry" => telemetry),
    route!(GET "/api/v1/telemetry/{metric}" => metric_series),
    route!(GET "/api/v1/thermal" => thermal),
    route!(GET "/api/v1/plan" => current_plan),
    route!(GET "/api/v1/plans" => plans),
    route!(GET "/api/v1/plans/{id}" => plan),
    route!(POST "/api/v1/plans/{id}/approve" => approve),
    route!(POST "/api/v1/plans/{id}/reject" => reject),
    route!(GET "/api/v1/policy" => policy),
    route!(PUT "/api/v1/policy" => put_policy),
    route!(GET "/api/v1/policy/versions" => policy_versions),
    route!(GET "/api/v1/audit" => audit),
    route!(GET "/api/v1/journal" => journal),
    route!(GET "/api/v1/openapi.json" => openapi),
];

/// Every `(method, path)` served under `/api/v1`, in the route table's order.
pub fn api_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::table_routes(ROUTES)
}

/// The controller's router: `/api/v1/*` (bearer token required), `/metrics`, `/` and
/// `/healthz` (open), and with `beacons` the beacon routes of [`crate::app`], whose α writes
/// (`PUT`/`DELETE /v1/beacons/alpha`) then need the token too.
///
/// `/metrics` is open so Prometheus can scrape it without a secret: it exposes aggregates only
/// (site and per-host power and temperature, counts of plans, actions and events), no ids of
/// instances, no plan contents, no policy, no tokens.
pub fn controller_app(
    shared: Arc<Shared>,
    beacons: Option<Arc<BeaconState>>,
    auth: Auth,
) -> Router {
    let mut router = crate::table_router(ROUTES)
        .route("/", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(shared);
    if let Some(beacons) = beacons {
        router = router.merge(crate::app(beacons));
    }
    router
        .method_not_allowed_fallback(wrong_method)
        .fallback(no_route)
        // Outermost: runs before any handler, for known and unknown paths alike.
        .layer(from_fn_with_state(Arc::new(auth), require_token))
}

// ---------------------------------------------------------------------------------------------
// Extractors and helpers

/// A refusal: its status and the message of its `{"error": …}` body, naming the parameter or id.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// A store failure or a failed blocking task.
    fn internal(err: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, self.message)
    }
}

/// The one path parameter of a route, with a JSON 400 if it is not valid text.
struct PathParam(String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("path: {}", rejection.body_text()),
            )),
        }
    }
}

impl PathParam {
    /// The parameter as a plan id.
    fn plan_id(&self) -> Result<i64, ApiError> {
        self.0.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("plan id `{}`: expected an integer", self.0),
            )
        })
    }
}

/// The query string's parameters, with a JSON 400 if it does not parse.
struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match Query::<HashMap<String, String>>::try_from_uri(&parts.uri) {
            Ok(Query(params)) => Ok(Params(params)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("query: {}", rejection.body_text()),
            )),
        }
    }
}

impl Params {
    /// Refuses any parameter not in `known`, naming it.
    fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> =
            self.0.keys().filter(|k| !known.contains(&k.as_str())).collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(name) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("query parameter `{name}`: unknown here; expected {}", known.join(", ")),
            )),
        }
    }

    /// An integer parameter, if given.
    fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.0.get(name) else { return Ok(None) };
        raw.trim().parse().map(Some).map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("{name} `{raw}`: expected an integer"))
        })
    }

    /// `limit`: [`DEFAULT_LIMIT`] when absent, else an integer from 1 to [`MAX_LIMIT`].
    fn limit(&self) -> Result<usize, ApiError> {
        match self.int("limit")? {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(n as usize),
            Some(n) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("limit `{n}`: expected an integer from 1 to {MAX_LIMIT}"),
            )),
        }
    }
}

/// Runs `work` (which takes the store's lock or gives a command) on the blocking pool.
async fn blocking<T, F>(shared: &Ctx, work: F) -> Reply
where
    T: IntoResponse,
    F: FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let shared = shared.clone();
    match tokio::task::spawn_blocking(move || work(&shared)).await {
        Ok(Ok(answer)) => Ok(answer.into_response()),
        Ok(Err(refusal)) => Err(refusal),
        Err(join) => Err(ApiError::internal(format_args!("the handler failed: {join}"))),
    }
}

/// The controller's policy clock now, in ms: the time of its last cycle. The API reads no
/// clock of its own (time is an input).
fn policy_now_ms(shared: &Shared) -> i64 {
    (shared.view().at_s * 1000.0).round() as i64
}

async fn no_route(method: Method, uri: Uri) -> Response {
    error(StatusCode::NOT_FOUND, format!("no route {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not serve {method}", uri.path()))
}

// ---------------------------------------------------------------------------------------------
// The view

async fn status(State(shared): State<Ctx>) -> Response {
    let view = shared.view();
    Json(json!({"mode": view.mode, "at_s": view.at_s, "totals": view.totals})).into_response()
}

async fn hosts(State(shared): State<Ctx>) -> Response {
    Json(shared.view().hosts).into_response()
}

async fn host(State(shared): State<Ctx>, PathParam(id): PathParam) -> Reply {
    let view = shared.view();
    let Some(host) = view.hosts.into_iter().find(|h| h.id == id) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("host `{id}`: no such host")));
    };
    let instances: Vec<_> = view.instances.into_iter().filter(|i| i.host == id).collect();
    Ok(Json(json!({"host": host, "instances": instances})).into_response())
}

async fn instances(State(shared): State<Ctx>) -> Response {
    Json(shared.view().instances).into_response()
}

async fn telemetry(State(shared): State<Ctx>) -> Response {
    let view = shared.view();
    Json(json!({"at_s": view.at_s, "totals": view.totals, "series": view.series})).into_response()
}

async fn thermal(State(shared): State<Ctx>) -> Response {
    Json(json!({"zones": shared.view().zones})).into_response()
}

async fn current_plan(State(shared): State<Ctx>) -> Reply {
    match shared.view().plan {
        Some(plan) => Ok(Json(plan).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no plan yet")),
    }
}

// ---------------------------------------------------------------------------------------------
// The store

/// `k=v,k=v` with keys sorted, the store's canonical label text; `""` for none.
fn canonical_labels(raw: Option<&String>) -> Result<String, ApiError> {
    let Some(raw) = raw.map(|r| r.trim()).filter(|r| !r.is_empty()) else {
        return Ok(String::new());
    };
    let mut pairs = Vec::new();
    for pair in raw.split(',') {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => pairs.push((key.trim(), value.trim())),
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("labels `{raw}`: expected key=value pairs separated by commas"),
                ))
            }
        }
    }
    pairs.sort();
    Ok(pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

async fn metric_series(
    State(shared): State<Ctx>,
    PathParam(metric): PathParam,
    params: Params,
) -> Reply {
    params.only(&["from_ms", "to_ms", "labels"])?;
    let from_ms = params.int("from_ms")?.unwrap_or(0);
    let to_ms = params.int("to_ms")?.unwrap_or(i64::MAX);
    if from_ms > to_ms {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("from_ms `{from_ms}`: after to_ms `{to_ms}`"),
        ));
    }
    let labels = canonical_labels(params.0.get("labels"))?;
    blocking(&shared, move |shared| {
        let store = shared.store();
        let names = store.metric_names().map_err(ApiError::internal)?;
        if !names.contains(&metric) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("metric `{metric}`: unknown; known metrics: {}", names.join(", ")),
            ));
        }
        let points: Vec<_> =
            (store.series(&metric, &labels, from_ms, to_ms).map_err(ApiError::internal)?)
                .into_iter()
                .map(|(at_ms, value)| json!({"at_ms": at_ms, "value": value}))
                .collect();
        Ok(Json(json!({"metric": metric, "labels": labels, "points": points})))
    })
    .await
}

async fn plans(State(shared): State<Ctx>, params: Params) -> Reply {
    params.only(&["limit"])?;
    let limit = params.limit()?;
    blocking(&shared, move |shared| {
        shared.store().plans(limit).map(Json).map_err(ApiError::internal)
    })
    .await
}

async fn plan(State(shared): State<Ctx>, id: PathParam) -> Reply {
    let id = id.plan_id()?;
    blocking(&shared, move |shared| {
        let store = shared.store();
        let Some(plan) = store.plan(id).map_err(ApiError::internal)? else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, format!("plan {id}: no such plan")));
        };
        let journal = store.journal_for_plan(id).map_err(ApiError::internal)?;
        Ok(Json(json!({"plan": plan, "journal": journal})))
    })
    .await
}

async fn approve(State(shared): State<Ctx>, id: PathParam) -> Reply {
    decide(shared, id, true).await
}

async fn reject(State(shared): State<Ctx>, id: PathParam) -> Reply {
    decide(shared, id, false).await
}

async fn decide(shared: Ctx, id: PathParam, approve: bool) -> Reply {
    let id = id.plan_id()?;
    let at_ms = policy_now_ms(&shared);
    blocking(&shared, move |shared| match shared.decide_plan(id, approve, at_ms, AUTHOR) {
        Ok(status) => Ok(Json(json!({"id": id, "status": status}))),
        Err(err) => Err(command_error(err)),
    })
    .await
}

/// The status of a refused command.
fn command_error(err: CommandError) -> ApiError {
    let status = match &err {
        CommandError::NoSuchPlan(_) => StatusCode::NOT_FOUND,
        CommandError::NotProposed { .. } => StatusCode::CONFLICT,
        CommandError::Policy(_) => StatusCode::BAD_REQUEST,
        CommandError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, err.to_string())
}

async fn policy(State(shared): State<Ctx>) -> Reply {
    blocking(&shared, |shared| {
        let version = shared.store().policy().map_err(ApiError::internal)?.map(|v| v.version);
        Ok(Json(json!({"version": version, "policy": shared.policy()})))
    })
    .await
}

async fn put_policy(State(shared): State<Ctx>, body: Bytes) -> Reply {
    let body: serde_json::Value = serde_json::from_slice(&body).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("body: expected a JSON policy object: {err}"),
        )
    })?;
    let at_ms = policy_now_ms(&shared);
    blocking(&shared, move |shared| match shared.put_policy(&body, AUTHOR, at_ms) {
        Ok(stored) => Ok(Json(json!({
            "version": stored.version,
            "at_ms": stored.at_ms,
            "author": stored.author,
            "policy": stored.body,
        }))),
        Err(err) => Err(command_error(err)),
    })
    .await
}

async fn policy_versions(State(shared): State<Ctx>, params: Params) -> Reply {
    params.only(&["limit"])?;
    let limit = params.limit()?;
    blocking(&shared, move |shared| {
        shared.store().policy_versions(limit).map(Json).map_err(ApiError::internal)
    })
    .await
}

async fn audit(State(shared): State<Ctx>, params: Params) -> Reply {
    params.only(&["limit", "before"])?;
    let limit = params.limit()?;
    let before = params.int("before")?;
    blocking(&shared, move |shared| {
        shared.store().audit(limit, before).map(Json).map_err(ApiError::internal)
    })
    .await
}

async fn journal(State(shared): State<Ctx>, params: Params) -> Reply {
    params.only(&["limit"])?;
    let limit = params.limit()?;
    blocking(&shared, move |shared| {
        shared.store().journal_recent(limit).map(Json).map_err(ApiError::internal)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Documents

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics(State(shared): State<Ctx>) -> Response {
    ([(CONTENT_TYPE, controller::metrics::CONTENT_TYPE)], shared.metrics.encode()).into_response()
}

/// The dashboard, with a policy that forbids any other origin: the page loads nothing and
/// talks only to this server.
async fn dashboard() -> Response {
    const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                       connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (HeaderName::from_static("content-security-policy"), CSP),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
            (CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD,
    )
        .into_response()
}
