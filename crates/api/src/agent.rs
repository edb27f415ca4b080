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

/// The router of the agent's endpoints: `GET /v1/agent/status` → `status()`, and
/// `GET /metrics` → the same figures as Prometheus metrics (OpenMetrics text).
pub fn agent_app(status: StatusFn) -> Router {
    Router::new()
        .route("/v1/agent/status", get(agent_status))
        .route("/metrics", get(agent_metrics))
        .with_state(status)
}

async fn agent_status(State(status): State<StatusFn>) -> Json<serde_json::Value> {
    Json(status())
}

/// The status's numeric figures as metrics: (JSON pointer, name, help, counter?).
const AGENT_METRICS: &[(&str, &str, &str, bool)] = &[
    ("/f_ra", "hearth_agent_f_ra", "Resource-availability factor f_RA (seed 003)", false),
    ("/alpha", "hearth_agent_alpha", "Blend weight alpha in force", false),
    ("/v_balance_hz", "hearth_agent_v_balance_hz", "RA-balance beacon rate, Hz", false),
    ("/v_power_hz", "hearth_agent_v_power_hz", "RA-power beacon rate, Hz", false),
    ("/v_hz", "hearth_agent_v_hz", "Blended beacon rate, Hz", false),
    ("/usage/processor", "hearth_agent_processor_use", "Processor use, 0 to 1", false),
    ("/usage/memory", "hearth_agent_memory_use", "Memory use, 0 to 1", false),
    ("/usage/storage", "hearth_agent_storage_use", "Storage use, 0 to 1", false),
    ("/usage/communication", "hearth_agent_communication_use", "Communication use, 0 to 1", false),
    ("/uptime_s", "hearth_agent_uptime_seconds", "Seconds since the agent started", false),
    ("/samples", "hearth_agent_samples", "Measurements taken", true),
    ("/beacons_sent/balance", "hearth_agent_beacons_balance", "RA-balance beacons sent", true),
    ("/beacons_sent/power", "hearth_agent_beacons_power", "RA-power beacons sent", true),
    ("/beacons_sent/blended", "hearth_agent_beacons_blended", "RA-blended beacons sent", true),
    ("/cp_sent", "hearth_agent_cp_messages", "CP messages sent", true),
    ("/send_errors", "hearth_agent_send_errors", "Datagrams the socket refused", true),
    ("/control_accepted", "hearth_agent_control_accepted", "Controller messages accepted", true),
    ("/control_rejected", "hearth_agent_control_rejected", "Controller messages refused", true),
    // Pool mode (absent otherwise): what the machine gives away and why.
    ("/pool/local_use/cpu", "hearth_agent_pool_local_use_cores", "Owner's cores in use", false),
    (
        "/pool/predicted_local_use/cpu",
        "hearth_agent_pool_predicted_local_use_cores",
        "Owner's predicted cores (EWMA with margin)",
        false,
    ),
    ("/pool/surplus/cpu", "hearth_agent_pool_surplus_cores", "Cores offered to the pool", false),
    ("/pool/free/cpu", "hearth_agent_pool_free_cores", "Offered cores no task holds", false),
    ("/pool/evictions", "hearth_agent_pool_evictions", "Pool tasks evicted for the owner", true),
];

async fn agent_metrics(State(status): State<StatusFn>) -> axum::response::Response {
    use axum::response::IntoResponse;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    let status = status();
    let mut registry = prometheus_client::registry::Registry::default();
    let node = status.get("node_id").map(|v| v.to_string()).unwrap_or_default();
    let labelled = registry.sub_registry_with_label(("node".into(), node.into()));
    for (pointer, name, help, counter) in AGENT_METRICS {
        let Some(value) = status.pointer(pointer).and_then(serde_json::Value::as_f64) else {
            continue; // not measured yet: no sample, never a made-up zero
        };
        if *counter {
            labelled.register(*name, *help, ConstCounter::new(value.max(0.0) as u64));
        } else {
            labelled.register(*name, *help, ConstGauge::new(value));
        }
    }
    let mut text = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    ([(axum::http::header::CONTENT_TYPE, controller::metrics::CONTENT_TYPE)], text).into_response()
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

    #[tokio::test]
    async fn metrics_expose_the_numeric_figures_and_skip_what_is_not_measured() {
        let status: StatusFn = Arc::new(|| {
            serde_json::json!({
                "node_id": 7, "f_ra": 0.42, "alpha": null, "samples": 12,
                "beacons_sent": {"balance": 30, "power": 5, "blended": 0},
                "usage": {"processor": 0.5, "memory": 0.25, "storage": 0.1, "communication": 0.0}
            })
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, agent_app(status)).await });
        let (line, body) =
            tokio::task::spawn_blocking(move || get(addr, "/metrics")).await.unwrap();
        assert_eq!(line, "HTTP/1.1 200 OK");
        assert!(body.contains("hearth_agent_f_ra{node=\"7\"} 0.42"), "{body}");
        assert!(body.contains("hearth_agent_beacons_balance_total{node=\"7\"} 30"), "{body}");
        assert!(body.contains("hearth_agent_processor_use{node=\"7\"} 0.5"), "{body}");
        assert!(!body.contains("hearth_agent_alpha"), "alpha is null: no sample\n{body}");
        assert!(body.trim_end().ends_with("# EOF"), "{body}");
    }
}
