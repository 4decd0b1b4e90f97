//! Serving a Pages deployment's files over loopback, so health checks can fetch what a
//! deployment really serves: `GET /__sandbox/pages/{project}/{selector}/{path}` where `selector`
//! is a deployment id, its 8-character short id, a branch alias, or `production` (what
//! `<project>.pages.dev` serves: the newest successful production deployment); or any path with
//! a `Host: [<selector>.]<project>.pages.dev` header.

use axum::body::Body;
use http::{header, Response, StatusCode};

use super::{branch_alias, live_production, short_id};
use crate::state::{PagesDeployment, PagesProject, State};

/// The project and selector a `*.pages.dev` host names (`<project>.pages.dev` = production).
pub fn from_host(host: &str) -> Option<(String, String)> {
    let host = host.split(':').next()?.to_ascii_lowercase();
    let name = host.strip_suffix(".pages.dev")?;
    Some(match name.split_once('.') {
        Some((selector, project)) => (project.to_string(), selector.to_string()),
        None => (name.to_string(), "production".to_string()),
    })
}

fn pick<'a>(project: &'a PagesProject, selector: &str) -> Option<&'a PagesDeployment> {
    if selector == "production" {
        return live_production(project);
    }
    let by_id = project
        .deployments
        .iter()
        .find(|d| d.id == selector || short_id(d) == selector);
    // A branch alias tracks that branch's newest successful deployment.
    by_id.or_else(|| {
        project.deployments.iter().rev().find(|d| {
            d.status == "success"
                && d.branch
                    .as_deref()
                    .is_some_and(|b| branch_alias(b) == selector)
        })
    })
}

/// The manifest path answering `path`, as Pages resolves it: the exact file, `index.html` of a
/// directory, `<path>.html`, then the nearest `404.html` (status 404), else, without a top-level
/// `404.html`, the root `index.html` (single-page-application mode).
fn resolve(d: &PagesDeployment, path: &str) -> Option<(String, u16)> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let has = |p: &str| d.manifest.contains_key(p);
    let trimmed = path.trim_end_matches('/');
    let candidates = [
        path.clone(),
        format!("{trimmed}/index.html"),
        format!("{trimmed}.html"),
    ];
    if let Some(found) = candidates.iter().find(|c| has(c)) {
        return Some((found.clone(), 200));
    }
    let mut dir = trimmed;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        let not_found = format!("{parent}/404.html");
        if has(&not_found) {
            return Some((not_found, 404));
        }
        dir = parent;
    }
    has("/index.html").then(|| ("/index.html".to_string(), 200))
}

fn text(status: u16, message: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(message))
        .unwrap_or_default()
}

/// Answers `path` of the deployment `selector` of `project_name`.
pub fn serve(
    st: &State,
    files: &crate::files::Files,
    project_name: &str,
    selector: &str,
    path: &str,
) -> Response<Body> {
    let Some(project) = st.pages_projects.iter().find(|p| p.name == project_name) else {
        return text(404, format!("no Pages project named {project_name}"));
    };
    let Some(deployment) = pick(project, selector) else {
        return text(404, format!("{project_name} has no deployment {selector}"));
    };
    if deployment.status != "success" {
        return text(
            404,
            format!("deployment {} of {project_name} failed", deployment.id),
        );
    }
    let Some((file, status)) = resolve(deployment, path) else {
        return text(
            404,
            format!("{path} is not in deployment {}", deployment.id),
        );
    };
    let hash = &deployment.manifest[&file];
    let Some((body, content_type)) = super::assets::read_asset(files, &project.account_id, hash)
    else {
        return text(
            500,
            format!("asset {hash} of {file} is missing from the store"),
        );
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, content_type)
        .header("x-sandbox-pages-deployment", deployment.id.as_str())
        .header(
            "x-sandbox-pages-environment",
            deployment.environment.as_str(),
        )
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The server's hook: answers `/__sandbox/pages/...` and `*.pages.dev` hosts, else `None`.
pub async fn answer(
    store: &crate::state::Store,
    parts: &http::request::Parts,
    path: &str,
) -> Option<Response<Body>> {
    let target = match path.strip_prefix("/__sandbox/pages/") {
        Some(rest) => {
            let mut segments = rest.splitn(3, '/');
            let project = segments.next().unwrap_or_default().to_string();
            let selector = segments.next().unwrap_or_default().to_string();
            let file = format!("/{}", segments.next().unwrap_or_default());
            (project, selector, file)
        }
        None => {
            let host = parts.headers.get(header::HOST)?.to_str().ok()?;
            let (project, selector) = from_host(host)?;
            (project, selector, path.to_string())
        }
    };
    if !matches!(parts.method.as_str(), "GET" | "HEAD") {
        return Some(text(405, "Pages deployments answer GET and HEAD".into()));
    }
    let (project, selector, file) = target;
    let st = store.read().await;
    Some(serve(&st, &store.files, &project, &selector, &file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(paths: &[&str]) -> PagesDeployment {
        serde_json::from_value(serde_json::json!({
            "manifest": paths.iter().map(|p| (p.to_string(), "0".repeat(32))).collect::<std::collections::BTreeMap<_, _>>()
        }))
        .unwrap()
    }

    #[test]
    fn paths_resolve_like_pages() {
        let d = deployment(&[
            "/index.html",
            "/about.html",
            "/docs/index.html",
            "/docs/404.html",
            "/app.js",
        ]);
        assert_eq!(resolve(&d, "/"), Some(("/index.html".into(), 200)));
        assert_eq!(resolve(&d, "/app.js"), Some(("/app.js".into(), 200)));
        assert_eq!(resolve(&d, "/about"), Some(("/about.html".into(), 200)));
        assert_eq!(
            resolve(&d, "/docs/"),
            Some(("/docs/index.html".into(), 200))
        );
        assert_eq!(
            resolve(&d, "/docs/missing"),
            Some(("/docs/404.html".into(), 404))
        );
        // No top-level 404.html: single-page-application fallback to the root index.
        assert_eq!(resolve(&d, "/nowhere"), Some(("/index.html".into(), 200)));
        let bare = deployment(&["/a.txt"]);
        assert_eq!(resolve(&bare, "/b.txt"), None);
    }

    #[test]
    fn hosts_name_project_and_selector() {
        assert_eq!(
            from_host("shop.pages.dev"),
            Some(("shop".into(), "production".into()))
        );
        assert_eq!(
            from_host("abcd1234.shop.pages.dev:443"),
            Some(("shop".into(), "abcd1234".into()))
        );
        assert_eq!(from_host("example.com"), None);
    }
}
