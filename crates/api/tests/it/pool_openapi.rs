//! The pool's OpenAPI document (`pool_openapi.json`) against the pool router: the same routes
//! (from the one route table, both ways), each of them served and behind the bearer token, the
//! agent routes' answers signed with `x-hearth-mac`, the schemas matching what the real types
//! serialize to (property names, `required` = the non-`Option` fields, types), and the real
//! answers of a join → poll → submit → output → report → cancel session matching the schema
//! documented for their status.

use api::pool::{pool_app, pool_routes, PoolApi, OPENAPI};
use api::Auth;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use controller::pool::PoolService;
use http_body_util::BodyExt;
use pool::proto::{
    Assignment, AttemptRef, Head, JoinRequest, JoinResponse, OutputRequest, OutputView, Placement,
    PollRequest, PollResponse, ReportRequest, ReportResponse, SubmitRequest, SubmitResponse,
};
use pool::reserve::Resources;
use pool::sched::{AttemptRecord, Member, Task, TaskState};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt;

use super::openapi::{check_parameters_and_refs, operations, resolve};

const TOKEN: &str = "a-token-of-sixteen-chars-or-more";

/// The routes whose answers carry `x-hearth-mac`.
const AGENT_ROUTES: [&str; 4] =
    ["/api/v1/pool/join", "/api/v1/pool/poll", "/api/v1/pool/report", "/api/v1/pool/output"];

fn document() -> Value {
    serde_json::from_str(OPENAPI).expect("pool_openapi.json is JSON")
}

/// `value`, or what it refers to when it is a `$ref`.
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => resolve(doc, reference),
        None => value,
    }
}

/// Checks `value` against `schema` (the part of OpenAPI 3.0 the document uses: `$ref`,
/// `allOf`, `nullable`, `enum`, `type`, `properties`, `required`, `items`, `minItems`,
/// `minimum`, `maximum`, the 64-hex-digit `pattern`), naming where it differs. An object's keys
/// must be exactly its schema's `properties`: serde writes every field, `None` as `null`.
#[track_caller]
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = deref(doc, schema);
    if value.is_null() {
        assert_eq!(schema["nullable"], true, "{at}: null, but the schema is not nullable");
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(doc, part, value, at);
    }
    if let Some(options) = schema["enum"].as_array() {
        assert!(options.contains(value), "{at}: {value} is not one of {options:?}");
    }
    let Some(kind) = schema["type"].as_str() else {
        assert!(schema["allOf"].is_array(), "{at}: a schema with neither type nor allOf");
        return;
    };
    match kind {
        "object" => {
            let map = value.as_object().unwrap_or_else(|| panic!("{at}: {value} is not an object"));
            let keys: BTreeSet<&str> = map.keys().map(String::as_str).collect();
            if let Some(properties) = schema["properties"].as_object() {
                let documented: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
                assert_eq!(keys, documented, "{at}: the keys differ from the schema's properties");
                for (key, item) in map {
                    check(doc, &properties[key], item, &format!("{at}.{key}"));
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().expect("`required` names properties");
                assert!(keys.contains(required), "{at}: required `{required}` is missing");
            }
        }
        "array" => {
            let items = value.as_array().unwrap_or_else(|| panic!("{at}: {value} is not an array"));
            if let Some(min) = schema["minItems"].as_u64() {
                assert!(items.len() as u64 >= min, "{at}: fewer than {min} items");
            }
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        "string" => {
            let text = value.as_str().unwrap_or_else(|| panic!("{at}: {value} is not a string"));
            if let Some(pattern) = schema["pattern"].as_str() {
                assert_eq!(pattern, "^[0-9a-f]{64}$", "{at}: a pattern this check does not know");
                let hex = text.len() == 64
                    && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                assert!(hex, "{at}: `{text}` is not 64 lowercase hex digits");
            }
        }
        "integer" | "number" => {
            let number = value.as_f64().unwrap_or_else(|| panic!("{at}: {value} is not a number"));
            if kind == "integer" {
                assert!(value.is_i64() || value.is_u64(), "{at}: {value} is not an integer");
            }
            if let Some(min) = schema["minimum"].as_f64() {
                assert!(number >= min, "{at}: {value} < minimum {min}");
            }
            if let Some(max) = schema["maximum"].as_f64() {
                assert!(number <= max, "{at}: {value} > maximum {max}");
            }
        }
        "boolean" => assert!(value.is_boolean(), "{at}: {value} is not a boolean"),
        other => panic!("{at}: type `{other}` is not checked here"),
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "components/schemas/{name} is missing");
    schema
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("the type serializes")
}

// ---------------------------------------------------------------------------------------------
// The document on its own

#[test]
fn the_document_lists_exactly_the_routes_of_the_table() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    let documented: BTreeSet<(String, String)> =
        operations(&doc).into_iter().map(|(method, path, _)| (method, path)).collect();
    let routes: Vec<(String, String)> =
        pool_routes().map(|(method, path)| (method.to_string(), path.to_string())).collect();
    let served: BTreeSet<(String, String)> = routes.iter().cloned().collect();
    assert_eq!(served.len(), routes.len(), "the route table lists a route twice: {routes:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "in pool_routes() but not in pool_openapi.json: {undocumented:?}; in \
         pool_openapi.json but not in pool_routes(): {unserved:?}"
    );
    assert!(served.contains(&("GET".into(), "/api/v1/pool/openapi.json".into())));
}

#[test]
fn every_route_needs_the_token_and_the_agent_routes_sign_their_answers() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&"http".into(), &"bearer".into()));
    assert_eq!(doc["security"], json!([{"bearerAuth": []}]));
    let mac = &doc["components"]["headers"]["XHearthMac"];
    assert_eq!(mac["schema"]["pattern"], "^[0-9a-f]{64}$");
    let described = mac["description"].as_str().unwrap_or_default();
    for needle in ["HMAC-SHA256", "hearth-pool-v1\\n", "nonce", "body", "empty string", "401"] {
        assert!(described.contains(needle), "the x-hearth-mac description lacks `{needle}`");
    }
    for (method, path, operation) in operations(&doc) {
        assert!(operation.get("security").is_none(), "{method} {path}: overrides the security");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(responses.contains_key("401"), "{method} {path}: no 401");
        let agent = AGENT_ROUTES.contains(&path.as_str());
        for (status, response) in responses {
            let response = deref(&doc, response);
            let signed = response["headers"]["x-hearth-mac"]["$ref"].as_str();
            match (agent, status.as_str()) {
                (_, "401") => assert!(signed.is_none(), "{method} {path}: a signed 401"),
                (true, _) => assert_eq!(
                    signed,
                    Some("#/components/headers/XHearthMac"),
                    "{method} {path} {status}: no x-hearth-mac"
                ),
                (false, _) => assert!(signed.is_none(), "{method} {path} {status}: signed"),
            }
            assert!(
                response["content"]["application/json"]["schema"].is_object(),
                "{method} {path} {status}: no JSON schema"
            );
        }
        if method == "POST" && !path.ends_with("/cancel") {
            let body = &operation["requestBody"];
            assert_eq!(body["required"], true, "{method} {path}: no required request body");
            assert!(body["content"]["application/json"]["schema"]["$ref"].is_string());
        }
    }
}

#[test]
fn path_parameters_are_declared_refs_resolve_and_the_named_schemas_exist() {
    let doc = document();
    check_parameters_and_refs(&doc);
    for name in [
        "JoinRequest",
        "JoinResponse",
        "PollRequest",
        "PollResponse",
        "Assignment",
        "AttemptRef",
        "Head",
        "ReportRequest",
        "ReportResponse",
        "OutputRequest",
        "SubmitRequest",
        "SubmitResponse",
        "OutputView",
        "Task",
        "AttemptRecord",
        "Member",
        "Resources",
        "TaskState",
        "Placement",
        "Error",
    ] {
        schema(&doc, name);
    }
}

// ---------------------------------------------------------------------------------------------
// The schemas against the types

fn res(cpu: f64, mem_mib: u64) -> Resources {
    Resources { cpu, mem_mib, disk_mib: 10, gpu: 1 }
}

fn head() -> Head {
    Head { next_seq: 3, head: "ab".repeat(32) }
}

fn attempt() -> AttemptRef {
    AttemptRef { task: "t1".into(), attempt: 2 }
}

/// Every task state (the match fails to compile when one is added).
fn all_states() -> Vec<TaskState> {
    let states = [
        TaskState::Queued,
        TaskState::Assigned,
        TaskState::Running,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Cancelled,
    ];
    for state in states {
        match state {
            TaskState::Queued
            | TaskState::Assigned
            | TaskState::Running
            | TaskState::Finished
            | TaskState::Failed
            | TaskState::Cancelled => {}
        }
    }
    states.to_vec()
}

/// Every placement (the match fails to compile when one is added).
fn all_placements() -> Vec<Placement> {
    for placement in [Placement::Pool, Placement::Auto] {
        match placement {
            Placement::Pool | Placement::Auto => {}
        }
    }
    vec![Placement::Pool, Placement::Auto]
}

fn task(full: bool) -> Task {
    Task {
        id: "t1".into(),
        argv: vec!["sleep".into(), "1".into()],
        request: res(1.5, 256),
        retries: 2,
        retries_used: 1,
        moves: 1,
        attempt: 2,
        state: TaskState::Finished,
        node: full.then(|| "m2".into()),
        avoid: if full { vec!["m1".into()] } else { Vec::new() },
        exit_code: full.then_some(-3),
        reason: full.then(|| "lost: beacon silence".into()),
        history: vec![AttemptRecord { attempt: 1, node: "m1".into(), outcome: "lost: …".into() }],
        submitted_ms: 1_700_000_000_000,
        ended_ms: full.then_some(1_700_000_001_000),
    }
}

fn member(full: bool) -> Member {
    Member {
        id: "m1".into(),
        public_key: "0f".repeat(32),
        beacon_node: 7,
        score: 1234.5,
        capacity: res(8.0, 16384),
        reserve: res(2.0, 8192),
        surplus: res(5.5, 6000),
        local_use: res(0.5, 2000),
        isolation: "cgroup2".into(),
        user: "nobody".into(),
        active: !full,
        left_reason: full.then(|| "lost: no poll for 6 s".into()),
        last_seen_ms: 1_700_000_000_000,
        joined_ms: 1_699_000_000_000,
    }
}

fn output_view(full: bool) -> OutputView {
    OutputView {
        attempt: 1,
        node: full.then(|| "m1".into()),
        stdout: "aGk=".into(),
        stderr: String::new(),
        stdout_end: 2,
        stderr_end: 0,
        state: TaskState::Running,
        exit_code: full.then_some(0),
        reason: full.then(|| "no retries left".into()),
    }
}

/// A sample of each main type, by schema: once with every `Option` set (`true`), once with
/// every `Option` `None` (`false`).
fn samples(full: bool) -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "JoinResponse",
            to_json(&JoinResponse {
                machine_id: "m1".into(),
                controller_key: "12".repeat(32),
                rank: 1,
                members: 3,
                ledger: head(),
            }),
        ),
        (
            "PollResponse",
            to_json(&PollResponse {
                assign: vec![Assignment {
                    attempt: attempt(),
                    argv: vec!["true".into()],
                    request: res(1.0, 256),
                }],
                cancel: vec![AttemptRef { task: "t0".into(), attempt: 1 }],
                ledger: head(),
            }),
        ),
        (
            "SubmitResponse",
            to_json(&SubmitResponse {
                id: full.then(|| "t1".into()),
                fits: full,
                reason: full.then(|| "the task needs …".into()),
            }),
        ),
        ("OutputView", to_json(&output_view(full))),
        ("Task", to_json(&task(full))),
        ("Member", to_json(&member(full))),
        (
            "ReportResponse",
            to_json(&ReportResponse {
                appended: !full,
                stale: full,
                error: full.then(|| "the ledger's head moved: sign again".into()),
                ledger: head(),
            }),
        ),
        (
            "JoinRequest",
            to_json(&JoinRequest {
                public_key: "ab".repeat(32),
                beacon_node: 4_000_000_000,
                score: 99.5,
                capacity: res(4.0, 4096),
                reserve: res(1.0, 1024),
                isolation: "rlimits".into(),
                user: "nobody".into(),
                nonce: "n".into(),
            }),
        ),
        (
            "PollRequest",
            to_json(&PollRequest {
                machine_id: "m1".into(),
                nonce: "n".into(),
                surplus: res(3.0, 3072),
                local_use: res(0.25, 512),
                running: vec![attempt()],
            }),
        ),
        (
            "ReportRequest",
            to_json(&ReportRequest {
                machine_id: "m1".into(),
                nonce: "n".into(),
                attempt: 0,
                line: "{}".into(),
            }),
        ),
        (
            "OutputRequest",
            to_json(&OutputRequest {
                machine_id: "m1".into(),
                attempt: attempt(),
                stdout: "aGk=".into(),
                stderr: String::new(),
            }),
        ),
        ("Error", to_json(&api::ErrorBody { error: "unknown task `t9`".into() })),
    ];
    for on in all_placements() {
        let submit =
            SubmitRequest { argv: vec!["true".into()], request: res(1.0, 1), on, retries: 2 };
        out.push(("SubmitRequest", to_json(&submit)));
    }
    out
}

#[test]
fn the_schemas_name_exactly_the_fields_the_types_serialize() {
    let doc = document();
    for full in [true, false] {
        for (name, value) in samples(full) {
            check(&doc, schema(&doc, name), &value, name);
            if full {
                let nulls: Vec<_> =
                    value.as_object().unwrap().iter().filter(|(_, v)| v.is_null()).collect();
                assert!(nulls.is_empty(), "{name}: the full sample leaves {nulls:?} null");
            }
        }
    }
    // `required` lists exactly the fields that are not `Option`s: the ones that stay non-null
    // when every `Option` is `None`.
    for (name, value) in samples(false) {
        let required: BTreeSet<&str> = schema(&doc, name)["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no `required`"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let non_option: BTreeSet<&str> = value
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(required, non_option, "{name}: `required` is not the non-Option fields");
    }
    // The nested types and the enumerations.
    check(&doc, schema(&doc, "Resources"), &to_json(&res(0.5, 1)), "Resources");
    check(&doc, schema(&doc, "Head"), &to_json(&head()), "Head");
    check(&doc, schema(&doc, "AttemptRef"), &to_json(&attempt()), "AttemptRef");
    let record = AttemptRecord { attempt: 1, node: "m1".into(), outcome: "finished".into() };
    check(&doc, schema(&doc, "AttemptRecord"), &to_json(&record), "AttemptRecord");
    let states: Vec<Value> = all_states().iter().map(to_json).collect();
    assert_eq!(schema(&doc, "TaskState")["enum"], Value::Array(states), "TaskState");
    let placements: Vec<Value> = all_placements().iter().map(to_json).collect();
    assert_eq!(schema(&doc, "Placement")["enum"], Value::Array(placements), "Placement");
    // The closed request bodies are the ones serde refuses unknown fields of.
    for (name, value) in samples(true) {
        let closed = schema(&doc, name)["additionalProperties"] == false;
        let mut extra = value.clone();
        extra["unexpected"] = json!(1);
        let refused = match name {
            "JoinRequest" => serde_json::from_value::<JoinRequest>(extra).is_err(),
            "PollRequest" => serde_json::from_value::<PollRequest>(extra).is_err(),
            "ReportRequest" => serde_json::from_value::<ReportRequest>(extra).is_err(),
            "OutputRequest" => serde_json::from_value::<OutputRequest>(extra).is_err(),
            "SubmitRequest" => serde_json::from_value::<SubmitRequest>(extra).is_err(),
            _ => false,
        };
        assert_eq!(closed, refused, "{name}: additionalProperties vs deny_unknown_fields");
    }
}

// ---------------------------------------------------------------------------------------------
// The router

struct Fixture {
    app: Router,
    api: Arc<PoolApi>,
    _dir: tempfile::TempDir,
}

/// A pool controller over a fresh data directory, with no member and no task.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (store, _) = store::Store::open(&dir.path().join("hearth.db")).expect("a store");
    let key = pool::ledger::keys::signing_key_from_seed([1; 32]);
    let (service, _) = PoolService::open(dir.path(), store, key).expect("the pool service");
    let api = PoolApi::new(service);
    let auth = Auth::new([TOKEN]).expect("a token");
    Fixture { app: pool_app(api.clone(), None, auth), api, _dir: dir }
}

/// An answer: status, headers of interest and body.
struct Answer {
    status: StatusCode,
    mac: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body))
        })
    }
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request =
        Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_owned())).expect("a request");
    let response = app.clone().oneshot(request).await.expect("the router is infallible");
    let header = |name: &str| {
        response.headers().get(name).map(|v| v.to_str().expect("ASCII header").to_owned())
    };
    let (status, mac, content_type) =
        (response.status(), header("x-hearth-mac"), header("content-type"));
    let body = response.into_body().collect().await.expect("a body").to_bytes().to_vec();
    Answer { status, mac, content_type, body }
}

/// Calls a route with the token and checks the answer against the document: its status is
/// documented for the route, its body matches that status's schema, and on an agent route it
/// carries a MAC that verifies for `nonce`. `template` is the route's path in the document.
#[track_caller]
fn documented(doc: &Value, method: &str, template: &str, answer: &Answer, nonce: &str) -> Value {
    let operation = &doc["paths"][template][method.to_lowercase()];
    assert!(operation.is_object(), "{method} {template} is not documented");
    let status = answer.status.as_str();
    let text = String::from_utf8_lossy(&answer.body);
    let response = operation["responses"]
        .get(status)
        .map(|r| deref(doc, r))
        .unwrap_or_else(|| panic!("{method} {template}: {status} is not documented ({text})"));
    assert_eq!(answer.content_type.as_deref(), Some("application/json"), "{method} {template}");
    let value = answer.json();
    let at = format!("{method} {template} {status}");
    check(doc, &response["content"]["application/json"]["schema"], &value, &at);
    if AGENT_ROUTES.contains(&template) {
        let mac = answer.mac.as_deref().unwrap_or_else(|| panic!("{at}: no x-hearth-mac"));
        assert!(pool::proto::mac_matches(TOKEN, nonce, &answer.body, mac), "{at}: a bad MAC");
    } else {
        assert_eq!(answer.mac, None, "{at}: a MAC on a user route");
    }
    value
}

fn node_key() -> String {
    let key = pool::ledger::keys::signing_key_from_seed([2; 32]);
    pool::ledger::keys::verifying_key_hex(&key.verifying_key())
}

fn join_request(nonce: &str) -> String {
    let join = JoinRequest {
        public_key: node_key(),
        beacon_node: 7,
        score: 1000.0,
        capacity: Resources { cpu: 4.0, mem_mib: 4096, disk_mib: 0, gpu: 0 },
        reserve: Resources { cpu: 1.0, mem_mib: 1024, disk_mib: 0, gpu: 0 },
        isolation: "rlimits".into(),
        user: "nobody".into(),
        nonce: nonce.into(),
    };
    serde_json::to_string(&join).unwrap()
}

fn poll_request(machine: &str, nonce: &str) -> String {
    let poll = PollRequest {
        machine_id: machine.into(),
        nonce: nonce.into(),
        surplus: Resources { cpu: 3.0, mem_mib: 3072, disk_mib: 0, gpu: 0 },
        local_use: Resources { cpu: 0.5, mem_mib: 512, disk_mib: 0, gpu: 0 },
        running: Vec::new(),
    };
    serde_json::to_string(&poll).unwrap()
}

fn submit_request(cpu: f64, on: Placement) -> String {
    let submit = SubmitRequest {
        argv: vec!["echo".into(), "hi".into()],
        request: Resources { cpu, mem_mib: 256, disk_mib: 0, gpu: 0 },
        on,
        retries: 1,
    };
    serde_json::to_string(&submit).unwrap()
}

/// Joins a member (`m1`), has it offer its surplus and submits task `t1`, which lands on it.
async fn populate(app: &Router) {
    let joined = call(app, "POST", "/api/v1/pool/join", Some(TOKEN), &join_request("n")).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", String::from_utf8_lossy(&joined.body));
    let polled =
        call(app, "POST", "/api/v1/pool/poll", Some(TOKEN), &poll_request("m1", "n")).await;
    assert_eq!(polled.status, StatusCode::OK);
    let body = submit_request(1.0, Placement::Pool);
    let submitted = call(app, "POST", "/api/v1/pool/tasks", Some(TOKEN), &body).await;
    assert_eq!(submitted.status, StatusCode::CREATED);
    assert_eq!(submitted.json()["id"], "t1");
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "t1")
}

#[tokio::test]
async fn every_route_of_the_table_is_served() {
    let fixture = fixture();
    populate(&fixture.app).await;
    for (method, path) in pool_routes() {
        let answer = call(&fixture.app, method, &concrete(path), Some(TOKEN), "{}").await;
        assert!(
            answer.status != StatusCode::NOT_FOUND
                && answer.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    // The check can fail: an unknown route and an unserved method are told apart.
    let unknown = call(&fixture.app, "GET", "/api/v1/pool/nowhere", Some(TOKEN), "").await;
    assert_eq!(
        (unknown.status, unknown.json()),
        (StatusCode::NOT_FOUND, json!({"error": "no such route"}))
    );
    let wrong = call(&fixture.app, "DELETE", "/api/v1/pool/tasks", Some(TOKEN), "").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_the_token_every_route_answers_401_and_nothing_changes() {
    let fixture = fixture();
    populate(&fixture.app).await;
    for (method, path) in pool_routes() {
        for token in [None, Some("not-the-token-of-sixteen-chars")] {
            let answer = call(&fixture.app, method, &concrete(path), token, "{}").await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
            assert!(answer.json()["error"].is_string(), "{method} {path}: no error body");
            assert_eq!(answer.mac, None, "{method} {path}: a MAC on a 401");
        }
    }
    // The refused cancel did nothing.
    let task = call(&fixture.app, "GET", "/api/v1/pool/tasks/t1", Some(TOKEN), "").await;
    assert_eq!(task.json()["state"], "assigned");
}

#[tokio::test]
async fn real_answers_match_the_schema_documented_for_their_status() {
    let doc = document();
    let fixture = fixture();
    let app = &fixture.app;
    let token = Some(TOKEN);
    let members = call(app, "GET", "/api/v1/pool/members", token, "").await;
    assert_eq!(documented(&doc, "GET", "/api/v1/pool/members", &members, ""), json!([]));

    // An agent joins and polls.
    let join = "/api/v1/pool/join";
    let joined = call(app, "POST", join, token, &join_request("n-join")).await;
    let joined = documented(&doc, "POST", join, &joined, "n-join");
    assert_eq!((&joined["machine_id"], &joined["rank"]), (&json!("m1"), &json!(1)));
    let garbled = call(app, "POST", join, token, "not json").await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    documented(&doc, "POST", join, &garbled, "");
    let poll = "/api/v1/pool/poll";
    let polled = call(app, "POST", poll, token, &poll_request("m1", "n-poll")).await;
    documented(&doc, "POST", poll, &polled, "n-poll");
    let stranger = call(app, "POST", poll, token, &poll_request("m9", "n-9")).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    documented(&doc, "POST", poll, &stranger, "n-9");

    // A user submits: accepted, refused, malformed.
    let tasks = "/api/v1/pool/tasks";
    let submitted = call(app, "POST", tasks, token, &submit_request(1.0, Placement::Pool)).await;
    assert_eq!(submitted.status, StatusCode::CREATED);
    documented(&doc, "POST", tasks, &submitted, "");
    let too_big = call(app, "POST", tasks, token, &submit_request(64.0, Placement::Auto)).await;
    assert_eq!(too_big.status, StatusCode::UNPROCESSABLE_ENTITY);
    let refused = documented(&doc, "POST", tasks, &too_big, "");
    assert_eq!((&refused["fits"], &refused["id"]), (&json!(false), &Value::Null));
    let unknown_field = call(app, "POST", tasks, token, r#"{"argv": ["x"], "cpu": 1}"#).await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    documented(&doc, "POST", tasks, &unknown_field, "");

    // The agent gets the task, sends output, and reports (a line that is no entry: 409).
    let polled = call(app, "POST", poll, token, &poll_request("m1", "n-poll-2")).await;
    let polled = documented(&doc, "POST", poll, &polled, "n-poll-2");
    assert_eq!(polled["assign"][0]["attempt"], json!({"task": "t1", "attempt": 1}));
    let output = "/api/v1/pool/output";
    let chunk = OutputRequest {
        machine_id: "m1".into(),
        attempt: AttemptRef { task: "t1".into(), attempt: 1 },
        stdout: "aGk=".into(),
        stderr: String::new(),
    };
    let sent = call(app, "POST", output, token, &serde_json::to_string(&chunk).unwrap()).await;
    assert_eq!(documented(&doc, "POST", output, &sent, ""), json!({"ok": true}));
    let stale = OutputRequest { attempt: AttemptRef { task: "t1".into(), attempt: 9 }, ..chunk };
    let sent = call(app, "POST", output, token, &serde_json::to_string(&stale).unwrap()).await;
    assert_eq!(sent.status, StatusCode::CONFLICT);
    documented(&doc, "POST", output, &sent, "");
    let report = "/api/v1/pool/report";
    let bad_line = ReportRequest {
        machine_id: "m1".into(),
        nonce: "n-report".into(),
        attempt: 1,
        line: "not an entry".into(),
    };
    let reported =
        call(app, "POST", report, token, &serde_json::to_string(&bad_line).unwrap()).await;
    assert_eq!(reported.status, StatusCode::CONFLICT);
    let reported = documented(&doc, "POST", report, &reported, "n-report");
    assert_eq!((&reported["appended"], &reported["stale"]), (&json!(false), &json!(true)));

    // The user reads the tasks, the output, the ledger, then cancels.
    documented(&doc, "GET", tasks, &call(app, "GET", tasks, token, "").await, "");
    let one = "/api/v1/pool/tasks/{id}";
    documented(&doc, "GET", one, &call(app, "GET", "/api/v1/pool/tasks/t1", token, "").await, "");
    let missing = call(app, "GET", "/api/v1/pool/tasks/t9", token, "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    documented(&doc, "GET", one, &missing, "");
    let out = "/api/v1/pool/tasks/{id}/output";
    let view = call(app, "GET", "/api/v1/pool/tasks/t1/output?stdout_from=1", token, "").await;
    let view = documented(&doc, "GET", out, &view, "");
    assert_eq!((&view["stdout"], &view["stdout_end"]), (&json!("aQ=="), &json!(2)));
    let bad_offset =
        call(app, "GET", "/api/v1/pool/tasks/t1/output?stdout_from=-1", token, "").await;
    assert_eq!(bad_offset.status, StatusCode::BAD_REQUEST);
    documented(&doc, "GET", out, &bad_offset, "");
    let ledger = call(app, "GET", "/api/v1/pool/ledger", token, "").await;
    let ledger = documented(&doc, "GET", "/api/v1/pool/ledger", &ledger, "");
    assert_eq!(ledger["entries"], json!(1), "the join");
    let cancel = "/api/v1/pool/tasks/{id}/cancel";
    let cancelled = call(app, "POST", "/api/v1/pool/tasks/t1/cancel", token, "").await;
    assert_eq!(documented(&doc, "POST", cancel, &cancelled, "")["state"], "cancelled");
    let missing = call(app, "POST", "/api/v1/pool/tasks/t9/cancel", token, "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    documented(&doc, "POST", cancel, &missing, "");
    let members = call(app, "GET", "/api/v1/pool/members", token, "").await;
    documented(&doc, "GET", "/api/v1/pool/members", &members, "");

    // The member is lost (no poll since): its next poll is told to join again.
    let now = controller::clock::unix_ms();
    fixture.api.lock().tick(now, &[], u64::MAX).expect("a tick");
    let gone = call(app, "POST", poll, token, &poll_request("m1", "n-gone")).await;
    assert_eq!(gone.status, StatusCode::GONE);
    documented(&doc, "POST", poll, &gone, "n-gone");

    // The document itself.
    let served = call(app, "GET", "/api/v1/pool/openapi.json", token, "").await;
    assert_eq!(documented(&doc, "GET", "/api/v1/pool/openapi.json", &served, ""), doc);
    assert_eq!(served.body, OPENAPI.as_bytes());
}
