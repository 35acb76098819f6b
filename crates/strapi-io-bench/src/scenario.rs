//! The benchmark scenarios (`idle`, `fanout`, `entity`, `storm`, `recovery`) and what each implies: its
//! name, whether it emits, the event and content type it is about. Both the run's settings
//! ([`crate::config`]) and the audiences ([`crate::audience`], which knows where the demo
//! routes each scenario's event) depend on it; it depends on neither.

use serde::{Deserialize, Serialize};

/// The benchmark scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Connect N clients, hold them, measure the server's memory.
    Idle,
    /// Connect N clients in an audience mix and drive `article:update` events to all.
    Fanout,
    /// N clients subscribe to entities; `comment:update` events reach the subscribers.
    Entity,
    /// N connects as fast as possible: handshake rate and time.
    Storm,
    /// `article:update` events flow; every client drops its connection at once and
    /// reconnects with its session id and last offset (connection state recovery).
    Recovery,
}

impl Scenario {
    /// The scenario's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Fanout => "fanout",
            Scenario::Entity => "entity",
            Scenario::Storm => "storm",
            Scenario::Recovery => "recovery",
        }
    }

    /// Whether the scenario drives content events.
    pub fn emits(self) -> bool {
        matches!(
            self,
            Scenario::Fanout | Scenario::Entity | Scenario::Recovery
        )
    }

    /// The Socket.IO event name the clients receive.
    pub fn event_name(self) -> &'static str {
        match self {
            Scenario::Entity => "comment:update",
            _ => "article:update",
        }
    }

    /// The content type the events are about.
    pub fn schema(self) -> &'static str {
        match self {
            Scenario::Entity => "api::comment.comment",
            _ => "api::article.article",
        }
    }
}
