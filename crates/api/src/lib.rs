//! hearth's HTTP API: the controller's API and dashboard ([`controller_app`]), the beacon
//! routes ([`app`]) and the agent's status route ([`agent`]), with the JSON shapes they answer
//! with. Only this crate knows HTTP.
//!
//! Reading order: [`auth`] (bearer tokens, which requests need one), [`control`] (the
//! controller's `/api/v1` routes, `/metrics`, the dashboard; the route table the OpenAPI
//! document is tested against), then the beacon routes below, then [`agent`], then [`pool`]
//! (pool mode's routes). The OpenAPI
//! document (`openapi.json`) and the dashboard (`dashboard.html`) are files beside the code,
//! compiled in.
//!
//! Beacon routes ([`app`]; also mounted by [`controller_app`] when it is given beacons):
//! - `GET /v1/beacons/nodes` → [`controller::beacons::Snapshot`]: every node's estimated
//!   availability, beacon rate, last seen, lost flag, and the rejected-beacon counters.
//! - `GET /v1/beacons/select?mode=balance|power` → `{"node_id": N}` (lock-free, from the
//!   two-slot queue), or 404 `{"error": …}` before any beacon of that stream arrived.
//! - `GET /v1/beacons/select?mode=…&requirement=R` → the same through `select_fit`.
//! - `GET /v1/beacons/select?mode=blended` → the same from agents' single blended stream (no
//!   `requirement`: `select_fit` serves the two pure streams).
//! - `GET /v1/beacons/alpha` → [`controller::beacons::AlphaOverride`]; `PUT` with
//!   `{"alpha": A, "for_s": S}` (`for_s` optional: until released) sets α for every agent;
//!   `DELETE` releases it (agents return to their schedules). A bad body is a 400 naming the
//!   field. Under [`controller_app`], `PUT` and `DELETE` need the bearer token.
//!
//! A bad query (unknown mode, a requirement that is not a number) is a 400 naming the parameter.

/// One entry of a route table: its method, its path (axum's and OpenAPI's `{param}` syntax) and
/// the handler, given the method filter taken from `method` so the two cannot disagree. The
/// controller's `/api/v1` routes ([`control`]) and the pool's ([`pool`]) are each one table
/// that builds the router and that a test holds to the OpenAPI document.
struct Route<S> {
    method: axum::http::Method,
    path: &'static str,
    endpoint: fn(axum::routing::MethodFilter) -> axum::routing::MethodRouter<S>,
}

/// `route!(GET "/api/v1/…" => handler)`: a [`Route`].
macro_rules! route {
    ($method:ident $path:literal => $handler:path) => {
        $crate::Route {
            method: ::axum::http::Method::$method,
            path: $path,
            endpoint: |filter| ::axum::routing::on(filter, $handler),
        }
    };
}

/// A router serving every route of `table`.
fn table_router<S: Clone + Send + Sync + 'static>(table: &[Route<S>]) -> Router<S> {
    let mut router = Router::new();
    for route in table {
        let filter = axum::routing::MethodFilter::try_from(route.method.clone())
            .unwrap_or_else(|_| panic!("route table: {} is not a routable method", route.method));
        router = router.route(route.path, (route.endpoint)(filter));
    }
    router
}

/// Every `(method, path)` of `table`, in its order.
fn table_routes<S>(
    table: &'static [Route<S>],
) -> impl Iterator<Item = (&'static str, &'static str)> {
    table.iter().map(|route| (route.method.as_str(), route.path))
}

pub mod agent;
pub mod auth;
pub mod control;
pub mod pool;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use controller::beacons::AlphaOverride;
use controller::beacons::BeaconState;
use controller::{Mode, NodeId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use auth::{Auth, AuthError};
pub use control::{api_routes, controller_app};

/// The router over a running beacon service.
pub fn app(state: Arc<BeaconState>) -> Router {
    Router::new()
        .route("/v1/beacons/nodes", get(nodes))
        .route("/v1/beacons/select", get(select))
        .route("/v1/beacons/alpha", get(alpha).put(set_alpha).delete(release_alpha))
        .with_state(state)
}

/// An error body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, naming the parameter.
    pub error: String,
}

/// The answer of `/v1/beacons/select`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Selected {
    /// The selected node.
    pub node_id: NodeId,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody { error: message })).into_response()
}

async fn nodes(State(state): State<Arc<BeaconState>>) -> Response {
    Json(state.snapshot()).into_response()
}

#[derive(Debug, Deserialize)]
struct SelectQuery {
    mode: Option<String>,
    requirement: Option<String>,
}

async fn select(
    State(state): State<Arc<BeaconState>>,
    Query(query): Query<SelectQuery>,
) -> Response {
    let mode = match query.mode.as_deref() {
        Some("balance") => Mode::Balance,
        Some("power") => Mode::Power,
        Some("blended") => {
            if query.requirement.is_some() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "requirement: applies to modes balance and power, not blended".into(),
                );
            }
            return match state.select_blended() {
                Some(node_id) => Json(Selected { node_id }).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "no node to select in blended mode yet: no blended beacons received".into(),
                ),
            };
        }
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("mode `{other}`: expected `balance`, `power` or `blended`"),
            )
        }
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "mode: missing (balance, power or blended)".into(),
            )
        }
    };
    let picked = match query.requirement.as_deref() {
        None => state.select(mode),
        Some(raw) => match raw.parse::<f64>() {
            Ok(r) if r.is_finite() && r >= 0.0 => state.select_fit(mode, r),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("requirement `{raw}`: expected a finite number ≥ 0"),
                )
            }
        },
    };
    match picked {
        Some(node_id) => Json(Selected { node_id }).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no node to select in {mode:?} mode yet: no beacons received on that stream"),
        ),
    }
}

/// The body of `PUT /v1/beacons/alpha`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAlpha {
    alpha: f64,
    for_s: Option<f64>,
}

async fn alpha(State(state): State<Arc<BeaconState>>) -> Json<AlphaOverride> {
    Json(state.alpha())
}

async fn set_alpha(
    State(state): State<Arc<BeaconState>>,
    body: Result<Json<SetAlpha>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body: expected {{\"alpha\": A, \"for_s\": S}}: {}", rejection.body_text()),
            )
        }
    };
    match state.set_alpha(Some(body.alpha), body.for_s) {
        Ok(set) => Json(set).into_response(),
        Err(err) => error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

async fn release_alpha(State(state): State<Arc<BeaconState>>) -> Response {
    match state.set_alpha(None, None) {
        Ok(set) => Json(set).into_response(),
        Err(err) => error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}
