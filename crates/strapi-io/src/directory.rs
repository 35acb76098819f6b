//! Where identities come from: the [`Directory`] trait that turns a handshake credential
//! into an audience and a user, lists the audiences an emit prepares payloads for, and
//! answers whether an entity exists; and [`StaticDirectory`], the one declared in the
//! config file (SPEC §6).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use strapi_io_core::auth::{AuthError, Credential, hash_api_token, verify_jwt};
use strapi_io_core::{Audience, ContentType, TokenType};

/// A boxed future, for the object-safe [`Directory`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The user behind a socket, as reported in socket info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The users-permissions user id.
    pub id: Value,
    /// Username.
    pub username: String,
    /// Email address.
    pub email: String,
    /// The role's type (`authenticated`, `editor`).
    pub role: String,
}

/// Who presented a credential, as a connected socket is re-checked later (no secret kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// No credential: the Public role.
    Public,
    /// A users-permissions user, by id.
    User(String),
    /// An API token, by its stored hash (Strapi's `access_key`, lowercase hex).
    ApiToken(String),
}

/// Who a socket is: its audience and, for JWT users, the user.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The audience the socket belongs to.
    pub audience: Arc<Audience>,
    /// The user, for JWT sockets.
    pub user: Option<UserInfo>,
    /// What the socket is re-checked as when the directory changes.
    pub subject: Subject,
    /// When the credential stops being valid, milliseconds since the epoch: a JWT's `exp`
    /// (at the handshake), an API token's `expiresAt`; `None`: never, or not known.
    pub expires_at: Option<i64>,
}

impl Identity {
    /// The Public role's identity.
    pub fn public(audience: Arc<Audience>) -> Self {
        Identity {
            audience,
            user: None,
            subject: Subject::Public,
            expires_at: None,
        }
    }
}

/// What changed in a directory, for re-checking connected sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    /// Roles, permissions, API tokens or settings (or too much to tell): every socket.
    All,
    /// These users (ids) only.
    Users(Vec<String>),
}

/// Why the directory could not answer a lookup.
#[derive(Debug, Clone, thiserror::Error)]
#[error("directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// A source of roles, users, API tokens and entity existence.
pub trait Directory: Send + Sync + 'static {
    /// Resolves a handshake credential (`None`: anonymous) to an identity.
    fn authenticate<'a>(
        &'a self,
        credential: Option<&'a Credential>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>>;

    /// Every audience, for preparing content events. Must not do I/O.
    fn audiences(&self) -> Arc<Vec<Arc<Audience>>>;

    /// Whether the entry `id` (numeric id or documentId) of `content_type` exists. For a
    /// draft-and-publish type, only published entries count unless `include_drafts`.
    fn entity_exists<'a>(
        &'a self,
        content_type: &'a ContentType,
        id: &'a str,
        include_drafts: bool,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>>;

    /// The current identity of each subject, in order, as a new handshake would get it
    /// (a JWT user's `expires_at` is `None`: the token is not known here). A refusal
    /// (`Invalid credentials`, `Token expired`, a role that is gone) means the socket must
    /// go; [`AuthError::Unavailable`] means the directory cannot tell, and the socket stays.
    /// The default cannot tell.
    fn recheck<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Vec<Result<Identity, AuthError>>> {
        let answers = subjects
            .iter()
            .map(|_| Err(AuthError::Unavailable))
            .collect();
        Box::pin(async move { answers })
    }

    /// Notices of changes, for directories that watch their source (`None`: never changes).
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<DirectoryChange>> {
        None
    }
}

/// A role declared in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleDecl {
    /// Display name (`Editor`); the room is `io-role-<name>`.
    pub name: String,
    /// Stable key (`editor`), used by users and `rolePermissions`.
    #[serde(rename = "type")]
    pub role_type: String,
    /// users-permissions actions (`api::article.article.find`).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A user declared in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserDecl {
    /// User id, the JWT's `id`/`userId`.
    pub id: u64,
    /// Username.
    pub username: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// The role's type.
    pub role: String,
    /// Blocked users are refused.
    #[serde(default)]
    pub blocked: bool,
    /// Unconfirmed users are refused while email confirmation is on.
    #[serde(default = "yes")]
    pub confirmed: bool,
}

fn yes() -> bool {
    true
}

/// An API token declared in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenDecl {
    /// Token name; the room is `io-token-<name>`.
    pub name: String,
    /// `read-only`, `full-access` or `custom`.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// The stored hash (`strapi-io hash-token`), as in Strapi's `access_key` column.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Actions of a custom token.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Expiry, milliseconds since the epoch.
    #[serde(default)]
    pub expires_at: Option<u64>,
}

/// The `directory` section for `kind = "static"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticDirectoryConfig {
    /// Roles; a `public` role is added when missing.
    pub roles: Vec<RoleDecl>,
    /// Users.
    pub users: Vec<UserDecl>,
    /// API tokens.
    pub api_tokens: Vec<TokenDecl>,
    /// Existing entries per content type uid: numeric ids and documentIds.
    pub entities: BTreeMap<String, Vec<Value>>,
    /// users-permissions `email_confirmation`.
    pub email_confirmation: bool,
}

/// Why a static directory declaration is unusable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryConfigError {
    /// A user names a role that is not declared.
    #[error("directory.users[{index}].role: unknown role type `{role}`")]
    UnknownRole {
        /// Index of the user.
        index: usize,
        /// The role type named.
        role: String,
    },
    /// A token without `accessKey`.
    #[error("directory.apiTokens[{0}].accessKey: missing (compute it with `strapi-io hash-token`)")]
    MissingKey(usize),
    /// Two roles or two tokens with the same name.
    #[error("directory: duplicate {0}")]
    Duplicate(String),
}

struct StaticUser {
    decl: UserDecl,
    audience: Arc<Audience>,
}

/// An API token as a directory keeps it: its audience and its expiry.
pub(crate) struct TokenRecord {
    /// The stored hash it is found by (lowercase hex).
    pub(crate) key: String,
    pub(crate) audience: Arc<Audience>,
    /// Milliseconds since the epoch; `None`: never expires.
    pub(crate) expires_at: Option<i64>,
}

impl TokenRecord {
    /// The identity of a socket presenting this token (or the refusal).
    pub(crate) fn identity(record: Option<&TokenRecord>) -> Result<Identity, AuthError> {
        let token = record.ok_or(AuthError::InvalidCredentials)?;
        if token.expires_at.is_some_and(|exp| exp <= unix_millis()) {
            return Err(AuthError::TokenExpired);
        }
        Ok(Identity {
            audience: token.audience.clone(),
            user: None,
            subject: Subject::ApiToken(token.key.clone()),
            expires_at: token.expires_at,
        })
    }
}

/// A JWT `exp` (seconds) in milliseconds since the epoch.
pub(crate) fn jwt_expiry_millis(exp_seconds: u64) -> i64 {
    i64::try_from(exp_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The directory declared in the config file: everything in memory.
pub struct StaticDirectory {
    jwt_secret: Vec<u8>,
    api_token_salt: String,
    email_confirmation: bool,
    public: Arc<Audience>,
    users: HashMap<String, StaticUser>,
    tokens: HashMap<String, TokenRecord>,
    audiences: Arc<Vec<Arc<Audience>>>,
    entities: HashMap<String, HashSet<String>>,
}

impl StaticDirectory {
    /// Builds the directory; secrets are the users-permissions JWT secret and the API-token salt.
    pub fn new(
        config: &StaticDirectoryConfig,
        jwt_secret: &str,
        api_token_salt: &str,
    ) -> Result<Self, DirectoryConfigError> {
        let mut roles: HashMap<String, Arc<Audience>> = HashMap::new();
        let mut audiences = Vec::new();
        let mut rooms = HashSet::new();
        for r in &config.roles {
            let a = Arc::new(Audience::role(&r.name, &r.role_type, r.permissions.clone()));
            if !rooms.insert(a.room.clone())
                || roles.insert(r.role_type.clone(), a.clone()).is_some()
            {
                return Err(DirectoryConfigError::Duplicate(format!(
                    "role {} ({})",
                    r.role_type, a.room
                )));
            }
            audiences.push(a);
        }
        let public = match roles.get("public") {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(Audience::role("Public", "public", Vec::new()));
                audiences.push(p.clone());
                p
            }
        };
        let mut users = HashMap::new();
        for (index, u) in config.users.iter().enumerate() {
            let audience =
                roles
                    .get(&u.role)
                    .cloned()
                    .ok_or_else(|| DirectoryConfigError::UnknownRole {
                        index,
                        role: u.role.clone(),
                    })?;
            users.insert(
                u.id.to_string(),
                StaticUser {
                    decl: u.clone(),
                    audience,
                },
            );
        }
        let mut tokens = HashMap::new();
        for (i, t) in config.api_tokens.iter().enumerate() {
            let key = t
                .access_key
                .clone()
                .ok_or(DirectoryConfigError::MissingKey(i))?
                .to_ascii_lowercase();
            let audience = Arc::new(Audience::api_token(
                &t.name,
                t.token_type,
                t.permissions.clone(),
            ));
            if !rooms.insert(audience.room.clone()) {
                return Err(DirectoryConfigError::Duplicate(format!(
                    "token {} ({})",
                    t.name, audience.room
                )));
            }
            audiences.push(audience.clone());
            tokens.insert(
                key.clone(),
                TokenRecord {
                    key,
                    audience,
                    expires_at: t.expires_at.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                },
            );
        }
        let entities = config
            .entities
            .iter()
            .map(|(uid, ids)| {
                let set = ids
                    .iter()
                    .filter_map(|v| match v {
                        Value::Number(n) => Some(n.to_string()),
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                (uid.clone(), set)
            })
            .collect();
        Ok(StaticDirectory {
            jwt_secret: jwt_secret.as_bytes().to_vec(),
            api_token_salt: api_token_salt.to_string(),
            email_confirmation: config.email_confirmation,
            public,
            users,
            tokens,
            audiences: Arc::new(audiences),
            entities,
        })
    }

    fn resolve(&self, credential: Option<&Credential>) -> Result<Identity, AuthError> {
        match credential {
            None => Ok(Identity::public(self.public.clone())),
            Some(Credential::Jwt(token)) => {
                let jwt = verify_jwt(token, &self.jwt_secret)?;
                let mut identity = self.current(&Subject::User(jwt.user_id))?;
                identity.expires_at = Some(jwt_expiry_millis(jwt.expires_at));
                Ok(identity)
            }
            Some(Credential::ApiToken(plain)) => {
                let key = hash_api_token(plain, &self.api_token_salt);
                TokenRecord::identity(self.tokens.get(&key))
            }
        }
    }

    /// The identity of `subject` under this directory (no JWT expiry).
    fn current(&self, subject: &Subject) -> Result<Identity, AuthError> {
        match subject {
            Subject::Public => Ok(Identity::public(self.public.clone())),
            Subject::User(id) => {
                let user = self.users.get(id).ok_or(AuthError::InvalidCredentials)?;
                if user.decl.blocked || (self.email_confirmation && !user.decl.confirmed) {
                    return Err(AuthError::InvalidCredentials);
                }
                Ok(Identity {
                    audience: user.audience.clone(),
                    user: Some(UserInfo {
                        id: Value::from(user.decl.id),
                        username: user.decl.username.clone(),
                        email: user.decl.email.clone(),
                        role: user.decl.role.clone(),
                    }),
                    subject: subject.clone(),
                    expires_at: None,
                })
            }
            Subject::ApiToken(key) => TokenRecord::identity(self.tokens.get(key)),
        }
    }
}

impl Directory for StaticDirectory {
    fn authenticate<'a>(
        &'a self,
        credential: Option<&'a Credential>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let result = self.resolve(credential);
        Box::pin(async move { result })
    }

    fn audiences(&self) -> Arc<Vec<Arc<Audience>>> {
        self.audiences.clone()
    }

    fn entity_exists<'a>(
        &'a self,
        content_type: &'a ContentType,
        id: &'a str,
        _include_drafts: bool,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>> {
        let found = self
            .entities
            .get(&content_type.uid)
            .is_some_and(|s| s.contains(id));
        Box::pin(async move { Ok(found) })
    }

    fn recheck<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Vec<Result<Identity, AuthError>>> {
        let answers = subjects.iter().map(|s| self.current(s)).collect();
        Box::pin(async move { answers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strapi_io_core::auth::hash_api_token;

    fn config(extra: Value) -> StaticDirectoryConfig {
        let mut base = json!({
            "roles": [{"name": "Authenticated", "type": "authenticated", "permissions": []}],
            "users": [
                {"id": 4, "username": "pending", "email": "p@example.com", "role": "authenticated", "confirmed": false}
            ],
            "apiTokens": [
                {"name": "old", "type": "read-only", "accessKey": hash_api_token("old", "salt"), "expiresAt": 1735689600000u64}
            ]
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn legacy_jwt(id: u64) -> String {
        let exp = unix_millis() / 1000 + 60;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({"id": id, "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .unwrap()
    }

    #[test]
    fn unconfirmed_users_are_refused_only_with_email_confirmation() {
        let off = StaticDirectory::new(&config(json!({})), "secret", "salt").unwrap();
        let jwt = Credential::Jwt(legacy_jwt(4));
        let id = off.resolve(Some(&jwt)).unwrap();
        assert_eq!(id.user.unwrap().username, "pending");
        let on = StaticDirectory::new(
            &config(json!({"emailConfirmation": true})),
            "secret",
            "salt",
        )
        .unwrap();
        assert_eq!(
            on.resolve(Some(&jwt)).unwrap_err(),
            AuthError::InvalidCredentials
        );
    }

    #[test]
    fn expired_tokens_and_anonymous() {
        let d = StaticDirectory::new(&config(json!({})), "secret", "salt").unwrap();
        assert_eq!(
            d.resolve(Some(&Credential::ApiToken("old".into())))
                .unwrap_err(),
            AuthError::TokenExpired
        );
        let anon = d.resolve(None).unwrap();
        assert_eq!(anon.audience.room, "io-role-public");
        assert!(anon.user.is_none());
        assert_eq!(
            d.audiences().len(),
            3,
            "authenticated, the added public, the token"
        );
    }

    #[test]
    fn bad_declarations_are_refused() {
        let unknown_role = config(json!({"users": [{"id": 1, "username": "u", "role": "ghost"}]}));
        assert!(matches!(
            StaticDirectory::new(&unknown_role, "s", "s"),
            Err(DirectoryConfigError::UnknownRole { .. })
        ));
        let same_room = config(json!({"roles": [
            {"name": "Editor", "type": "editor"}, {"name": "editor", "type": "editor2"}
        ], "users": []}));
        assert!(matches!(
            StaticDirectory::new(&same_room, "s", "s"),
            Err(DirectoryConfigError::Duplicate(_))
        ));
        let no_key = config(json!({"apiTokens": [{"name": "t", "type": "custom"}]}));
        assert!(matches!(
            StaticDirectory::new(&no_key, "s", "s"),
            Err(DirectoryConfigError::MissingKey(0))
        ));
    }
}
