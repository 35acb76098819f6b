//! The plugin's settings (`PluginSettings`): same camelCase keys and defaults as the Strapi
//! plugin's settings service, so a user can carry theirs over, plus validation that names
//! every problem with its path.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Per-role settings keyed by the role's `type` (`public`, `authenticated`, …).
pub type RolePermissions = BTreeMap<String, RolePermission>;

/// The live settings of the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Master switch: when off, no content events are emitted.
    pub enabled: bool,
    /// Allowed browser origins.
    pub cors: Cors,
    /// Connection limits and heartbeats.
    pub connection: Connection,
    /// Handshake and event guards.
    pub security: Security,
    /// Content-event options.
    pub events: Events,
    /// Room options.
    pub rooms: Rooms,
    /// Entity subscription options.
    pub entity_subscriptions: EntitySubscriptions,
    /// Realtime permissions and connect rights per role type.
    pub role_permissions: RolePermissions,
    /// The Redis adapter.
    pub redis: Redis,
    /// Extra namespaces.
    pub namespaces: Namespaces,
    /// Logging and the event log.
    pub monitoring: Monitoring,
}

/// `cors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Cors {
    /// Allowed origins; `*` allows any.
    pub origins: Vec<String>,
    /// Whether credentials are allowed.
    pub credentials: bool,
}

/// `connection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Connection {
    /// Most sockets connected at once.
    pub max_connections: u64,
    /// Milliseconds to wait for a pong.
    pub ping_timeout: u64,
    /// Milliseconds between pings.
    pub ping_interval: u64,
    /// Milliseconds a client has to connect to a namespace after the transport opened.
    pub connection_timeout: u64,
    /// Milliseconds a client has to send a request's head (from the connection's start, or
    /// the end of its previous request), and then again its body (strapi-io's addition).
    pub header_timeout: u64,
    /// Most TCP connections, in all, that have not yet sent a complete request head
    /// (strapi-io's addition); further ones are answered 503 and closed.
    pub max_pending_connections: u64,
    /// Most such connections from one address (an IPv6 /64 counts as one address); trusted
    /// proxies count only towards the total (strapi-io's addition).
    pub max_pending_connections_per_ip: u64,
    /// Connection state recovery (Socket.IO 4.6's `connectionStateRecovery`).
    pub recovery: Recovery,
}

/// `connection.recovery`: a client whose transport dropped comes back as the same socket
/// (id, rooms, entity subscriptions) and gets the events it missed, in order, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Recovery {
    /// How long a disconnected socket's session is kept, in ms (0: recovery off).
    pub max_disconnection_duration: u64,
    /// Whether a recovering client is let in on its kept session (re-checked against the
    /// directory and the connect rules) without its credential being verified again;
    /// `false` verifies the handshake's credential as for a new connection, which must
    /// resolve to the same user or token.
    pub skip_middlewares: bool,
    /// Most events one session may have missed; past it the client gets a new session
    /// (strapi-io's addition).
    pub max_missed_packets: u64,
    /// Most bytes of events one session may have missed; past it the client gets a new
    /// session (strapi-io's addition).
    pub max_missed_bytes: u64,
    /// Most bytes of sent events kept for recovery, per namespace; the oldest go first
    /// (strapi-io's addition).
    pub max_buffered_bytes: u64,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            max_disconnection_duration: 120_000,
            skip_middlewares: true,
            max_missed_packets: 1_000,
            max_missed_bytes: 1 << 20,
            max_buffered_bytes: 64 << 20,
        }
    }
}

/// `security`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Security {
    /// Refuse sockets without credentials.
    pub require_authentication: bool,
    /// Per-socket rate limit of client events.
    pub rate_limiting: RateLimiting,
    /// When non-empty, only these addresses or CIDR ranges may connect.
    pub ip_whitelist: Vec<String>,
    /// Addresses or CIDR ranges that may never connect.
    pub ip_blacklist: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges; strapi-io's
    /// addition to the plugin's settings).
    pub trusted_proxies: Vec<String>,
    /// What happens to a socket when its JWT's `exp` passes (strapi-io's addition).
    pub token_expiry: TokenExpiry,
}

/// `security.tokenExpiry`: what happens to a connected socket when its JWT expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenExpiry {
    /// Sent `server-disconnect {reason: "Token expired"}` and disconnected at `exp`, unless
    /// it sent a fresh token (`refresh-token`) before.
    #[default]
    Disconnect,
    /// Left connected (the Node plugin's behaviour).
    Ignore,
}

/// `security.rateLimiting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimiting {
    /// Whether the limit applies.
    pub enabled: bool,
    /// Sustained client events per second per socket.
    pub max_events_per_second: u32,
}

/// Wire format of content events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Format {
    /// Strapi 5's flat REST shape.
    #[default]
    #[serde(rename = "v5")]
    V5,
    /// Strapi 4's `{ id, attributes }` shape.
    #[serde(rename = "v4")]
    V4,
}

/// `events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Events {
    /// Custom event names the dashboard lists (informational).
    pub custom_event_names: Vec<String>,
    /// Whether relations are populated before emitting (see `populate`).
    pub include_relations: bool,
    /// Field names removed from every payload, at every depth.
    pub exclude_fields: Vec<String>,
    /// Drop events of draft entries of draft-and-publish types.
    pub only_published: bool,
    /// `v5` (default) or `v4`.
    pub format: Format,
}

/// `rooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Rooms {
    /// Rooms joined on connect, by role type.
    pub auto_join_by_role: BTreeMap<String, Vec<String>>,
    /// Whether clients may join rooms of their choosing.
    pub enable_private_rooms: bool,
    /// Whether clients may send `private-message` (strapi-io's addition; default on).
    pub enable_private_messages: bool,
    /// Most rooms a client may be in through `join-room` at once (strapi-io's addition);
    /// audience, entity and `autoJoinByRole` rooms do not count.
    pub max_rooms_per_socket: u32,
}

/// `entitySubscriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EntitySubscriptions {
    /// Whether `subscribe-entity` is available.
    pub enabled: bool,
    /// Most entity subscriptions a socket may hold.
    pub max_subscriptions_per_socket: u32,
    /// Check that the entity exists before subscribing.
    pub require_verification: bool,
    /// When non-empty, only these content types can be subscribed to.
    pub allowed_content_types: Vec<String>,
    /// Count subscriptions in the stats.
    pub enable_metrics: bool,
    /// Audiences (by audience room: `io-role-editor`, `io-token-ops`) whose verification
    /// also finds draft-only entries; for everyone else only published entries of a
    /// draft-and-publish type exist. Empty by default.
    pub draft_audiences: Vec<String>,
}

/// `rolePermissions.<type>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RolePermission {
    /// Whether members of the role may connect at all.
    pub can_connect: bool,
    /// Realtime permission per content type: action → allowed.
    pub content_types: BTreeMap<String, BTreeMap<String, bool>>,
}

/// `redis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Redis {
    /// Whether the Redis adapter is used.
    pub enabled: bool,
    /// The Redis URL.
    pub url: String,
}

/// `namespaces`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Namespaces {
    /// Whether the listed namespaces are served.
    pub enabled: bool,
    /// Namespaces by name (without the leading `/`).
    pub list: BTreeMap<String, NamespaceSettings>,
}

/// `namespaces.list.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespaceSettings {
    /// Refuse sockets without credentials on this namespace.
    pub require_auth: bool,
}

/// `monitoring`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Monitoring {
    /// Log connects and disconnects.
    pub enable_connection_logging: bool,
    /// Keep an event log.
    pub enable_event_logging: bool,
    /// Entries kept in the event log.
    pub max_event_log_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            cors: Cors::default(),
            connection: Connection::default(),
            security: Security::default(),
            events: Events::default(),
            rooms: Rooms::default(),
            entity_subscriptions: EntitySubscriptions::default(),
            role_permissions: RolePermissions::new(),
            redis: Redis::default(),
            namespaces: Namespaces::default(),
            monitoring: Monitoring::default(),
        }
    }
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            origins: vec!["http://localhost:3000".into()],
            credentials: true,
        }
    }
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            max_connections: 1000,
            ping_timeout: 20_000,
            ping_interval: 25_000,
            connection_timeout: 45_000,
            header_timeout: 10_000,
            max_pending_connections: 4096,
            max_pending_connections_per_ip: 256,
            recovery: Recovery::default(),
        }
    }
}

impl Default for RateLimiting {
    fn default() -> Self {
        RateLimiting {
            enabled: false,
            max_events_per_second: 10,
        }
    }
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms {
            auto_join_by_role: BTreeMap::new(),
            enable_private_rooms: false,
            enable_private_messages: true,
            max_rooms_per_socket: 100,
        }
    }
}

impl Default for Events {
    fn default() -> Self {
        Events {
            custom_event_names: Vec::new(),
            include_relations: false,
            exclude_fields: Vec::new(),
            only_published: false,
            format: Format::V5,
        }
    }
}

impl Default for EntitySubscriptions {
    fn default() -> Self {
        EntitySubscriptions {
            enabled: true,
            max_subscriptions_per_socket: 100,
            require_verification: true,
            allowed_content_types: Vec::new(),
            enable_metrics: true,
            draft_audiences: Vec::new(),
        }
    }
}

impl Default for RolePermission {
    fn default() -> Self {
        RolePermission {
            can_connect: true,
            content_types: BTreeMap::new(),
        }
    }
}

impl Default for Redis {
    fn default() -> Self {
        Redis {
            enabled: false,
            url: "redis://127.0.0.1:6379".into(),
        }
    }
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            enable_connection_logging: true,
            enable_event_logging: true,
            max_event_log_size: 100,
        }
    }
}

/// One problem found in a settings document: where and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsProblem {
    /// Dotted path of the offending key (`settings.connection.pingTimeout`).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Parses an address or CIDR range (`10.0.0.0/8`, `::1`, `2001:db8::/32`).
pub fn parse_ip_range(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{s}` has an invalid prefix length"))?,
    };
    Ok((addr, prefix))
}

impl Settings {
    /// `Ok`, or every problem, its path under `settings`.
    pub fn check(&self) -> Result<(), Vec<SettingsProblem>> {
        let problems = self.problems("settings");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Checks values that types alone cannot: ranges, IP lists, room names, content type
    /// uids, namespace names. `prefix` is prepended to each path (`settings`).
    pub fn problems(&self, prefix: &str) -> Vec<SettingsProblem> {
        let doc = serde_json::to_value(self).unwrap_or_default();
        let template = serde_json::to_value(Settings::default()).unwrap_or_default();
        let mut out = Vec::new();
        check_shape(&doc, &template, prefix, "", &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_roundtrip_and_unknown_keys_fail() {
        let s = Settings::default();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["connection"]["pingTimeout"], 20000);
        assert_eq!(v["events"]["format"], "v5");
        let back: Settings = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let err = serde_json::from_str::<Settings>(r#"{"connection":{"pingTimout":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pingTimout"), "{err}");
        let partial: Settings = serde_json::from_str(r#"{"events":{"format":"v4"}}"#).unwrap();
        assert_eq!(partial.events.format, Format::V4);
        assert_eq!(partial.connection.ping_interval, 25000);
    }

    #[test]
    fn problems_have_paths() {
        let mut s = Settings::default();
        s.connection.ping_timeout = 0;
        s.security.ip_blacklist = vec!["10.0.0.0/8".into(), "nope".into(), "::1/129".into()];
        s.rooms
            .auto_join_by_role
            .insert("public".into(), vec!["io-role-x".into()]);
        s.entity_subscriptions.allowed_content_types = vec!["Article".into()];
        let p: Vec<String> = s
            .problems("settings")
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p[0].starts_with("settings.connection.pingTimeout: "));
        assert!(
            p.iter()
                .any(|m| m.starts_with("settings.security.ipBlacklist[1]: "))
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("settings.security.ipBlacklist[2]: "))
        );
        assert!(
            p.iter()
                .any(|m| m == "settings.rooms.autoJoinByRole.public[0]: Room name is reserved")
        );
        assert!(Settings::default().problems("settings").is_empty());
    }

    #[test]
    fn ip_ranges() {
        assert_eq!(parse_ip_range("127.0.0.1").unwrap().1, 32);
        assert_eq!(parse_ip_range("10.0.0.0/8").unwrap().1, 8);
        assert_eq!(parse_ip_range("2001:db8::/32").unwrap().1, 32);
        assert!(parse_ip_range("10.0.0.0/33").is_err());
        assert!(parse_ip_range("host").is_err());
    }
}

/// Where the settings have maps with free keys, the shape of their values:
/// `bool` (actions), `strings` (room lists), `role` / `namespace` (settings objects).
fn free_map(path: &str) -> Option<&'static str> {
    match path {
        "rolePermissions" => Some("role"),
        "rooms.autoJoinByRole" => Some("strings"),
        "namespaces.list" => Some("namespace"),
        _ if path.starts_with("rolePermissions.") && path.ends_with(".contentTypes") => {
            Some("actions")
        }
        _ if path.starts_with("rolePermissions.") && path.contains(".contentTypes.") => {
            Some("bool")
        }
        _ => None,
    }
}

fn type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value::*;
    match v {
        Null => "null",
        Bool(_) => "a boolean",
        Number(_) => "a number",
        String(_) => "a string",
        Array(_) => "an array",
        Object(_) => "an object",
    }
}

/// The accepted range of a number setting, and its unit for messages. Durations stay far
/// below 2^31 − 1 ms (what a JavaScript timer holds; clients arm one for
/// `pingInterval + pingTimeout`); counts have ceilings that bound memory.
pub fn number_range(path: &str) -> Option<(u64, u64, &'static str)> {
    const HOUR_MS: u64 = 3_600_000;
    Some(match path {
        "connection.pingInterval" | "connection.pingTimeout" | "connection.connectionTimeout" => {
            (100, HOUR_MS, " ms")
        }
        "connection.headerTimeout" => (500, 300_000, " ms"),
        "connection.maxConnections" => (1, 10_000_000, ""),
        "connection.maxPendingConnections" | "connection.maxPendingConnectionsPerIp" => {
            (1, 1_000_000, "")
        }
        "security.rateLimiting.maxEventsPerSecond" => (1, 1_000_000, ""),
        "rooms.maxRoomsPerSocket" | "entitySubscriptions.maxSubscriptionsPerSocket" => {
            (0, 10_000, "")
        }
        "monitoring.maxEventLogSize" => (0, 10_000, ""),
        "connection.recovery.maxDisconnectionDuration" => (0, HOUR_MS, " ms"),
        "connection.recovery.maxMissedPackets" => (1, 1_000_000, ""),
        "connection.recovery.maxMissedBytes" => (1, 1 << 30, " bytes"),
        "connection.recovery.maxBufferedBytes" => (1, 16 << 30, " bytes"),
        _ => return None,
    })
}

/// What is wrong with a well-typed value at `path` (array elements: the array's path).
fn value_problem(path: &str, v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (path, v) {
        (p, Value::Number(n)) => {
            let (min, max, unit) = number_range(p)?;
            let n = n.as_u64()?;
            (n < min || n > max).then(|| format!("must be between {min} and {max}{unit}"))
        }
        (
            "security.ipWhitelist" | "security.ipBlacklist" | "security.trustedProxies",
            Value::String(s),
        ) => parse_ip_range(s).err(),
        ("entitySubscriptions.allowedContentTypes", Value::String(s))
            if !crate::rooms::is_valid_uid(s) =>
        {
            Some(format!("`{s}` is not a content type uid"))
        }
        (p, Value::String(s)) if p.starts_with("rooms.autoJoinByRole.") => {
            crate::rooms::validate_client_room(s)
                .err()
                .map(|e| e.to_string())
        }
        _ => None,
    }
}

fn check_shape(
    value: &serde_json::Value,
    template: &serde_json::Value,
    prefix: &str,
    path: &str,
    out: &mut Vec<SettingsProblem>,
) {
    use serde_json::Value;
    let full = |p: &str| {
        if p.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{p}")
        }
    };
    let mut problem = |message: String| {
        out.push(SettingsProblem {
            path: full(path),
            message,
        })
    };
    match (template, value) {
        (Value::Object(t), Value::Object(v)) => {
            let free = free_map(path);
            if free == Some("namespace") {
                for name in v.keys() {
                    let bare = name.trim_start_matches('/');
                    if bare.is_empty()
                        || !bare
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        out.push(SettingsProblem {
                            path: full(&format!("{path}.{name}")),
                            message: "namespace names use [A-Za-z0-9_-]".into(),
                        });
                    }
                }
            }
            for (k, child) in v {
                let child_path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let child_template = match free {
                    Some("role") => serde_json::to_value(RolePermission::default()).ok(),
                    Some("namespace") => serde_json::to_value(NamespaceSettings::default()).ok(),
                    Some("strings") => Some(serde_json::json!(["x"])),
                    Some("actions") => Some(serde_json::json!({})),
                    Some("bool") => Some(Value::Bool(true)),
                    _ => t.get(k).cloned(),
                };
                match child_template {
                    Some(ct) => check_shape(child, &ct, prefix, &child_path, out),
                    None => out.push(SettingsProblem {
                        path: full(&child_path),
                        message: "unknown key".into(),
                    }),
                }
            }
        }
        (Value::Array(_), Value::Array(v)) => {
            for (i, item) in v.iter().enumerate() {
                let message = if item.is_string() {
                    value_problem(path, item)
                } else {
                    Some(format!("expected a string, found {}", type_name(item)))
                };
                if let Some(message) = message {
                    out.push(SettingsProblem {
                        path: format!("{}[{i}]", full(path)),
                        message,
                    });
                }
            }
        }
        (Value::Number(_), Value::Number(n)) => {
            if !n.is_u64() {
                problem("expected a whole number ≥ 0".into());
            } else if let Some(m) = value_problem(path, value) {
                problem(m);
            }
        }
        (Value::String(_), Value::String(s)) => {
            if path == "events.format" && s != "v4" && s != "v5" {
                problem(format!("expected \"v4\" or \"v5\", found \"{s}\""));
            }
        }
        (Value::Bool(_), Value::Bool(_)) => {}
        (t, v) => problem(format!("expected {}, found {}", type_name(t), type_name(v))),
    }
}

impl Settings {
    /// Parses a whole settings document (keys left out take their defaults), reporting
    /// every unknown key, wrong type and invalid value with its path — not just the first.
    pub fn from_document(doc: &serde_json::Value) -> Result<Settings, Vec<SettingsProblem>> {
        let template = serde_json::to_value(Settings::default()).unwrap_or_default();
        let mut problems = Vec::new();
        match doc {
            serde_json::Value::Object(_) => {
                check_shape(doc, &template, "settings", "", &mut problems)
            }
            other => problems.push(SettingsProblem {
                path: "settings".into(),
                message: format!("expected an object, found {}", type_name(other)),
            }),
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let settings: Settings = serde_path_to_error::deserialize(doc.clone()).map_err(|e| {
            vec![SettingsProblem {
                path: format!("settings.{}", e.path()),
                message: e.into_inner().to_string(),
            }]
        })?;
        Ok(settings)
    }
}

#[cfg(test)]
mod document_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let doc = json!({
            "connection": {"pingTimeout": "soon", "pingIntervall": 5},
            "security": {"ipBlacklist": ["10.0.0.0/8", 7], "rateLimiting": {"enabled": "yes"}},
            "events": {"format": "v6"},
            "rolePermissions": {"public": {"canConnect": 1, "contentTypes": {"api::a.a": {"create": "no"}}}},
            "rooms": {"autoJoinByRole": {"public": "lobby"}},
            "bogus": true
        });
        let problems = Settings::from_document(&doc).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for expected in [
            "settings.connection.pingTimeout: expected a number, found a string",
            "settings.connection.pingIntervall: unknown key",
            "settings.security.ipBlacklist[1]: expected a string, found a number",
            "settings.security.rateLimiting.enabled: expected a boolean, found a string",
            "settings.events.format: expected \"v4\" or \"v5\", found \"v6\"",
            "settings.rolePermissions.public.canConnect: expected a boolean, found a number",
            "settings.rolePermissions.public.contentTypes.api::a.a.create: expected a boolean, found a string",
            "settings.rooms.autoJoinByRole.public: expected an array, found a string",
            "settings.bogus: unknown key",
        ] {
            assert!(
                text.iter().any(|t| t == expected),
                "missing {expected:?} in {text:#?}"
            );
        }
        assert_eq!(text.len(), 9, "{text:#?}");
    }

    #[test]
    fn wrong_types_and_invalid_values_are_reported_together() {
        let doc = json!({"security": {"ipBlacklist": ["not-an-ip"]}, "events": {"format": "v6"},
            "bogus": true, "connection": {"pingInterval": 0}, "namespaces": {"list": {"a b": {}}}});
        let paths: Vec<String> = Settings::from_document(&doc)
            .unwrap_err()
            .into_iter()
            .map(|p| p.path)
            .collect();
        for expected in [
            "settings.security.ipBlacklist[0]",
            "settings.events.format",
            "settings.bogus",
            "settings.connection.pingInterval",
            "settings.namespaces.list.a b",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} missing from {paths:?}"
            );
        }
        assert_eq!(paths.len(), 5, "{paths:?}");
    }

    #[test]
    fn durations_that_would_break_client_timers_are_refused() {
        for bad in [
            json!({"connection": {"pingInterval": 2_147_483_648u64}}),
            json!({"connection": {"pingInterval": u64::MAX}}),
            json!({"connection": {"pingTimeout": 3_600_001}}),
            json!({"connection": {"connectionTimeout": 99}}),
            json!({"connection": {"headerTimeout": 0}}),
            json!({"connection": {"maxPendingConnectionsPerIp": 0}}),
            json!({"rooms": {"maxRoomsPerSocket": 10_001}}),
            json!({"monitoring": {"maxEventLogSize": 4_000_000_000u64}}),
            json!({"entitySubscriptions": {"maxSubscriptionsPerSocket": 4_294_967_295u64}}),
        ] {
            let problems = Settings::from_document(&bad).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(
                problems[0].message.starts_with("must be between "),
                "{bad}: {problems:?}"
            );
        }
        // 2^64 is no whole number a setting can hold
        let huge: serde_json::Value =
            serde_json::from_str(r#"{"connection": {"pingInterval": 18446744073709551616}}"#)
                .unwrap();
        assert!(Settings::from_document(&huge).is_err());
        // the bounds themselves are accepted; the longest heartbeat fits a JS timer
        let edge = Settings::from_document(&json!({"connection": {
            "pingInterval": 3_600_000, "pingTimeout": 3_600_000, "connectionTimeout": 100,
            "headerTimeout": 500}, "rooms": {"maxRoomsPerSocket": 0}}))
        .unwrap();
        assert!(edge.connection.ping_interval + edge.connection.ping_timeout < (1 << 31) - 1);
    }

    #[test]
    fn every_number_setting_has_a_range() {
        fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, child) in m {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        walk(child, &p, out);
                    }
                }
                serde_json::Value::Number(_) => out.push(path.to_string()),
                _ => {}
            }
        }
        let mut numbers = Vec::new();
        walk(
            &serde_json::to_value(Settings::default()).unwrap(),
            "",
            &mut numbers,
        );
        assert!(numbers.len() >= 10, "{numbers:?}");
        for path in numbers {
            let (min, max, _) =
                number_range(&path).unwrap_or_else(|| panic!("{path} has no range"));
            assert!(min <= max);
        }
    }

    #[test]
    fn valid_documents_and_semantic_problems() {
        let s = Settings::from_document(&json!({"security": {"ipBlacklist": ["::1"]}})).unwrap();
        assert_eq!(s.security.ip_blacklist, vec!["::1"]);
        assert_eq!(
            s.connection.ping_interval, 25_000,
            "missing keys take defaults"
        );
        let full = serde_json::to_value(Settings::default()).unwrap();
        assert_eq!(Settings::from_document(&full).unwrap(), Settings::default());
        let bad =
            Settings::from_document(&json!({"security": {"ipBlacklist": ["nope"]}})).unwrap_err();
        assert_eq!(bad[0].path, "settings.security.ipBlacklist[0]");
        assert!(Settings::from_document(&json!([1])).is_err());
    }
}
