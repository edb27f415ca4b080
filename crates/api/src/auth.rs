//! Bearer-token authentication for the controller's API: the [`Auth`] token set, the rule that
//! says which requests need a token ([`needs_token`]), and the middleware that enforces it
//! before any handler runs, so a refused request changes nothing.
//!
//! Tokens are compared in constant time (`subtle`), against every configured token, so the time
//! taken says neither which token nor how much of one matched; only a length mismatch is
//! visible, and tokens are random strings of one fixed length.

use crate::ErrorBody;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The bearer tokens the controller's API accepts. Never empty.
#[derive(Clone)]
pub struct Auth {
    tokens: Vec<String>,
}

/// Why an [`Auth`] could not be built. Messages never contain a token.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token at all: the API would be open or unusable.
    #[error("api auth: no token given; the controller's API needs at least one bearer token")]
    NoTokens,
    /// A token that cannot travel in an `Authorization` header.
    #[error(
        "api auth: token #{index} is empty or holds whitespace or non-ASCII characters; use \
         visible ASCII only"
    )]
    BadToken {
        /// Its position among the tokens given, from 0.
        index: usize,
    },
}

impl Auth {
    /// The set of `tokens`.
    ///
    /// # Errors
    /// [`AuthError::NoTokens`] for an empty set; [`AuthError::BadToken`] for an empty token or
    /// one with characters other than visible ASCII.
    pub fn new<T: Into<String>>(tokens: impl IntoIterator<Item = T>) -> Result<Auth, AuthError> {
        let tokens: Vec<String> = tokens.into_iter().map(Into::into).collect();
        if tokens.is_empty() {
            return Err(AuthError::NoTokens);
        }
        if let Some(index) =
            tokens.iter().position(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(AuthError::BadToken { index });
        }
        Ok(Auth { tokens })
    }

    /// Whether `presented` is one of the tokens. Every token is compared, in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        let mut found = subtle::Choice::from(0);
        for token in &self.tokens {
            found |= token.as_bytes().ct_eq(presented.as_bytes());
        }
        found.into()
    }

    /// Checks a request's `Authorization: Bearer <token>` header.
    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Err(Refusal::Missing);
        };
        let value = value.to_str().map_err(|_| Refusal::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(Refusal::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Malformed);
        }
        if self.accepts(token.trim()) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

impl std::fmt::Debug for Auth {
    /// Shows how many tokens, never the tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("tokens", &self.tokens.len()).finish()
    }
}

/// Why a request was refused.
enum Refusal {
    Missing,
    Malformed,
    Wrong,
}

/// Whether a request needs a token: everything under `/api/` (known route or not, any method),
/// and the beacon α override's writes (`PUT`/`DELETE /v1/beacons/alpha`). The dashboard,
/// `/metrics`, `/healthz` and the beacon reads are open.
pub fn needs_token(method: &Method, path: &str) -> bool {
    let under_api = path == "/api" || path.starts_with("/api/");
    let alpha_write =
        path == "/v1/beacons/alpha" && method != Method::GET && method != Method::HEAD;
    under_api || alpha_write
}

/// The middleware: answers 401 before routing reaches a handler when [`needs_token`] and the
/// request's bearer token is missing or wrong.
pub(crate) async fn require_token(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    if !needs_token(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let (challenge, message) = match auth.check(request.headers()) {
        Ok(()) => return next.run(request).await,
        Err(Refusal::Missing) => (
            r#"Bearer realm="hearth""#,
            "missing bearer token: send `Authorization: Bearer <token>` (the controller printed \
             its token at start)",
        ),
        Err(Refusal::Malformed) => (
            r#"Bearer realm="hearth", error="invalid_request""#,
            "malformed Authorization header: expected `Bearer <token>`",
        ),
        Err(Refusal::Wrong) => {
            (r#"Bearer realm="hearth", error="invalid_token""#, "invalid bearer token")
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, challenge)],
        Json(ErrorBody { error: message.into() }),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_unusable_token_set_is_refused() {
        assert_eq!(Auth::new(Vec::<String>::new()).unwrap_err(), AuthError::NoTokens);
        assert_eq!(Auth::new(["ok", ""]).unwrap_err(), AuthError::BadToken { index: 1 });
        assert_eq!(Auth::new(["a b"]).unwrap_err(), AuthError::BadToken { index: 0 });
        let auth = Auth::new(["s3cret", "other"]).unwrap();
        assert!(auth.accepts("other") && auth.accepts("s3cret"));
        assert!(!auth.accepts("s3cre") && !auth.accepts("s3cret!") && !auth.accepts(""));
        assert_eq!(format!("{auth:?}"), "Auth { tokens: 2 }");
    }

    #[test]
    fn which_requests_need_a_token() {
        assert!(needs_token(&Method::GET, "/api/v1/hosts"));
        assert!(needs_token(&Method::GET, "/api/v2/anything"));
        assert!(needs_token(&Method::PUT, "/v1/beacons/alpha"));
        assert!(needs_token(&Method::DELETE, "/v1/beacons/alpha"));
        assert!(!needs_token(&Method::GET, "/v1/beacons/alpha"));
        assert!(!needs_token(&Method::GET, "/metrics"));
        assert!(!needs_token(&Method::GET, "/"));
        assert!(!needs_token(&Method::GET, "/apiary"));
    }
}
