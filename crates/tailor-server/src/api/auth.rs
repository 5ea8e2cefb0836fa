//! Who may call the API: the admin token as a bearer token, or as the password of HTTP
//! Basic auth for the preview pages.

use super::*;

/// Compares in time independent of where the first difference is.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials of an `Authorization: Bearer …` header (the scheme is matched
/// case-insensitively, RFC 9110 language.md §11.1).
pub(crate) fn bearer(headers: &header::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| credentials.trim())
}

/// Whether `headers` present `token` as a Bearer token (compared in constant time).
pub(crate) fn presents_bearer(headers: &header::HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// The realm of the preview pages' Basic challenge: a browser asks for a password.
pub(super) const PREVIEW_CHALLENGE: &str = r#"Basic realm="tailor preview", charset="UTF-8""#;

/// Which credentials a route takes, and how it asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials {
    /// `Authorization: Bearer TOKEN` (the JSON API).
    Bearer,
    /// That, or HTTP Basic with the token as the password and any user name, so that a
    /// browser can open the page: the preview pages.
    BearerOrBasic,
}

/// Whether the `Authorization` header presents `token`. The token is compared in
/// constant time ([`same`]) however it came.
pub(super) fn presents(req: &Request, token: &str, credentials: Credentials) -> bool {
    if let Some(given) = bearer(req.headers()) {
        return same(given.as_bytes(), token.as_bytes());
    }
    if credentials == Credentials::Bearer {
        return false;
    }
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // RFC 7617: `Basic base64(user-id ":" password)`, the scheme case-insensitive; the
    // user id has no colon, the password may.
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("Basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    match decoded.iter().position(|&b| b == b':') {
        Some(colon) => same(
            decoded.get(colon + 1..).unwrap_or_default(),
            token.as_bytes(),
        ),
        None => false,
    }
}

/// The admin token, or an answer: `403` when none is configured, `401` (with its
/// challenge) when the request does not present it.
pub(super) async fn check(
    state: &AppState,
    req: Request,
    next: Next,
    credentials: Credentials,
) -> Response {
    let Some(token) = &state.config.admin_token else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "the JSON API and the preview are disabled: set `admin_token` in the configuration",
        )
        .into_response();
    };
    if presents(&req, token, credentials) {
        return next.run(req).await;
    }
    let (message, challenge) = match credentials {
        Credentials::Bearer => (
            "missing or wrong admin token (Authorization: Bearer …)",
            "Bearer",
        ),
        Credentials::BearerOrBasic => (
            "missing or wrong admin token (the password, any user name; or Authorization: Bearer …)",
            PREVIEW_CHALLENGE,
        ),
    };
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(challenge),
    );
    resp
}

/// Middleware of the JSON API: the admin token as `Authorization: Bearer …`.
pub(crate) async fn auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    check(&state, req, next, Credentials::Bearer).await
}

/// Middleware of the preview pages: the admin token as a Bearer token or as the password
/// of HTTP Basic auth, which a browser asks for when answered `401` with
/// [`PREVIEW_CHALLENGE`].
pub(crate) async fn preview_auth(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    check(&state, req, next, Credentials::BearerOrBasic).await
}
