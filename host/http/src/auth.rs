//! The optional bearer token: a middleware that refuses requests without it.
//!
//! A request carries it as `Authorization: Bearer TOKEN`, or, from the console's pages, in the
//! cookie the sign-in sets (`SameSite=Strict`, so other sites' pages cannot use it). A browser
//! asking for a page without it is sent to the sign-in page; anything else gets `401`.
//!
//! It owns the token check only; it must never log or echo the token, and it compares in
//! constant time so the response time tells nothing about how much of a guess was right.

use crate::console::TOKEN_COOKIE;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;

/// Lets the request through if it carries the token; see the module docs otherwise.
pub(crate) async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // The sign-in page and what it is drawn with are for those who have no cookie yet.
    if path == "/login" || path.starts_with("/assets/") {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
        .next();
    let matches = |presented: &str| constant_time_eq(presented.as_bytes(), token.as_bytes());
    if bearer.is_some_and(matches) || cookie.is_some_and(matches) {
        return next.run(request).await;
    }
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if wants_page {
        return Redirect::to("/login").into_response();
    }
    ApiError::Unauthorized.into_response()
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
