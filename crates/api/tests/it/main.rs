//! The controller's HTTP API end to end, without a socket: a [`Shared`] over an in-memory store
//! with a published view (five hosts in two zones, instances, a proposed plan, thermal state),
//! driven through `tower::ServiceExt::oneshot`. Covers the bearer token (and that a refused
//! request changes nothing), every `/api/v1` GET and its JSON shape, parameter errors, the
//! policy put, plan approval, the open routes, and the OpenAPI document against the router.

use api::{api_routes, controller_app, Auth};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use controller::policy::ControllerPolicy;
use controller::shared::{Shared, View};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use store::{AuditRow, JournalEntry, NewPlan, Phase, PlanStatus, Sample, Store};
use tower::ServiceExt;

const TOKEN: &str = "t0ken-for-tests";

/// The published view: zone z1 (racks r1, r2) and zone z2 (rack r3), one management host, one
/// host off, one shed; the current plan is stored plan 1.
fn view() -> View {
    let host = |id: &str, zone: &str, rack: &str, temp: f64, power_w: f64| {
        json!({
            "id": id, "zone": zone, "rack": rack, "power": "on", "temp_c": temp,
            "inlet_c": 24.0, "power_w": power_w, "cpu_use": 0.5, "instances": 1,
            "covered": power_w >= 125.0, "management": false, "shed": false,
            "agent_alive": true, "error": null
        })
    };
    let mut hosts = vec![
        host("h01", "z1", "r1", 38.0, 80.0),
        host("h02", "z1", "r1", 55.0, 130.0),
        host("h03", "z1", "r2", 71.0, 140.0),
        host("h04", "z2", "r3", 78.0, 150.0),
        host("h05", "z2", "r3", 30.0, 0.0),
    ];
    hosts[0]["management"] = json!(true);
    hosts[3]["shed"] = json!(true);
    hosts[4]["power"] = json!("off");
    hosts[4]["temp_c"] = Value::Null;
    let instance = |id: &str, host: &str| {
        json!({"id": id, "host": host, "state": "running", "cpus": 2.0, "memory_mib": 4096.0,
               "cpu_use": 0.4})
    };
    let point = |at_s: f64, covered: usize, ratio: f64| {
        json!({"at_s": at_s, "covered_hosts": covered, "harvest_ratio": ratio, "power_w": 500.0,
               "max_air_c": 27.0, "hosts_on": 4})
    };
    serde_json::from_value(json!({
        "mode": "approve",
        "at_s": 3600.0,
        "hosts": hosts,
        "instances": [instance("i1", "h01"), instance("i2", "h02"), instance("i3", "h02")],
        "plan": {
            "id": 1, "status": "proposed", "at_s": 3600.0, "summary": "2 step(s)",
            "steps": [
                {"index": 0, "action": "migrate", "instance": "i3", "from": "h02", "to": "h03",
                 "source": "heat", "reason": "h03 is below its heat target", "state": "pending",
                 "detail": null},
                {"index": 1, "action": "power_down", "host": "h04", "source": "thermal",
                 "reason": "z2 air above detect", "state": "pending", "detail": null}
            ],
            "notes": ["migrations limited to 8 per cycle"]
        },
        "zones": [
            {"id": "z1", "phase": "normal", "air_c": 26.0, "detect_c": 32.0, "clear_c": 29.0,
             "powerup_c": 27.0, "powered_down": [], "cooling_failed": false},
            {"id": "z2", "phase": "shedding", "air_c": 33.5, "detect_c": 32.0, "clear_c": 29.0,
             "powerup_c": 27.0, "powered_down": ["h05"], "cooling_failed": true}
        ],
        "totals": {"harvest_ratio": 0.62, "covered_hosts": 3, "hosts_on": 4, "power_w": 500.0,
                   "energy_kwh": 12.5, "harvested_kwh": 7.75, "migrations": 4,
                   "power_changes": 2, "thermal_events": 1, "actions_failed": 0,
                   "instances_lost": 0, "cycles": 60},
        "series": [point(3540.0, 2, 0.5), point(3570.0, 3, 0.6), point(3600.0, 3, 0.62)]
    }))
    .expect("the fixture is a View")
}

/// A `Shared` over an in-memory store holding policy version 1, proposed plan 1 and rejected
/// plan 2, two journal records of plan 1, an audit row and metric samples; and its router.
fn fixture() -> (Arc<Shared>, Router) {
    let mut store = Store::open_in_memory().expect("an in-memory store");
    let policy = ControllerPolicy::default();
    let body = serde_json::to_value(&policy).expect("the policy serializes");
    store.put_policy(&body, "defaults", 0).expect("policy v1");
    for (summary, status) in [("2 step(s)", PlanStatus::Proposed), ("old", PlanStatus::Rejected)] {
        let plan = NewPlan {
            at_ms: 3_600_000,
            mode: "approve".into(),
            status,
            summary: summary.into(),
            body: json!({"steps": [], "notes": []}),
        };
        store.insert_plan(&plan).expect("a plan");
    }
    for (at_ms, phase) in [(3_600_000, Phase::Intent), (3_601_000, Phase::Done)] {
        let entry = JournalEntry {
            at_ms,
            op_id: "op-1-0".into(),
            plan_id: Some(1),
            step: 0,
            kind: "migrate".into(),
            subject: "i3".into(),
            phase,
            detail: json!({}),
            error: None,
        };
        store.journal_append(&entry).expect("a journal record");
    }
    let audit = AuditRow {
        at_ms: 3_600_000,
        source: "thermal".into(),
        zone: Some("z2".into()),
        host: Some("h04".into()),
        instance: None,
        action: "power_down".into(),
        reason: "z2 air above detect".into(),
        body: json!({}),
    };
    store.append_audit(&[audit]).expect("an audit row");
    for (at_ms, value) in [(3_540_000, 0.5), (3_600_000, 0.62)] {
        let samples = [
            Sample { name: "harvest_ratio".into(), labels: String::new(), value },
            Sample { name: "host_temp_c".into(), labels: "host=h01".into(), value: 38.0 },
        ];
        store.record_metrics(at_ms, &samples).expect("samples");
    }
    let shared = Arc::new(Shared::new(Arc::new(Mutex::new(store)), policy));
    shared.publish(view());
    shared.metrics.harvest_ratio.set(0.62);
    let auth = Auth::new([TOKEN]).expect("one token");
    (shared.clone(), controller_app(shared, None, auth))
}

/// An answer: status, `WWW-Authenticate` and `Content-Type` headers, and the body.
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    content_type: String,
    body: String,
}

impl Answer {
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// Asserts the status and a JSON `{"error": …}` that contains `needle`.
    #[track_caller]
    fn assert_error(&self, status: StatusCode, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let message = self.json()["error"].as_str().map(str::to_owned);
        let message = message.unwrap_or_else(|| panic!("no error message: {}", self.body));
        assert!(message.contains(needle), "`{message}` does not name `{needle}`");
    }
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_owned())).expect("a request");
    let response = app.clone().oneshot(request).await.expect("the router is infallible");
    let header = |name: &str| {
        response.headers().get(name).map(|v| v.to_str().expect("ASCII header").to_owned())
    };
    let (status, challenge) = (response.status(), header("www-authenticate"));
    let content_type = header("content-type").unwrap_or_default();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let body = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
    Answer { status, challenge, content_type, body }
}

async fn get(app: &Router, uri: &str) -> Answer {
    call(app, "GET", uri, Some(TOKEN), "").await
}

/// A concrete URI for a route's path template.
fn concrete(path: &str) -> String {
    path.replace("{id}", if path.starts_with("/api/v1/hosts") { "h02" } else { "1" })
        .replace("{metric}", "harvest_ratio")
}

#[tokio::test]
async fn requests_without_the_right_token_are_refused_and_change_nothing() {
    let (shared, app) = fixture();
    for (method, path) in api_routes() {
        let uri = concrete(path);
        for token in [None, Some("wrong"), Some("t0ken-for-test")] {
            let answer = call(&app, method, &uri, token, "{}").await;
            answer.assert_error(StatusCode::UNAUTHORIZED, "token");
            let challenge = answer.challenge.unwrap_or_default();
            assert!(challenge.starts_with("Bearer"), "{method} {uri}: `{challenge}`");
        }
    }
    // Another scheme, an unknown path, a method no route serves: refused before routing.
    let basic = Request::get("/api/v1/hosts").header("authorization", format!("Basic {TOKEN}"));
    let response = app.clone().oneshot(basic.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    call(&app, "GET", "/api/v1/nothing", None, "").await.assert_error(StatusCode::UNAUTHORIZED, "");
    call(&app, "DELETE", "/api/v1/hosts", None, "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "");
    // The α override's writes need the token even where no beacon service is mounted.
    call(&app, "PUT", "/v1/beacons/alpha", None, r#"{"alpha": 0.5}"#)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token");

    // Nothing changed: the policy is still version 1, plan 1 still proposed.
    let put = call(&app, "PUT", "/api/v1/policy", Some("wrong"), r#"{"heat":{"headroom":0.3}}"#);
    put.await.assert_error(StatusCode::UNAUTHORIZED, "token");
    let policy = get(&app, "/api/v1/policy").await.json();
    assert_eq!(policy["version"], 1);
    assert_eq!(policy["policy"]["heat"]["headroom"], 0.1);
    assert_eq!(shared.store().policy_versions(10).unwrap().len(), 1);
    assert_eq!(shared.store().plan(1).unwrap().unwrap().status, PlanStatus::Proposed);
}

#[tokio::test]
async fn every_get_route_answers_with_its_shape() {
    let (_, app) = fixture();
    let mut checked = BTreeSet::new();
    for (method, path) in api_routes().filter(|(method, _)| *method == "GET") {
        let answer = get(&app, &concrete(path)).await;
        assert_eq!(answer.status, StatusCode::OK, "{method} {path}: {}", answer.body);
        assert!(answer.content_type.starts_with("application/json"), "{path}");
        let body = answer.json();
        let keys = |value: &Value| -> Vec<String> {
            value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
        };
        match path {
            "/api/v1/status" => {
                assert_eq!(body["mode"], "approve");
                assert_eq!(body["at_s"], 3600.0);
                assert_eq!(body["totals"]["covered_hosts"], 3);
            }
            "/api/v1/hosts" => {
                let ids: Vec<_> = body.as_array().unwrap().iter().map(|h| &h["id"]).collect();
                assert_eq!(ids, ["h01", "h02", "h03", "h04", "h05"]);
                assert_eq!(body[0]["zone"], "z1");
                assert_eq!(body[0]["management"], true);
            }
            "/api/v1/hosts/{id}" => {
                assert_eq!(body["host"]["id"], "h02");
                let instances: Vec<_> =
                    body["instances"].as_array().unwrap().iter().map(|i| &i["id"]).collect();
                assert_eq!(instances, ["i2", "i3"]);
            }
            "/api/v1/instances" => assert_eq!(body.as_array().unwrap().len(), 3),
            "/api/v1/telemetry" => {
                assert_eq!(keys(&body), ["at_s", "series", "totals"]);
                assert_eq!(body["series"].as_array().unwrap().len(), 3);
                assert_eq!(body["series"][2]["harvest_ratio"], 0.62);
            }
            "/api/v1/telemetry/{metric}" => {
                assert_eq!(body["metric"], "harvest_ratio");
                let expected = json!([{"at_ms": 3_540_000, "value": 0.5},
                                      {"at_ms": 3_600_000, "value": 0.62}]);
                assert_eq!(body["points"], expected);
            }
            "/api/v1/thermal" => {
                assert_eq!(body["zones"][1]["phase"], "shedding");
                assert_eq!(body["zones"][1]["powered_down"], json!(["h05"]));
            }
            "/api/v1/plan" => {
                assert_eq!(body["id"], 1);
                assert_eq!(body["steps"][0]["action"], "migrate");
                assert_eq!(body["steps"][1]["source"], "thermal");
                assert_eq!(body["notes"][0], "migrations limited to 8 per cycle");
            }
            "/api/v1/plans" => {
                let ids: Vec<_> = body.as_array().unwrap().iter().map(|p| &p["id"]).collect();
                assert_eq!(ids, [2, 1], "newest first");
            }
            "/api/v1/plans/{id}" => {
                assert_eq!(body["plan"]["status"], "proposed");
                let phases: Vec<_> =
                    body["journal"].as_array().unwrap().iter().map(|r| &r["phase"]).collect();
                assert_eq!(phases, ["intent", "done"]);
            }
            "/api/v1/policy" => {
                assert_eq!(body["version"], 1);
                assert_eq!(body["policy"]["heat"]["target_heat_w"], 125.0);
            }
            "/api/v1/policy/versions" => {
                assert_eq!(body[0]["version"], 1);
                assert_eq!(body[0]["author"], "defaults");
            }
            "/api/v1/audit" => {
                assert_eq!(body[0]["action"], "power_down");
                assert_eq!(body[0]["zone"], "z2");
            }
            "/api/v1/journal" => {
                let seqs: Vec<_> = body.as_array().unwrap().iter().map(|r| &r["seq"]).collect();
                assert_eq!(seqs, [2, 1], "newest first");
                assert_eq!(body[0]["op_id"], "op-1-0");
            }
            "/api/v1/openapi.json" => assert_eq!(body["openapi"], "3.0.3"),
            other => panic!("{other}: a GET route this test does not check; add its shape"),
        }
        checked.insert(path);
    }
    assert_eq!(checked.len(), api_routes().filter(|(m, _)| *m == "GET").count());

    // Parameters that narrow the answer.
    let labelled = get(&app, "/api/v1/telemetry/host_temp_c?labels=host%3Dh01&from_ms=3600000");
    assert_eq!(labelled.await.json()["points"], json!([{"at_ms": 3_600_000, "value": 38.0}]));
    let one = get(&app, "/api/v1/plans?limit=1").await.json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/api/v1/audit?before=1").await.json(), json!([]));
    assert_eq!(get(&app, "/api/v1/journal?limit=1").await.json()[0]["seq"], 2);
}

#[tokio::test]
async fn bad_parameters_and_unknown_ids_are_named() {
    let (shared, app) = fixture();
    let cases = [
        ("/api/v1/hosts/h99", StatusCode::NOT_FOUND, "h99"),
        ("/api/v1/plans?limit=abc", StatusCode::BAD_REQUEST, "limit"),
        ("/api/v1/plans?limit=501", StatusCode::BAD_REQUEST, "limit"),
        ("/api/v1/plans?limt=5", StatusCode::BAD_REQUEST, "limt"),
        ("/api/v1/plans/abc", StatusCode::BAD_REQUEST, "abc"),
        ("/api/v1/plans/99", StatusCode::NOT_FOUND, "99"),
        ("/api/v1/audit?before=yesterday", StatusCode::BAD_REQUEST, "before"),
        ("/api/v1/journal?limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("/api/v1/telemetry/bogus", StatusCode::NOT_FOUND, "harvest_ratio, host_temp_c"),
        ("/api/v1/telemetry/harvest_ratio?from_ms=x", StatusCode::BAD_REQUEST, "from_ms"),
        ("/api/v1/telemetry/harvest_ratio?from_ms=9&to_ms=1", StatusCode::BAD_REQUEST, "from_ms"),
        ("/api/v1/telemetry/harvest_ratio?labels=host", StatusCode::BAD_REQUEST, "labels"),
        ("/api/v1/nothing", StatusCode::NOT_FOUND, "/api/v1/nothing"),
    ];
    for (uri, status, needle) in cases {
        get(&app, uri).await.assert_error(status, needle);
    }
    let wrong_method = call(&app, "DELETE", "/api/v1/hosts", Some(TOKEN), "").await;
    wrong_method.assert_error(StatusCode::METHOD_NOT_ALLOWED, "DELETE");

    shared.publish(View::default());
    get(&app, "/api/v1/plan").await.assert_error(StatusCode::NOT_FOUND, "no plan yet");
}

#[tokio::test]
async fn a_policy_put_is_validated_then_stored_as_the_next_version() {
    let (shared, app) = fixture();
    let put = |body: &'static str| call(&app, "PUT", "/api/v1/policy", Some(TOKEN), body);
    put(r#"{"heat":{"headroom":2}}"#).await.assert_error(StatusCode::BAD_REQUEST, "heat.headroom");
    put(r#"{"heat":{"bogus":1}}"#).await.assert_error(StatusCode::BAD_REQUEST, "heat.bogus");
    put(r#"{"heat":"#).await.assert_error(StatusCode::BAD_REQUEST, "body");
    assert_eq!(shared.store().policy_versions(10).unwrap().len(), 1, "refused puts store nothing");

    let stored = put(r#"{"heat":{"headroom":0.25}}"#).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let stored = stored.json();
    assert_eq!((&stored["version"], &stored["author"]), (&json!(2), &json!("api")));
    assert_eq!(stored["at_ms"], 3_600_000, "the controller's policy clock");
    assert_eq!(shared.policy().heat.headroom, 0.25);

    let now = get(&app, "/api/v1/policy").await.json();
    assert_eq!((&now["version"], &now["policy"]["heat"]["headroom"]), (&json!(2), &json!(0.25)));
    let versions = get(&app, "/api/v1/policy/versions").await.json();
    let numbers: Vec<_> = versions.as_array().unwrap().iter().map(|v| &v["version"]).collect();
    assert_eq!(numbers, [2, 1]);
}

#[tokio::test]
async fn a_proposed_plan_is_approved_or_rejected_once() {
    let (shared, app) = fixture();
    let post = |uri: &'static str| call(&app, "POST", uri, Some(TOKEN), "");
    let approved = post("/api/v1/plans/1/approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.json(), json!({"id": 1, "status": "approved"}));
    let stored = shared.store().plan(1).unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.note.as_deref()),
        (PlanStatus::Approved, Some("approved by api"))
    );

    post("/api/v1/plans/1/approve").await.assert_error(StatusCode::CONFLICT, "approved");
    post("/api/v1/plans/1/reject").await.assert_error(StatusCode::CONFLICT, "plan 1");
    post("/api/v1/plans/2/approve").await.assert_error(StatusCode::CONFLICT, "rejected");
    post("/api/v1/plans/42/approve").await.assert_error(StatusCode::NOT_FOUND, "42");
    post("/api/v1/plans/x/reject").await.assert_error(StatusCode::BAD_REQUEST, "x");

    let plan = NewPlan {
        at_ms: 3_700_000,
        mode: "approve".into(),
        status: PlanStatus::Proposed,
        summary: "another".into(),
        body: json!({}),
    };
    let id = shared.store().insert_plan(&plan).unwrap().id;
    let rejected = call(&app, "POST", &format!("/api/v1/plans/{id}/reject"), Some(TOKEN), "").await;
    assert_eq!(rejected.json(), json!({"id": id, "status": "rejected"}));
}

#[tokio::test]
async fn metrics_dashboard_and_health_are_open() {
    let (_, app) = fixture();
    let metrics = call(&app, "GET", "/metrics", None, "").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(metrics.content_type, controller::metrics::CONTENT_TYPE);
    assert!(metrics.body.contains("hearth_harvest_ratio 0.62"), "{}", metrics.body);
    assert!(metrics.body.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");

    let page = call(&app, "GET", "/", None, "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type.starts_with("text/html"));
    for id in ["hosts", "plan", "thermal", "actions", "totals", "chart-covered", "chart-harvest"] {
        assert!(page.body.contains(&format!(r#"id="{id}""#)), "the dashboard lacks #{id}");
    }
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url("] {
        assert!(!page.body.contains(external), "the dashboard loads an external asset: {external}");
    }

    let health = call(&app, "GET", "/healthz", None, "").await;
    assert_eq!((health.status, health.body.as_str()), (StatusCode::OK, "ok"));
    call(&app, "GET", "/nowhere", None, "").await.assert_error(StatusCode::NOT_FOUND, "/nowhere");
    // The beacon routes are mounted only with a beacon service.
    call(&app, "GET", "/v1/beacons/nodes", None, "").await.assert_error(StatusCode::NOT_FOUND, "");
}

mod openapi;
mod pool_openapi;
