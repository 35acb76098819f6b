//! Audiences — who an event is prepared for — and their permissions: the users-permissions
//! abilities that decide what an audience may *read*, and the realtime routing that decides
//! which content events it *receives* (SPEC §2).

use std::collections::BTreeSet;

use crate::rooms;
use crate::schema::MEDIA_UID;
use crate::settings::RolePermissions;

/// The three kinds of Strapi API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenType {
    /// May `find`/`findOne` everything.
    ReadOnly,
    /// May do everything.
    FullAccess,
    /// May do exactly what its permission list says.
    Custom,
}

/// Whether an audience is a users-permissions role or an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceKind {
    /// A users-permissions role; `role_type` is Strapi's stable key (`public`, `authenticated`, `editor`).
    Role {
        /// The role's `type` column, the key of `rolePermissions`.
        role_type: String,
    },
    /// An API token.
    ApiToken {
        /// The token's type.
        token_type: TokenType,
    },
}

/// One audience: a role or an API token with the abilities it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Display name (`Public`, `Editor`, `dashboard`).
    pub name: String,
    /// Role or token.
    pub kind: AudienceKind,
    /// The audience room every member joins (`io-role-public`, `io-token-dashboard`).
    pub room: String,
    /// Action strings granted (`api::article.article.find`, …).
    abilities: BTreeSet<String>,
}

impl Audience {
    /// A users-permissions role.
    pub fn role(name: &str, role_type: &str, abilities: impl IntoIterator<Item = String>) -> Self {
        Audience {
            name: name.to_string(),
            kind: AudienceKind::Role {
                role_type: role_type.to_string(),
            },
            room: rooms::role_room(name),
            abilities: abilities.into_iter().collect(),
        }
    }

    /// An API token audience.
    pub fn api_token(
        name: &str,
        token_type: TokenType,
        abilities: impl IntoIterator<Item = String>,
    ) -> Self {
        Audience {
            name: name.to_string(),
            kind: AudienceKind::ApiToken { token_type },
            room: rooms::token_room(name),
            abilities: abilities.into_iter().collect(),
        }
    }

    /// The role name reported in socket info: the role's `type` for roles, the token's name
    /// for tokens.
    pub fn role_label(&self) -> &str {
        match &self.kind {
            AudienceKind::Role { role_type } => role_type,
            AudienceKind::ApiToken { .. } => &self.name,
        }
    }

    /// Whether the audience holds this exact action string.
    pub fn has(&self, action: &str) -> bool {
        match self.kind {
            AudienceKind::ApiToken {
                token_type: TokenType::FullAccess,
            } => true,
            AudienceKind::ApiToken {
                token_type: TokenType::ReadOnly,
            } => action.ends_with(".find") || action.ends_with(".findOne"),
            _ => self.abilities.contains(action),
        }
    }

    /// Read permission: may this audience `find` (or `findOne`) entries of `uid`?
    /// Media (`plugin::upload.file`) also accepts the upload plugin's content-API actions.
    pub fn can_read(&self, uid: &str) -> bool {
        if self.has(&format!("{uid}.find")) || self.has(&format!("{uid}.findOne")) {
            return true;
        }
        uid == MEDIA_UID
            && (self.has("plugin::upload.content-api.find")
                || self.has("plugin::upload.content-api.findOne"))
    }

    /// Realtime permission: does this audience receive `<uid>.<action>` events?
    ///
    /// Roles follow `rolePermissions.<type>.contentTypes.<uid>.<action>` when that entry
    /// exists, and their read permission otherwise. Full-access and read-only tokens
    /// receive every event; custom tokens those of the types they may read.
    pub fn routed(&self, uid: &str, action: &str, roles: &RolePermissions) -> bool {
        match &self.kind {
            AudienceKind::Role { role_type } => {
                match roles.get(role_type).and_then(|r| r.content_types.get(uid)) {
                    Some(actions) => actions.get(action).copied().unwrap_or(false),
                    None => self.can_read(uid),
                }
            }
            AudienceKind::ApiToken { token_type } => match token_type {
                TokenType::FullAccess | TokenType::ReadOnly => true,
                TokenType::Custom => self.can_read(uid),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RolePermission;
    use std::collections::BTreeMap;

    fn abilities(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rooms_follow_the_plugin_names() {
        assert_eq!(
            Audience::role("Public", "public", []).room,
            "io-role-public"
        );
        assert_eq!(
            Audience::role("Content  Team", "content-team", []).room,
            "io-role-content-team"
        );
        assert_eq!(
            Audience::api_token("dashboard", TokenType::ReadOnly, []).room,
            "io-token-dashboard"
        );
    }

    #[test]
    fn read_permission_by_kind() {
        let role = Audience::role(
            "Public",
            "public",
            abilities(&["api::article.article.find"]),
        );
        assert!(role.can_read("api::article.article"));
        assert!(!role.can_read("api::author.author"));
        let ro = Audience::api_token("ro", TokenType::ReadOnly, []);
        assert!(ro.can_read("api::author.author"));
        assert!(!ro.has("api::author.author.create"));
        let full = Audience::api_token("full", TokenType::FullAccess, []);
        assert!(full.has("api::author.author.delete"));
        let custom = Audience::api_token(
            "c",
            TokenType::Custom,
            abilities(&["api::comment.comment.findOne"]),
        );
        assert!(custom.can_read("api::comment.comment"));
        assert!(!custom.can_read("api::article.article"));
        let media = Audience::role("R", "r", abilities(&["plugin::upload.content-api.find"]));
        assert!(media.can_read(MEDIA_UID));
    }

    #[test]
    fn routing_prefers_explicit_realtime_permissions() {
        let public = Audience::role(
            "Public",
            "public",
            abilities(&["api::article.article.find", "api::comment.comment.find"]),
        );
        let mut roles = RolePermissions::new();
        let mut cts = BTreeMap::new();
        cts.insert(
            "api::comment.comment".to_string(),
            BTreeMap::from([("create".to_string(), true), ("update".to_string(), false)]),
        );
        roles.insert(
            "public".into(),
            RolePermission {
                can_connect: true,
                content_types: cts,
            },
        );
        // explicit entry
        assert!(public.routed("api::comment.comment", "create", &roles));
        assert!(!public.routed("api::comment.comment", "update", &roles));
        assert!(!public.routed("api::comment.comment", "delete", &roles));
        // implicit: find permission
        assert!(public.routed("api::article.article", "update", &roles));
        assert!(!public.routed("api::author.author", "create", &roles));
        // tokens
        let custom = Audience::api_token(
            "c",
            TokenType::Custom,
            abilities(&["api::comment.comment.find"]),
        );
        assert!(custom.routed("api::comment.comment", "create", &roles));
        assert!(!custom.routed("api::article.article", "create", &roles));
        let ro = Audience::api_token("ro", TokenType::ReadOnly, []);
        assert!(ro.routed("api::author.author", "delete", &roles));
    }
}
