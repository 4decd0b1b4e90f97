//! CORS for the dashboard: only origins listed in the `DASHBOARD_ORIGINS` var (comma
//! separated) may call the API from a browser, with credentials (the Cloudflare Access cookie);
//! everyone else gets no CORS headers at all.

use axum::body::Body;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ORIGIN,
    VARY,
};
use axum::http::{HeaderValue, Response, StatusCode};
use worker::{Env, HttpRequest};

/// The request's `Origin` when the deployment lists it in `DASHBOARD_ORIGINS`.
pub fn allowed_origin(req: &HttpRequest, env: &Env) -> Option<String> {
    let origin = req.headers().get(ORIGIN)?.to_str().ok()?;
    let allowed = env.var("DASHBOARD_ORIGINS").ok()?.to_string();
    crate::api::origin_allowed(origin, &allowed).then(|| origin.to_owned())
}

/// The answer to a preflight: 204, with the grant only for an allowed origin.
pub fn preflight(origin: Option<&str>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let mut response = decorate(response, origin);
    if origin.is_some() {
        let headers = response.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, idempotency-key"),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

pub fn decorate(mut response: Response<Body>, origin: Option<&str>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        // Behind Cloudflare Access the dashboard's requests carry the Access cookie; only the
        // exact origins listed are granted (never `*`).
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        // The dashboard reads these: `Retry-After` of a keyed call still running (it asks
        // again), `idempotent-replayed` of a repeat answered from the first answer.
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, idempotent-replayed"),
        );
    }
    response
}
