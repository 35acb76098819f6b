//! `GET /dashboard`: the dashboard, one static page (`dashboard.html`) that holds no data. It
//! asks for the admin token and reads the admin routes with it. It is served with a
//! Content-Security-Policy that runs only its own inline script (by hash), lets it call this
//! origin only, and forbids framing it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The page.
const PAGE: &str = include_str!("dashboard.html");

/// The text between `<script>` and `</script>`: the page's one script.
fn script(html: &str) -> &str {
    let start = html.find("<script>").map_or(0, |i| i + "<script>".len());
    let end = html[start..]
        .find("</script>")
        .map_or(html.len(), |i| start + i);
    &html[start..end]
}

/// The policy for `html`: its script by SHA-256, inline styles (the charts' colours), fetches
/// to this origin, nothing else.
fn policy(html: &str) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script(html)));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// The axum handler.
pub(crate) async fn page() -> Response {
    static CSP: OnceLock<String> = OnceLock::new();
    let csp = CSP.get_or_init(|| policy(PAGE)).as_str();
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_one_script_by_its_hash() {
        assert_eq!(PAGE.matches("<script").count(), 1, "one inline script");
        let p = policy(PAGE);
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script(PAGE)));
        assert!(p.contains(&format!("script-src 'sha256-{hash}'")), "{p}");
        assert!(
            script(PAGE).contains("async function api("),
            "the script itself"
        );
        assert!(!p.contains("unsafe-eval"));
        // Another script has another hash.
        assert_ne!(policy("<script>alert(1)</script>"), p);
    }
}
