//! The agent's local status endpoint: `GET /v1/agent/status` answers the JSON the agent's loop
//! last published (node ID, measured use, failures, f_RA, RM, α, both stream rates, beacons
//! and CP messages sent, send errors, last sample time).
//!
//! The route knows nothing of the agent crate: the caller passes a function that returns the
//! status as JSON. `hearth agent` passes a snapshot of `agent::run::StatusHandle`, and this
//! crate stays the only one that speaks HTTP.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// Returns the agent's current status as JSON. Called once per request.
pub type StatusFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The router of the agent's status endpoint: `GET /v1/agent/status` → `status()`.
pub fn agent_app(status: StatusFn) -> Router {
    Router::new().route("/v1/agent/status", get(agent_status)).with_state(status)
}

async fn agent_status(State(status): State<StatusFn>) -> Json<serde_json::Value> {
    Json(status())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A blocking HTTP/1.1 GET over a plain socket; returns the status line and the body.
    fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    }

    #[tokio::test]
    async fn status_answers_what_the_function_returns_each_time() {
        let calls = Arc::new(AtomicU64::new(0));
        let counter = calls.clone();
        let status: StatusFn = Arc::new(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            serde_json::json!({ "node_id": 7, "samples": n })
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, agent_app(status)).await });
        let (first, second, missing) = tokio::task::spawn_blocking(move || {
            (get(addr, "/v1/agent/status"), get(addr, "/v1/agent/status"), get(addr, "/v1/nope"))
        })
        .await
        .unwrap();
        assert_eq!(first.0, "HTTP/1.1 200 OK");
        let body: serde_json::Value = serde_json::from_str(&first.1).unwrap();
        assert_eq!(body, serde_json::json!({ "node_id": 7, "samples": 1 }));
        let body: serde_json::Value = serde_json::from_str(&second.1).unwrap();
        assert_eq!(body["samples"], 2, "a fresh status per request");
        assert_eq!(missing.0, "HTTP/1.1 404 Not Found");
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
