//! [`Occupancy`]: this node's members of each audience room and audience-scoped entity
//! room, counted as sockets join and leave, so that an emit skips audiences nobody here
//! belongs to.

use std::collections::HashMap;
use std::sync::Mutex;

/// Local members per room, for the rooms an emit targets.
#[derive(Debug, Default)]
pub(crate) struct Occupancy(Mutex<HashMap<String, usize>>);

impl Occupancy {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more local member in `room`.
    pub(crate) fn occupy(&self, room: &str) {
        *self.lock().entry(room.to_string()).or_default() += 1;
    }

    /// One member fewer in `room`.
    pub(crate) fn vacate(&self, room: &str) {
        let mut map = self.lock();
        if let Some(n) = map.get_mut(room) {
            *n -= 1;
            if *n == 0 {
                map.remove(room);
            }
        }
    }

    /// Whether any of `rooms` has a local member.
    pub(crate) fn occupied(&self, rooms: &[String]) -> bool {
        let map = self.lock();
        rooms.iter().any(|r| map.contains_key(r))
    }
}
