//! The OpenAPI document against the router: the same `/api/v1` routes (from the one route
//! table), bearer auth on each of them, the open routes documented as open, every path
//! parameter declared and every `$ref` resolvable.

use api::control::OPENAPI;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

fn document() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

/// Every `(METHOD, path)` the document describes, with its operation.
pub(crate) fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut out = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item is an object") {
            if METHODS.contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    out
}

#[test]
fn the_document_lists_exactly_the_routes_the_router_serves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/api/v1/"))
        .map(|(method, path, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> =
        api::api_routes().map(|(method, path)| (method.to_string(), path.to_string())).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in openapi.json: {undocumented:?}; in openapi.json but not served: \
         {unserved:?}"
    );
}

#[test]
fn api_routes_need_the_bearer_token_and_the_open_routes_say_so() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&"http".into(), &"bearer".into()));
    let global = doc["security"].as_array().cloned().unwrap_or_default();
    for (method, path, operation) in operations(&doc) {
        let security = operation.get("security").and_then(Value::as_array).unwrap_or(&global);
        let bearer = security.iter().any(|s| s.get("bearerAuth").is_some());
        if path.starts_with("/api/v1/") {
            assert!(bearer, "{method} {path}: not under bearerAuth");
            assert!(operation["responses"].get("401").is_some(), "{method} {path}: no 401");
        } else if ["/metrics", "/", "/healthz"].contains(&path.as_str()) {
            assert_eq!(operation["security"], Value::Array(vec![]), "{method} {path}: not open");
        }
    }
    for open in ["/metrics", "/", "/healthz"] {
        assert!(doc["paths"][open]["get"].is_object(), "GET {open} is not documented");
    }
}

#[test]
fn path_parameters_are_declared_and_refs_resolve() {
    check_parameters_and_refs(&document());
}

/// Every path parameter is declared (directly or by `$ref`) and every `$ref` resolves.
pub(crate) fn check_parameters_and_refs(doc: &Value) {
    for (method, path, operation) in operations(doc) {
        let parameters = operation["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
        let declared: BTreeSet<&str> = parameters
            .iter()
            .map(|p| match p["$ref"].as_str() {
                Some(reference) => resolve(doc, reference),
                None => p,
            })
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, in_path, "{method} {path}: path parameters");
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        resolve(doc, &reference);
    }
}

/// The target of a local `$ref`.
#[track_caller]
pub(crate) fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer =
        reference.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {reference}"));
    doc.pointer(pointer).unwrap_or_else(|| panic!("unresolved $ref {reference}"))
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => out.push(reference.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}
