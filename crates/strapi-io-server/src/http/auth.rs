//! The bearer tokens that guard the routes: [`AdminToken`] (every `/api/io/*` route) and
//! [`WebhookToken`] (`POST /webhooks/strapi`), axum extractors that check
//! `Authorization: Bearer <token>` against the configured token ([`AdminKey`],
//! [`WebhookKey`], taken from the router's state) in constant time. A request they refuse is
//! answered with their typed rejection, an [`ApiError`]: 503 when no token is configured
//! (the route is off), 401 otherwise.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use strapi_io::core::auth::constant_time_eq;

use super::error::ApiError;

/// The token of the request's one `Authorization: Bearer <token>` line (the scheme
/// case-insensitive). `None` for any other scheme, a bare token, an empty token, or more
/// than one `Authorization` line (a request that could be read two ways).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut lines = headers.get_all(header::AUTHORIZATION).iter();
    let line = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    let (scheme, token) = line.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// A configured token; an empty one counts as none.
fn configured(token: Option<String>) -> Option<Arc<str>> {
    token.filter(|t| !t.is_empty()).map(Arc::from)
}

/// The admin token (`server.adminToken`); none turns the admin routes off.
#[derive(Clone, Default)]
pub(crate) struct AdminKey(Option<Arc<str>>);

impl AdminKey {
    /// The key for `token` (`None` or empty: the admin routes are off).
    pub(crate) fn new(token: Option<String>) -> Self {
        AdminKey(configured(token))
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "AdminKey(***)"
        } else {
            "AdminKey(off)"
        })
    }
}

/// The webhook token (`server.webhookToken`); none turns the webhook route off.
#[derive(Clone, Default)]
pub(crate) struct WebhookKey(Option<Arc<str>>);

impl WebhookKey {
    /// The key for `token` (`None` or empty: the webhook route is off).
    pub(crate) fn new(token: Option<String>) -> Self {
        WebhookKey(configured(token))
    }
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "WebhookKey(***)"
        } else {
            "WebhookKey(off)"
        })
    }
}

/// Proof that the request carries the admin token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdminToken;

/// Why [`AdminToken`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminRejection {
    /// No admin token is configured: 503 saying how to set one.
    Off,
    /// No token, not one `Bearer <token>` line, or the wrong token: 401.
    Unauthorized,
}

impl From<AdminRejection> for ApiError {
    fn from(r: AdminRejection) -> Self {
        match r {
            AdminRejection::Off => ApiError::unavailable(
                "The admin API is off: set server.adminToken in the config or STRAPI_IO_ADMIN_TOKEN",
            ),
            AdminRejection::Unauthorized => ApiError::unauthorized(),
        }
    }
}

impl IntoResponse for AdminRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl<S> FromRequestParts<S> for AdminToken
where
    AdminKey: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AdminKey(expected) = AdminKey::from_ref(state);
        let Some(expected) = expected else {
            return Err(AdminRejection::Off);
        };
        match bearer_token(&parts.headers) {
            Some(t) if constant_time_eq(t, &expected) => Ok(AdminToken),
            _ => Err(AdminRejection::Unauthorized),
        }
    }
}

/// Proof that the request carries the webhook token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebhookToken;

/// Why [`WebhookToken`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookRejection {
    /// No webhook token is configured: 503 saying how to set one.
    Off,
    /// 401, with the reason to log (never the token itself).
    Refused(&'static str),
}

impl WebhookRejection {
    /// Why a request with a token configured was refused, for the log.
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            WebhookRejection::Off => None,
            WebhookRejection::Refused(reason) => Some(reason),
        }
    }
}

impl From<WebhookRejection> for ApiError {
    fn from(r: WebhookRejection) -> Self {
        match r {
            WebhookRejection::Off => ApiError::unavailable(
                "Webhooks are off: set server.webhookToken in the config or STRAPI_IO_WEBHOOK_TOKEN, and send it as `Authorization: Bearer <token>` from Strapi",
            ),
            WebhookRejection::Refused(_) => ApiError::unauthorized(),
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl<S> FromRequestParts<S> for WebhookToken
where
    WebhookKey: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let WebhookKey(expected) = WebhookKey::from_ref(state);
        let Some(expected) = expected else {
            return Err(WebhookRejection::Off);
        };
        let headers = &parts.headers;
        Err(WebhookRejection::Refused(match bearer_token(headers) {
            Some(t) if constant_time_eq(t, &expected) => return Ok(WebhookToken),
            Some(_) => "wrong token",
            None if headers.contains_key(header::AUTHORIZATION) => {
                "not `Authorization: Bearer <token>` (one line, one token)"
            }
            None => "no Authorization header",
        }))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Request};

    use super::*;

    /// A state holding both keys.
    #[derive(Clone)]
    struct Keys(AdminKey, WebhookKey);

    impl FromRef<Keys> for AdminKey {
        fn from_ref(k: &Keys) -> Self {
            k.0.clone()
        }
    }

    impl FromRef<Keys> for WebhookKey {
        fn from_ref(k: &Keys) -> Self {
            k.1.clone()
        }
    }

    fn parts(authorization: &[&str]) -> Parts {
        let mut request = Request::new(());
        for line in authorization {
            request
                .headers_mut()
                .append(header::AUTHORIZATION, HeaderValue::from_str(line).unwrap());
        }
        request.into_parts().0
    }

    async fn admin(keys: &Keys, authorization: &[&str]) -> Result<AdminToken, AdminRejection> {
        AdminToken::from_request_parts(&mut parts(authorization), keys).await
    }

    async fn webhook(
        keys: &Keys,
        authorization: &[&str],
    ) -> Result<WebhookToken, WebhookRejection> {
        WebhookToken::from_request_parts(&mut parts(authorization), keys).await
    }

    #[test]
    fn a_bearer_token_is_one_line_one_token() {
        let token = |lines: &[&str]| bearer_token(&parts(lines).headers).map(str::to_string);
        assert_eq!(token(&["Bearer abc"]).as_deref(), Some("abc"));
        assert_eq!(token(&["bearer  abc "]).as_deref(), Some("abc"));
        assert_eq!(token(&["BEARER abc"]).as_deref(), Some("abc"));
        for refused in [
            &["Basic abc"][..],
            &["abc"],
            &["Bearer "],
            &["Bearer a b"],
            &["Bearer abc", "Bearer abc"],
            &[],
        ] {
            assert_eq!(token(refused), None, "{refused:?}");
        }
    }

    #[tokio::test]
    async fn the_admin_token_is_required_and_compared() {
        let on = Keys(AdminKey::new(Some("admin".into())), WebhookKey::default());
        assert!(admin(&on, &["Bearer admin"]).await.is_ok());
        for lines in [&["Bearer admi"][..], &["Bearer admin2"], &["admin"], &[]] {
            assert_eq!(
                admin(&on, lines).await.unwrap_err(),
                AdminRejection::Unauthorized,
                "{lines:?}"
            );
        }
        for off in [None, Some(String::new())] {
            let keys = Keys(AdminKey::new(off), WebhookKey::default());
            assert_eq!(
                admin(&keys, &["Bearer admin"]).await.unwrap_err(),
                AdminRejection::Off
            );
        }
        assert_eq!(format!("{:?}", on.0), "AdminKey(***)");
    }

    #[tokio::test]
    async fn the_webhook_token_is_required_and_refusals_say_why() {
        let on = Keys(AdminKey::default(), WebhookKey::new(Some("hook".into())));
        assert!(webhook(&on, &["Bearer hook"]).await.is_ok());
        let reason = |r: Result<WebhookToken, WebhookRejection>| r.unwrap_err().reason();
        assert_eq!(
            reason(webhook(&on, &["Bearer nope"]).await),
            Some("wrong token")
        );
        assert_eq!(
            reason(webhook(&on, &["hook"]).await),
            Some("not `Authorization: Bearer <token>` (one line, one token)")
        );
        assert_eq!(
            reason(webhook(&on, &[]).await),
            Some("no Authorization header")
        );
        let off = Keys(AdminKey::default(), WebhookKey::new(Some(String::new())));
        assert_eq!(
            webhook(&off, &["Bearer hook"]).await.unwrap_err(),
            WebhookRejection::Off
        );
        assert_eq!(WebhookRejection::Off.reason(), None);
        assert_eq!(format!("{:?}", on.1), "WebhookKey(***)");
    }
}
