//! hearth's HTTP API: `fn app(state) -> Router` over the controller's state, and the JSON shapes
//! it answers with. Only this crate knows HTTP.
//!
//! Routes:
//! - `GET /v1/beacons/nodes` → [`controller::beacons::Snapshot`]: every node's estimated
//!   availability, beacon rate, last seen, lost flag, and the rejected-beacon counters.
//! - `GET /v1/beacons/select?mode=balance|power` → `{"node_id": N}` (lock-free, from the
//!   two-slot queue), or 404 `{"error": …}` before any beacon of that stream arrived.
//! - `GET /v1/beacons/select?mode=…&requirement=R` → the same through `select_fit`.
//!
//! A bad query (unknown mode, a requirement that is not a number) is a 400 naming the parameter.

pub mod agent;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use controller::beacons::BeaconState;
use controller::{Mode, NodeId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The router over a running beacon service.
pub fn app(state: Arc<BeaconState>) -> Router {
    Router::new()
        .route("/v1/beacons/nodes", get(nodes))
        .route("/v1/beacons/select", get(select))
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
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("mode `{other}`: expected `balance` or `power`"),
            )
        }
        None => return error(StatusCode::BAD_REQUEST, "mode: missing (balance or power)".into()),
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
