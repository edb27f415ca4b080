//! The pool's routes (`hearth controller --pool`; docs/pool.md "Protocol"). Every route is
//! under `/api/v1/pool/` and needs the bearer token.
//!
//! Every route is in one table, `ROUTES` ([`pool_routes`]): the router is built from it and
//! the OpenAPI test compares it with `pool_openapi.json` ([`OPENAPI`], served at
//! `GET /api/v1/pool/openapi.json`), so a route cannot be served undocumented or documented
//! unserved.
//!
//! Agents' routes answer with `x-hearth-mac`, the HMAC under the presented token of the
//! request's nonce and the body ([`pool::proto::mac`]), so an agent takes assignments only from
//! a controller that holds the token:
//! - `POST /api/v1/pool/join` ([`pool::proto::JoinRequest`] → [`pool::proto::JoinResponse`])
//! - `POST /api/v1/pool/poll` ([`pool::proto::PollRequest`] → [`pool::proto::PollResponse`];
//!   410 for a machine that is no longer a member: it joins again)
//! - `POST /api/v1/pool/report` ([`pool::proto::ReportRequest`] →
//!   [`pool::proto::ReportResponse`], 409 when refused)
//! - `POST /api/v1/pool/output` ([`pool::proto::OutputRequest`]; no nonce: the MAC is over the
//!   empty nonce)
//!
//! Users' routes (`hearth run`, `hearth tasks`, `hearth cancel`):
//! - `GET /api/v1/pool/members`, `GET /api/v1/pool/ledger`
//! - `GET /api/v1/pool/tasks`, `POST /api/v1/pool/tasks` ([`pool::proto::SubmitRequest`] →
//!   201 [`pool::proto::SubmitResponse`], or 422 with `fits: false` and the reason)
//! - `GET /api/v1/pool/tasks/{id}`, `POST /api/v1/pool/tasks/{id}/cancel`
//! - `GET /api/v1/pool/tasks/{id}/output?stdout_from=N&stderr_from=M` →
//!   [`pool::proto::OutputView`]
//! - `GET /api/v1/pool/openapi.json`: the OpenAPI 3.0 document of these routes

use crate::auth::{require_token, Auth};
use crate::ErrorBody;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use controller::beacons::BeaconState;
use controller::clock::unix_ms as now_ms;
use controller::pool::{unb64, PoolService, ServiceError};
use pool::proto::{
    JoinRequest, OutputRequest, PollRequest, ReportRequest, SubmitRequest, MAC_HEADER,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::{Arc, Mutex, MutexGuard};

/// The pool service the routes share.
pub struct PoolApi {
    service: Mutex<PoolService>,
}

impl PoolApi {
    /// Wraps the service.
    pub fn new(service: PoolService) -> Arc<PoolApi> {
        Arc::new(PoolApi { service: Mutex::new(service) })
    }

    /// The service, locked (the scheduler's tick takes it too).
    pub fn lock(&self) -> MutexGuard<'_, PoolService> {
        self.service.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The hand-written OpenAPI 3.0 document of the pool's routes, served at
/// `/api/v1/pool/openapi.json`.
pub const OPENAPI: &str = include_str!("pool_openapi.json");

type Ctx = Arc<PoolApi>;

/// Every pool route. The router serves exactly these; `pool_openapi.json` documents exactly
/// these (tested).
static ROUTES: &[crate::Route<Ctx>] = &[
    route!(POST "/api/v1/pool/join" => join),
    route!(POST "/api/v1/pool/poll" => poll),
    route!(POST "/api/v1/pool/report" => report),
    route!(POST "/api/v1/pool/output" => output),
    route!(GET "/api/v1/pool/members" => members),
    route!(GET "/api/v1/pool/ledger" => ledger),
    route!(GET "/api/v1/pool/tasks" => tasks),
    route!(POST "/api/v1/pool/tasks" => submit),
    route!(GET "/api/v1/pool/tasks/{id}" => task),
    route!(POST "/api/v1/pool/tasks/{id}/cancel" => cancel),
    route!(GET "/api/v1/pool/tasks/{id}/output" => task_output),
    route!(GET "/api/v1/pool/openapi.json" => openapi),
];

/// Every `(method, path)` of the pool's routes, in the route table's order.
pub fn pool_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::table_routes(ROUTES)
}

/// The pool controller's router: the pool routes, the beacon routes (with `beacons`) and
/// `/healthz`, behind the bearer token.
pub fn pool_app(api: Arc<PoolApi>, beacons: Option<Arc<BeaconState>>, auth: Auth) -> Router {
    let mut router = crate::table_router(ROUTES)
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(api);
    if let Some(beacons) = beacons {
        router = router.merge(crate::app(beacons));
    }
    router
        .fallback(|| async {
            (StatusCode::NOT_FOUND, Json(ErrorBody { error: "no such route".into() }))
        })
        .layer(from_fn_with_state(Arc::new(auth), require_token))
}

fn status_of(err: &ServiceError) -> StatusCode {
    match err {
        ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Gone(_) => StatusCode::GONE,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn refuse(status: StatusCode, error: String) -> (StatusCode, Vec<u8>) {
    (status, serde_json::to_vec(&ErrorBody { error }).unwrap_or_default())
}

/// The bearer token the request presented (the middleware checked it).
fn token(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_string()))
        .unwrap_or_default()
}

/// Parses a JSON body, naming what is wrong.
fn parse<T: DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, (StatusCode, Vec<u8>)> {
    serde_json::from_slice(body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("body: not a {what}: {e}")))
}

/// An agent's answer: the body with its MAC under the presented token and the nonce.
fn signed(headers: &HeaderMap, nonce: &str, (status, body): (StatusCode, Vec<u8>)) -> Response {
    let mac = pool::proto::mac(&token(headers), nonce, &body);
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&mac) {
        response.headers_mut().insert(MAC_HEADER, value);
    }
    response
}

fn json_of<T: serde::Serialize>(status: StatusCode, value: &T) -> (StatusCode, Vec<u8>) {
    (status, serde_json::to_vec(value).unwrap_or_default())
}

/// The nonce of an agent's body, read leniently so that even a malformed request gets a MAC'd
/// refusal when it has one.
fn nonce_of(body: &Bytes) -> String {
    #[derive(Deserialize)]
    struct Nonce {
        nonce: Option<String>,
    }
    serde_json::from_slice::<Nonce>(body).ok().and_then(|n| n.nonce).unwrap_or_default()
}

async fn join(State(api): State<Arc<PoolApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = nonce_of(&body);
    let answer = match parse::<JoinRequest>(&body, "join request") {
        Err(refusal) => refusal,
        Ok(req) => match api.lock().join(&req, now_ms()) {
            Ok(joined) => json_of(StatusCode::OK, &joined),
            Err(e) => refuse(status_of(&e), e.to_string()),
        },
    };
    signed(&headers, &nonce, answer)
}

async fn poll(State(api): State<Arc<PoolApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = nonce_of(&body);
    let answer = match parse::<PollRequest>(&body, "poll request") {
        Err(refusal) => refusal,
        Ok(req) => match api.lock().poll(&req, now_ms()) {
            Ok(polled) => json_of(StatusCode::OK, &polled),
            Err(e) => refuse(status_of(&e), e.to_string()),
        },
    };
    signed(&headers, &nonce, answer)
}

async fn report(State(api): State<Arc<PoolApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = nonce_of(&body);
    let answer = match parse::<ReportRequest>(&body, "report") {
        Err(refusal) => refusal,
        Ok(req) => {
            let reported = api.lock().report(&req, now_ms());
            let status = if reported.appended { StatusCode::OK } else { StatusCode::CONFLICT };
            json_of(status, &reported)
        }
    };
    signed(&headers, &nonce, answer)
}

async fn output(State(api): State<Arc<PoolApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = match parse::<OutputRequest>(&body, "output chunk") {
        Err(refusal) => refusal,
        Ok(req) => {
            let decoded = unb64(&req.stdout, "stdout")
                .and_then(|out| Ok((out, unb64(&req.stderr, "stderr")?)));
            match decoded.and_then(|(out, err)| api.lock().output(&req, &out, &err)) {
                Ok(()) => json_of(StatusCode::OK, &serde_json::json!({ "ok": true })),
                Err(e) => refuse(status_of(&e), e.to_string()),
            }
        }
    };
    signed(&headers, "", answer)
}

fn plain(answer: (StatusCode, Vec<u8>)) -> Response {
    let mut response = answer.into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn members(State(api): State<Arc<PoolApi>>) -> Response {
    plain(json_of(StatusCode::OK, &api.lock().members()))
}

async fn ledger(State(api): State<Arc<PoolApi>>) -> Response {
    let service = api.lock();
    let report = service.ledger().report();
    plain(json_of(
        StatusCode::OK,
        &serde_json::json!({
            "path": service.ledger_path().display().to_string(),
            "entries": report.entries,
            "head": service.head(),
        }),
    ))
}

async fn tasks(State(api): State<Arc<PoolApi>>) -> Response {
    plain(json_of(StatusCode::OK, &api.lock().tasks()))
}

async fn submit(State(api): State<Arc<PoolApi>>, body: Bytes) -> Response {
    let answer = match parse::<SubmitRequest>(&body, "task submission") {
        Err(refusal) => refusal,
        Ok(req) => match api.lock().submit(&req, now_ms()) {
            Ok(submitted) if submitted.fits => json_of(StatusCode::CREATED, &submitted),
            Ok(refused) => json_of(StatusCode::UNPROCESSABLE_ENTITY, &refused),
            Err(e) => refuse(status_of(&e), e.to_string()),
        },
    };
    plain(answer)
}

async fn task(State(api): State<Arc<PoolApi>>, Path(id): Path<String>) -> Response {
    let service = api.lock();
    plain(match service.pool().task(&id) {
        Some(task) => json_of(StatusCode::OK, task),
        None => refuse(StatusCode::NOT_FOUND, format!("unknown task `{id}`")),
    })
}

async fn cancel(State(api): State<Arc<PoolApi>>, Path(id): Path<String>) -> Response {
    plain(match api.lock().cancel(&id, now_ms()) {
        Ok(task) => json_of(StatusCode::OK, &task),
        Err(e) => refuse(status_of(&e), e.to_string()),
    })
}

#[derive(Deserialize)]
struct OutputQuery {
    stdout_from: Option<u64>,
    stderr_from: Option<u64>,
}

async fn task_output(
    State(api): State<Arc<PoolApi>>,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return plain(refuse(
            StatusCode::BAD_REQUEST,
            "stdout_from and stderr_from: expected byte offsets (integers ≥ 0)".into(),
        ));
    };
    let viewed =
        api.lock().output_view(&id, query.stdout_from.unwrap_or(0), query.stderr_from.unwrap_or(0));
    plain(match viewed {
        Ok((view, _dropped)) => json_of(StatusCode::OK, &view),
        Err(e) => refuse(status_of(&e), e.to_string()),
    })
}

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /metrics` (open, like the main controller's: aggregates only, no task commands, no
/// keys): the pool's members and tasks by state, the cores offered and free, retries, moves
/// and the ledger's length, in the Prometheus text format.
async fn metrics(State(api): State<Arc<PoolApi>>) -> Response {
    let text = metrics_text(&api.lock());
    let mut response = text.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(controller::metrics::CONTENT_TYPE),
    );
    response
}

/// The pool's metrics, now.
pub fn metrics_text(service: &PoolService) -> String {
    use pool::sched::TaskState;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
    let mut registry = prometheus_client::registry::Registry::default();
    let members = Family::<Vec<(String, String)>, Gauge>::default();
    let pool = service.pool();
    let active = pool.members().filter(|m| m.active).count() as i64;
    let former = pool.members().count() as i64 - active;
    for (state, count) in [("active", active), ("former", former)] {
        members.get_or_create(&vec![("state".into(), state.into())]).set(count);
    }
    registry.register("hearth_pool_members", "Pool members, by state", members);
    let tasks = Family::<Vec<(String, String)>, Gauge>::default();
    let all = pool.tasks();
    for state in [
        TaskState::Queued,
        TaskState::Assigned,
        TaskState::Running,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Cancelled,
    ] {
        let name = serde_json::to_value(state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let count = all.iter().filter(|t| t.state == state).count() as i64;
        tasks.get_or_create(&vec![("state".into(), name)]).set(count);
    }
    registry.register("hearth_pool_tasks", "Pool tasks, by state", tasks);
    let offered: f64 = pool.members().filter(|m| m.active).map(|m| m.surplus.cpu).sum();
    let free: f64 = pool.rooms().values().map(|r| r.cpu).sum();
    registry.register(
        "hearth_pool_surplus_cores",
        "Cores the members offer (capacity minus max(reserve, predicted local use))",
        ConstGauge::new(offered),
    );
    registry.register(
        "hearth_pool_free_cores",
        "Offered cores no task holds",
        ConstGauge::new(free),
    );
    let retries: u64 = all.iter().map(|t| u64::from(t.retries_used)).sum();
    let moves: u64 = all.iter().map(|t| u64::from(t.moves)).sum();
    registry.register(
        "hearth_pool_retries",
        "Task attempts run again after a lost node or a failed start",
        ConstCounter::new(retries),
    );
    registry.register(
        "hearth_pool_moves",
        "Task attempts moved off a node whose owner reclaimed the reserve",
        ConstCounter::new(moves),
    );
    registry.register(
        "hearth_pool_ledger_entries",
        "Entries in the pool ledger",
        ConstGauge::new(service.ledger().entries().len() as i64),
    );
    let mut text = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}
