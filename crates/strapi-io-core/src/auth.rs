//! Credentials as Strapi 5 issues them: reading the handshake's `auth`/`query`, verifying
//! users-permissions JWTs (HS256, both payload forms), and hashing API tokens
//! (HMAC-SHA512 keyed by the salt, hex) — the pure half of authentication. Looking the
//! user or token up is the directory's job.

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha512;

/// Why a handshake is refused; `Display` is the `connect_error` message the client gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Bad signature, wrong algorithm, refresh token, no `exp`, unknown user or token,
    /// blocked or unconfirmed user.
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// A validly signed JWT past its `exp`, or an API token past its `expiresAt`.
    #[error("Token expired")]
    TokenExpired,
    /// No credentials where they are required.
    #[error("Authentication required")]
    AuthenticationRequired,
    /// `auth.strategy` other than `jwt` and `api-token`.
    #[error("Unknown auth strategy")]
    UnknownStrategy,
    /// The role may not connect (`rolePermissions.<role>.canConnect = false`).
    #[error("Role '{0}' is not allowed to connect to Socket.IO")]
    RoleNotAllowed(String),
    /// A namespace with `requireAuth` and an anonymous socket.
    #[error("Authentication required for namespace {0}")]
    NamespaceRequiresAuth(String),
    /// `connection.maxConnections` sockets are connected already.
    #[error("Max connections reached")]
    MaxConnections,
    /// The address is outside a non-empty `ipWhitelist`.
    #[error("IP not whitelisted")]
    IpNotWhitelisted,
    /// The address is in `ipBlacklist`.
    #[error("IP blacklisted")]
    IpBlacklisted,
    /// The directory could not answer (database down, unreachable or locked).
    #[error("Service unavailable")]
    Unavailable,
}

/// A credential presented in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A users-permissions JWT.
    Jwt(String),
    /// A plain API token.
    ApiToken(String),
}

/// Reads the credential from the handshake: `auth: {strategy, token}` (no strategy means
/// `jwt`), or the query's `token`, with the query's `strategy` (`jwt` by default) — the only
/// way a Socket.IO v2 client, which has no `auth`, can present an API token. `auth` wins over
/// the query. `Ok(None)` means anonymous (the Public role).
pub fn credential_from_handshake(
    auth: Option<&Value>,
    query_token: Option<&str>,
    query_strategy: Option<&str>,
) -> Result<Option<Credential>, AuthError> {
    let obj = auth.and_then(Value::as_object);
    let token = obj
        .and_then(|o| o.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let strategy = obj.and_then(|o| o.get("strategy"));
    let strategy = match strategy {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(AuthError::UnknownStrategy),
    };
    if let Some(token) = token {
        return make(strategy, token);
    }
    if let Some(s) = strategy
        && s != "jwt"
        && s != "api-token"
    {
        return Err(AuthError::UnknownStrategy);
    }
    match query_token.filter(|t| !t.is_empty()) {
        // An `auth.strategy` without a token applies to the query's token too.
        Some(t) => make(strategy.or(query_strategy.filter(|s| !s.is_empty())), t),
        None => Ok(None),
    }
}

/// The credential of `token` under `strategy` (`None`: `jwt`).
fn make(strategy: Option<&str>, token: &str) -> Result<Option<Credential>, AuthError> {
    match strategy {
        None | Some("jwt") => Ok(Some(Credential::Jwt(token.to_string()))),
        Some("api-token") => Ok(Some(Credential::ApiToken(token.to_string()))),
        Some(_) => Err(AuthError::UnknownStrategy),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    nbf: Option<Value>,
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A users-permissions JWT that passed [`verify_jwt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    /// The user id it names (`id` or `userId`), as a string.
    pub user_id: String,
    /// Its `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Verifies a users-permissions JWT against the clock and returns the user it names and
/// its expiry (see [`verify_jwt_at`]).
pub fn verify_jwt(token: &str, secret: &[u8]) -> Result<VerifiedJwt, AuthError> {
    verify_jwt_at(token, secret, jsonwebtoken::get_current_timestamp())
}

/// Verifies a users-permissions JWT at `now` (seconds since the epoch).
///
/// HS256 only, `exp` required, `nbf` (when present) not after `now`, `type` absent (`{id}`
/// form, `legacy-support`) or `access` (`{userId, sessionId}` form, `refresh`). A token
/// that passes every check but whose `exp` is not after `now` (no leeway, as Strapi) is
/// [`AuthError::TokenExpired`], so that a client knows to refresh; anything else wrong is
/// [`AuthError::InvalidCredentials`].
pub fn verify_jwt_at(token: &str, secret: &[u8], now: u64) -> Result<VerifiedJwt, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    // Checked here, against `now`, so that an expired token can be told apart.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp"]);
    let data = decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|_| AuthError::InvalidCredentials)?;
    let claims = data.claims;
    if let Some(kind) = &claims.kind
        && kind != "access"
    {
        return Err(AuthError::InvalidCredentials);
    }
    let expires_at = claims
        .exp
        .as_ref()
        .and_then(numeric_date)
        .ok_or(AuthError::InvalidCredentials)?;
    match &claims.nbf {
        None => {}
        Some(nbf) => match numeric_date(nbf) {
            Some(nbf) if nbf <= now => {}
            _ => return Err(AuthError::InvalidCredentials),
        },
    }
    let user_id = claims
        .user_id
        .as_ref()
        .or(claims.id.as_ref())
        .and_then(id_string)
        .ok_or(AuthError::InvalidCredentials)?;
    if expires_at <= now {
        return Err(AuthError::TokenExpired);
    }
    Ok(VerifiedJwt {
        user_id,
        expires_at,
    })
}

/// A JWT NumericDate: a non-negative number of seconds (fractions dropped).
fn numeric_date(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

/// Strapi 5's API-token hash: `hex(HMAC-SHA512(key = salt, message = token))`.
pub fn hash_api_token(token: &str, salt: &str) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(salt.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &[u8] = b"fixture-jwt-secret";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sign(claims: Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn fixture_hash_matches_strapi() {
        // Value from the Strapi 5.54 fixture database (strapi_api_tokens.access_key, id 3),
        // also produced by `openssl dgst -sha512 -hmac fixture-api-token-salt`.
        assert_eq!(
            hash_api_token("fixture-token-dashboard", "fixture-api-token-salt"),
            "32cdc634a95397e867ab9be062e71e8b9482bdabf6284db174002d847be4480aefb8f711a40ccb65ce8b0a9421ff89ef74f199345a0cd119b4c08f5ec8617164"
        );
    }

    #[test]
    fn both_strapi_payload_forms_verify() {
        let t = now();
        let legacy = sign(json!({"id": 2, "iat": t, "exp": t + 60}), SECRET);
        assert_eq!(
            verify_jwt(&legacy, SECRET).unwrap(),
            VerifiedJwt {
                user_id: "2".into(),
                expires_at: t + 60
            }
        );
        let access = sign(
            json!({"userId": "2", "sessionId": "abc", "type": "access", "iat": t, "exp": t + 60}),
            SECRET,
        );
        assert_eq!(verify_jwt(&access, SECRET).unwrap().user_id, "2");
        let valid_since = sign(json!({"id": 2, "nbf": t - 5, "exp": t + 60}), SECRET);
        assert_eq!(
            verify_jwt(&valid_since, SECRET).unwrap().user_id,
            "2",
            "a past nbf is fine"
        );
    }

    #[test]
    fn expired_tokens_are_told_apart() {
        let t = now();
        for claims in [
            json!({"id": 2, "iat": t - 100, "exp": t - 10}),
            json!({"userId": "2", "sessionId": "s", "type": "access", "exp": t - 1}),
            json!({"id": 2, "exp": t}),
        ] {
            assert_eq!(
                verify_jwt(&sign(claims.clone(), SECRET), SECRET),
                Err(AuthError::TokenExpired),
                "{claims}"
            );
        }
        assert_eq!(
            verify_jwt_at(&sign(json!({"id": 2, "exp": 100.7}), SECRET), SECRET, 50)
                .unwrap()
                .expires_at,
            100,
            "fractional exp"
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let t = now();
        let cases = [
            sign(
                json!({"userId": "2", "type": "refresh", "exp": t + 60}),
                SECRET,
            ),
            sign(json!({"id": 2, "iat": t}), SECRET),
            sign(json!({"id": 2, "exp": t + 60}), b"another-secret"),
            // expired and badly signed: not worth telling apart from any bad token
            sign(json!({"id": 2, "exp": t - 10}), b"another-secret"),
            // expired refresh token
            sign(
                json!({"userId": "2", "type": "refresh", "exp": t - 10}),
                SECRET,
            ),
            sign(json!({"iat": t, "exp": t + 60}), SECRET),
            sign(json!({"id": -1, "exp": t + 60}), SECRET),
            // not valid for another hour
            sign(json!({"id": 2, "nbf": t + 3600, "exp": t + 7200}), SECRET),
            sign(json!({"id": 2, "nbf": "soon", "exp": t + 60}), SECRET),
            "not.a.jwt".to_string(),
        ];
        for c in cases {
            assert_eq!(
                verify_jwt(&c, SECRET),
                Err(AuthError::InvalidCredentials),
                "{c}"
            );
        }
        // alg: none
        use base64_like::b64;
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(format!(r#"{{"id":2,"exp":{}}}"#, t + 60).as_bytes())
        );
        assert_eq!(
            verify_jwt(&none, SECRET),
            Err(AuthError::InvalidCredentials)
        );
        // HS512 with the right secret is still refused: HS256 only.
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &json!({"id": 2, "exp": t + 60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            verify_jwt(&hs512, SECRET),
            Err(AuthError::InvalidCredentials)
        );
    }

    #[test]
    fn fixture_tokens_have_the_recorded_shape() {
        // Real Strapi 5.54 tokens (fixtures/strapi5/README.md), expired by now: the
        // signature is valid, so the refusal says the token expired.
        let refresh_mode = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiIyIiwic2Vzc2lvbklkIjoiYjk5NDcxZWE0ZDhmNzM3NjE1N2YyZWJjNzRjZWI0MjUiLCJ0eXBlIjoiYWNjZXNzIiwiaWF0IjoxNzk1NjQ5NzYzLCJleHAiOjE3OTU2NTAzNjN9.n6cz2DCmsJI0T1Ne-Lvaz2sCkpjAFjck4AbCbWiUBqQ";
        assert_eq!(
            verify_jwt(refresh_mode, SECRET),
            Err(AuthError::TokenExpired)
        );
        assert_eq!(
            verify_jwt_at(refresh_mode, SECRET, 1_795_650_362),
            Ok(VerifiedJwt {
                user_id: "2".into(),
                expires_at: 1_795_650_363
            }),
            "one second before its exp"
        );
        assert_eq!(
            verify_jwt_at(refresh_mode, SECRET, 1_795_650_363),
            Err(AuthError::TokenExpired),
            "at exp: expired, no leeway"
        );
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.set_required_spec_claims::<&str>(&[]);
        let claims = decode::<Value>(refresh_mode, &DecodingKey::from_secret(SECRET), &v)
            .unwrap()
            .claims;
        assert_eq!(claims["userId"], "2");
        assert_eq!(claims["type"], "access");
    }

    #[test]
    fn handshake_credentials() {
        let j = |v: Value| credential_from_handshake(Some(&v), None, None);
        assert_eq!(
            j(json!({"token": "a"})),
            Ok(Some(Credential::Jwt("a".into())))
        );
        assert_eq!(
            j(json!({"strategy": "api-token", "token": "a"})),
            Ok(Some(Credential::ApiToken("a".into())))
        );
        assert_eq!(
            j(json!({"strategy": "oauth", "token": "a"})),
            Err(AuthError::UnknownStrategy)
        );
        assert_eq!(j(json!({"strategy": 5})), Err(AuthError::UnknownStrategy));
        assert_eq!(j(json!({})), Ok(None));
        assert_eq!(j(json!("garbage")), Ok(None));
        assert_eq!(
            credential_from_handshake(None, Some("q"), None),
            Ok(Some(Credential::Jwt("q".into())))
        );
        assert_eq!(credential_from_handshake(None, None, None), Ok(None));
        // Socket.IO v2 clients: the strategy in the query too.
        assert_eq!(
            credential_from_handshake(None, Some("q"), Some("api-token")),
            Ok(Some(Credential::ApiToken("q".into())))
        );
        assert_eq!(
            credential_from_handshake(None, Some("q"), Some("jwt")),
            Ok(Some(Credential::Jwt("q".into())))
        );
        assert_eq!(
            credential_from_handshake(None, Some("q"), Some("oauth")),
            Err(AuthError::UnknownStrategy)
        );
        assert_eq!(
            credential_from_handshake(None, None, Some("api-token")),
            Ok(None),
            "a strategy without a token is anonymous"
        );
        // `auth` wins over the query.
        assert_eq!(
            credential_from_handshake(Some(&json!({"token": "a"})), Some("q"), Some("api-token")),
            Ok(Some(Credential::Jwt("a".into())))
        );
        assert_eq!(
            credential_from_handshake(
                Some(&json!({"strategy": "api-token"})),
                Some("q"),
                Some("jwt")
            ),
            Ok(Some(Credential::ApiToken("q".into())))
        );
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }

    mod base64_like {
        /// Unpadded base64url, enough for building a hand-made token in a test.
        pub(super) fn b64(bytes: &[u8]) -> String {
            const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
