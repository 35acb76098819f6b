//! Room names: audience rooms, entity rooms, the audience-scoped entity rooms the emit
//! pipeline uses to reach each subscriber once, and the validation of client-chosen names.

/// Prefix of users-permissions role rooms.
pub const ROLE_ROOM_PREFIX: &str = "io-role-";
/// Prefix of API-token rooms.
pub const TOKEN_ROOM_PREFIX: &str = "io-token-";
/// Longest room name a client may join.
pub const MAX_ROOM_NAME_LEN: usize = 100;

/// Lower-cases a name and replaces every run of whitespace with `-`, as the plugin does.
pub fn slug(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// `io-role-<slug(role name)>`.
pub fn role_room(name: &str) -> String {
    format!("{ROLE_ROOM_PREFIX}{}", slug(name))
}

/// `io-token-<slug(token name)>`.
pub fn token_room(name: &str) -> String {
    format!("{TOKEN_ROOM_PREFIX}{}", slug(name))
}

/// `<uid>:<id>`, e.g. `api::article.article:123`.
pub fn entity_room(uid: &str, id: &str) -> String {
    format!("{uid}:{id}")
}

/// The entity room restricted to one audience: `<audience room>#<entity room>`.
///
/// A subscriber joins both the entity room (for listings and `emitToEntity`) and this one,
/// so that a content event can reach the subscribers of one audience — sanitized for that
/// audience — without touching anyone else. Clients can never join it (`#` and `:` are not
/// allowed in client room names).
pub fn scoped_entity_room(audience_room: &str, entity_room: &str) -> String {
    format!("{audience_room}#{entity_room}")
}

/// The room only one socket is in, by its public id, so that any node of a cluster can
/// address it: `#socket:<public id>`.
pub fn socket_room(public_id: &str) -> String {
    format!("#socket:{public_id}")
}

/// The room that carries a socket's public info (`{id, user, role}` as JSON) across a
/// cluster, so that listings on other nodes can show it: `#who:<json>`.
pub fn who_room(info_json: &str) -> String {
    format!("#who:{info_json}")
}

/// The info a [`who_room`] carries.
pub fn parse_who_room(room: &str) -> Option<&str> {
    room.strip_prefix("#who:")
}

/// The `(uid, id)` of an entity room (`api::article.article:12`); `None` for any other room.
pub fn parse_entity_room(room: &str) -> Option<(&str, &str)> {
    if room.contains('#') {
        return None;
    }
    let (uid, id) = room.rsplit_once(':')?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (id_ok && is_valid_uid(uid)).then_some((uid, id))
}

/// Whether a room name belongs to the server (audience rooms and entity rooms).
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(ROLE_ROOM_PREFIX) || name.starts_with(TOKEN_ROOM_PREFIX) || name.contains(':')
}

/// Why a client-chosen room name is refused; `Display` is the message the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    /// Empty or too long.
    #[error("Invalid room name")]
    Invalid,
    /// Characters outside `[A-Za-z0-9_-]`.
    #[error("Room name contains invalid characters")]
    InvalidCharacters,
    /// An audience or entity room.
    #[error("Room name is reserved")]
    Reserved,
}

/// Validates a room name sent by a client in `join-room`/`leave-room`.
pub fn validate_client_room(name: &str) -> Result<(), RoomNameError> {
    if name.is_empty() || name.len() > MAX_ROOM_NAME_LEN {
        return Err(RoomNameError::Invalid);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(RoomNameError::InvalidCharacters);
    }
    if is_reserved(name) {
        return Err(RoomNameError::Reserved);
    }
    Ok(())
}

/// Checks the uid format `^(api|plugin)::[a-z0-9-]+\.[a-z0-9-]+$`.
pub fn is_valid_uid(uid: &str) -> bool {
    let rest = match uid
        .strip_prefix("api::")
        .or_else(|| uid.strip_prefix("plugin::"))
    {
        Some(r) => r,
        None => return false,
    };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match rest.split_once('.') {
        Some((a, b)) => part_ok(a) && part_ok(b),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Public"), "public");
        assert_eq!(slug("Content \t Team  A"), "content-team-a");
        assert_eq!(role_room("Authenticated"), "io-role-authenticated");
        assert_eq!(token_room("comments-only"), "io-token-comments-only");
        assert_eq!(
            entity_room("api::article.article", "1"),
            "api::article.article:1"
        );
        assert_eq!(
            scoped_entity_room("io-role-public", "api::article.article:1"),
            "io-role-public#api::article.article:1"
        );
    }

    #[test]
    fn entity_rooms_parse_back() {
        assert_eq!(
            parse_entity_room("api::article.article:12"),
            Some(("api::article.article", "12"))
        );
        assert_eq!(
            parse_entity_room("api::article.article:dvn4m1p03xohql4vaa8qqto9"),
            Some(("api::article.article", "dvn4m1p03xohql4vaa8qqto9"))
        );
        for room in [
            "io-role-public#api::article.article:1",
            "lobby",
            "api::article.article:",
            "nope:1",
            "api::article.article:a b",
            "#socket:abc",
        ] {
            assert_eq!(parse_entity_room(room), None, "{room}");
        }
        assert_eq!(socket_room("p1"), "#socket:p1");
        assert_eq!(parse_who_room(&who_room("{}")), Some("{}"));
        assert_eq!(parse_who_room("#socket:p1"), None);
    }

    #[test]
    fn client_rooms() {
        assert_eq!(validate_client_room("chat-lobby_1"), Ok(()));
        assert_eq!(validate_client_room(""), Err(RoomNameError::Invalid));
        assert_eq!(
            validate_client_room(&"a".repeat(101)),
            Err(RoomNameError::Invalid)
        );
        assert_eq!(
            validate_client_room("a b"),
            Err(RoomNameError::InvalidCharacters)
        );
        assert_eq!(
            validate_client_room("api::article.article:1"),
            Err(RoomNameError::InvalidCharacters)
        );
        assert_eq!(
            validate_client_room("io-role-editor"),
            Err(RoomNameError::Reserved)
        );
        assert_eq!(
            validate_client_room("io-token-dashboard"),
            Err(RoomNameError::Reserved)
        );
        assert_eq!(RoomNameError::Reserved.to_string(), "Room name is reserved");
    }

    #[test]
    fn uid_format() {
        assert!(is_valid_uid("api::article.article"));
        assert!(is_valid_uid("plugin::users-permissions.user"));
        assert!(!is_valid_uid("api::Article.article"));
        assert!(!is_valid_uid("admin::user.user"));
        assert!(!is_valid_uid("api::article"));
        assert!(!is_valid_uid("api::.article"));
        assert!(!is_valid_uid("api::a.b.c"));
    }
}
