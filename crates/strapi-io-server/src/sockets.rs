//! The dashboard's socket and room listings: `GET /api/io/sockets` (every socket of every
//! node, searched and paged) and `GET /api/io/rooms` (every room with its member count).
//! Acting on a socket goes through the RPC routes (`disconnectSocket`, `joinRoom`,
//! `leaveRoom`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};
use strapi_io::SocketDetails;
use strapi_io::core::rooms::{ROLE_ROOM_PREFIX, TOKEN_ROOM_PREFIX, parse_entity_room};

use crate::http::auth::AdminToken;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Rows per page unless asked.
const PAGE_SIZE: usize = 25;
/// The most rows per page.
const MAX_PAGE_SIZE: usize = 100;
/// The longest search text.
const MAX_SEARCH_CHARS: usize = 200;

/// What a listing is asked for: `search`, `room`, `namespace`, `page`, `pageSize`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// Case-insensitive text found in any field shown.
    search: Option<String>,
    /// Only the members of this room (exact name).
    room: Option<String>,
    /// Only this namespace (`/`, `/admin`).
    namespace: Option<String>,
    /// From 1.
    page: usize,
    page_size: usize,
}

impl Query {
    /// Reads a query string: only the keys above, each once; anything else is a 400.
    pub(crate) fn parse(query: &str, room_filter: bool) -> Result<Query, ApiError> {
        let mut q = Query {
            search: None,
            room: None,
            namespace: None,
            page: 1,
            page_size: PAGE_SIZE,
        };
        let mut seen = Vec::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if seen.contains(&key) {
                return Err(ApiError::bad_request(format!("{key}: given twice")));
            }
            seen.push(key.clone());
            let value = value.into_owned();
            match key.as_ref() {
                "search" => {
                    if value.chars().count() > MAX_SEARCH_CHARS {
                        return Err(ApiError::bad_request(format!(
                            "search: at most {MAX_SEARCH_CHARS} characters"
                        )));
                    }
                    q.search = Some(value.to_lowercase()).filter(|s| !s.trim().is_empty());
                }
                "room" if room_filter => q.room = Some(value),
                "namespace" => q.namespace = Some(value),
                "page" => q.page = number("page", &value, 1, usize::MAX)?,
                "pageSize" => q.page_size = number("pageSize", &value, 1, MAX_PAGE_SIZE)?,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter `{other}`"
                    )));
                }
            }
        }
        Ok(q)
    }

    fn namespace_ok(&self, ns: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == ns)
    }

    /// The rows of its page, and the pagination.
    fn page<T>(&self, rows: Vec<T>) -> (Vec<T>, Value) {
        let total = rows.len();
        let rows = rows
            .into_iter()
            .skip((self.page - 1).saturating_mul(self.page_size))
            .take(self.page_size)
            .collect();
        let pagination = json!({
            "page": self.page,
            "pageSize": self.page_size,
            "pageCount": total.div_ceil(self.page_size),
            "total": total,
        });
        (rows, pagination)
    }
}

fn number(key: &str, value: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) && !value.starts_with('+') => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "{key}: expected a whole number from {min} to {max}, found `{value}`"
        ))),
    }
}

/// Whether `search` (lower-cased) is in any field of the socket that the list shows.
fn matches(s: &SocketDetails, search: &str) -> bool {
    let found = |text: &str| text.to_lowercase().contains(search);
    let user = s.user.as_ref().is_some_and(|u| {
        found(&u.id.to_string()) || found(&u.username) || found(&u.email) || found(&u.role)
    });
    user || [
        &s.id,
        &s.namespace,
        &s.node,
        &s.role,
        &s.audience,
        &s.transport,
    ]
    .into_iter()
    .any(|t| found(t))
        || s.address.as_deref().is_some_and(found)
        || s.rooms.iter().any(|r| found(r))
}

/// The sockets asked for, newest first.
pub(crate) fn select(mut sockets: Vec<SocketDetails>, q: &Query) -> Vec<SocketDetails> {
    sockets.retain(|s| {
        q.namespace_ok(&s.namespace)
            && q.room.as_ref().is_none_or(|r| s.rooms.contains(r))
            && q.search.as_deref().is_none_or(|t| matches(s, t))
    });
    sockets.sort_by(|a, b| {
        b.connected_at
            .cmp(&a.connected_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    sockets
}

/// A room and who is in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Room {
    /// Its name.
    name: String,
    /// Its namespace.
    namespace: String,
    /// `audience` (a role's or an API token's), `entity` (an entity's subscribers) or
    /// `room` (joined by a client or through the API).
    kind: &'static str,
    /// Sockets in it, on every node.
    sockets: usize,
}

/// Every room of the listed sockets with its member count, largest first.
pub(crate) fn rooms(sockets: &[SocketDetails], q: &Query) -> Vec<Room> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for s in sockets.iter().filter(|s| q.namespace_ok(&s.namespace)) {
        for room in &s.rooms {
            *counts
                .entry((s.namespace.as_str(), room.as_str()))
                .or_default() += 1;
        }
    }
    let mut rooms: Vec<Room> = counts
        .into_iter()
        .filter(|((_, name), _)| {
            q.search
                .as_deref()
                .is_none_or(|t| name.to_lowercase().contains(t))
        })
        .map(|((namespace, name), sockets)| Room {
            kind: if name.starts_with(ROLE_ROOM_PREFIX) || name.starts_with(TOKEN_ROOM_PREFIX) {
                "audience"
            } else if parse_entity_room(name).is_some() {
                "entity"
            } else {
                "room"
            },
            name: name.to_string(),
            namespace: namespace.to_string(),
            sockets,
        })
        .collect();
    rooms.sort_by(|a, b| {
        (b.sockets, &a.namespace, &a.name).cmp(&(a.sockets, &b.namespace, &b.name))
    });
    rooms
}

/// The listing's `meta` besides the pagination: whether a node listed only part of its
/// sockets, and why the other nodes could not be asked.
fn listing_meta(pagination: Value, truncated: bool, cluster_error: Option<String>) -> Value {
    let mut meta = json!({ "pagination": pagination, "truncated": truncated });
    if let Some(e) = cluster_error {
        meta["clusterError"] = json!(e);
    }
    meta
}

/// `GET /api/io/sockets?search=&room=&namespace=&page=&pageSize=`: every socket of every
/// node that matches, newest first, one page.
pub(crate) async fn list(
    _: AdminToken,
    State(state): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query().unwrap_or_default(), true)?;
    let listing = state.io.socket_details().await;
    let (rows, pagination) = q.page(select(listing.sockets, &q));
    Ok(Json(json!({
        "data": rows,
        "meta": listing_meta(pagination, listing.truncated, listing.cluster_error),
    })))
}

/// `GET /api/io/rooms?search=&namespace=&page=&pageSize=`: every room with members on any
/// node, largest first, one page.
pub(crate) async fn list_rooms(
    _: AdminToken,
    State(state): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query().unwrap_or_default(), false)?;
    let listing = state.io.socket_details().await;
    let (rows, pagination) = q.page(rooms(&listing.sockets, &q));
    Ok(Json(json!({
        "data": rows,
        "meta": listing_meta(pagination, listing.truncated, listing.cluster_error),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strapi_io::directory::UserInfo;

    fn socket(id: &str, at: i64, ns: &str, rooms: &[&str], user: Option<&str>) -> SocketDetails {
        SocketDetails {
            id: id.into(),
            namespace: ns.into(),
            node: "n1".into(),
            user: user.map(|name| UserInfo {
                id: serde_json::json!(7),
                username: name.into(),
                email: format!("{name}@example.com"),
                role: "authenticated".into(),
            }),
            role: "public".into(),
            audience: "io-role-public".into(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            subscriptions: vec![],
            transport: "websocket".into(),
            address: Some("127.0.0.1".into()),
            connected_at: at,
        }
    }

    fn q(text: &str) -> Query {
        Query::parse(text, true).unwrap()
    }

    fn sample() -> Vec<SocketDetails> {
        vec![
            socket("a", 1, "/", &["io-role-public", "lobby"], None),
            socket(
                "b",
                3,
                "/",
                &["io-role-public", "api::article.article:1"],
                Some("Alice"),
            ),
            socket("c", 2, "/admin", &["io-role-public", "lobby"], Some("bob")),
        ]
    }

    fn ids(rows: &[SocketDetails]) -> Vec<&str> {
        rows.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn sockets_are_searched_filtered_sorted_and_paged() {
        assert_eq!(
            ids(&select(sample(), &q(""))),
            ["b", "c", "a"],
            "newest first"
        );
        assert_eq!(ids(&select(sample(), &q("search=ALICE"))), ["b"]);
        assert_eq!(ids(&select(sample(), &q("search=bob%40example"))), ["c"]);
        assert_eq!(ids(&select(sample(), &q("room=lobby"))), ["c", "a"]);
        assert_eq!(ids(&select(sample(), &q("namespace=%2Fadmin"))), ["c"]);
        assert_eq!(
            ids(&select(sample(), &q("search=nothing-like-it"))),
            Vec::<&str>::new()
        );
        let query = q("page=2&pageSize=2");
        let (rows, pagination) = query.page(select(sample(), &query));
        assert_eq!(ids(&rows), ["a"]);
        assert_eq!(
            pagination,
            json!({"page": 2, "pageSize": 2, "pageCount": 2, "total": 3})
        );
    }

    #[test]
    fn rooms_are_counted_by_namespace_and_kind() {
        let rows = rooms(&sample(), &q(""));
        let shown: Vec<(&str, &str, &str, usize)> = rows
            .iter()
            .map(|r| (r.namespace.as_str(), r.name.as_str(), r.kind, r.sockets))
            .collect();
        assert_eq!(
            shown,
            [
                ("/", "io-role-public", "audience", 2),
                ("/", "api::article.article:1", "entity", 1),
                ("/", "lobby", "room", 1),
                ("/admin", "io-role-public", "audience", 1),
                ("/admin", "lobby", "room", 1),
            ]
        );
        let lobby = rooms(
            &sample(),
            &Query::parse("search=LOB&namespace=%2F", false).unwrap(),
        );
        assert_eq!(lobby.len(), 1);
        assert_eq!(lobby[0].name, "lobby");
    }

    #[test]
    fn a_query_that_is_not_understood_is_refused() {
        for bad in [
            "page=0",
            "page=-1",
            "page=%2B1",
            "page=x",
            "pageSize=101",
            "pageSize=0",
            "limit=5",
            "search=a&search=b",
            "sort=id",
        ] {
            assert!(Query::parse(bad, true).is_err(), "{bad}");
        }
        let long = format!("search={}", "x".repeat(MAX_SEARCH_CHARS + 1));
        assert!(Query::parse(&long, true).is_err());
        assert!(
            Query::parse("room=lobby", false).is_err(),
            "rooms are not filtered by room"
        );
        assert_eq!(q("search=%20%20").search, None, "blank is no search");
    }
}
