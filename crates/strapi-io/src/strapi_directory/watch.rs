//! Change detection for a [`super::StrapiDirectory`]: a fingerprint of the tables the
//! directory reads, taken in one cheap query every `refresh` interval, and what a
//! difference between two fingerprints means.
//!
//! Per table: the row count, the highest id (Strapi's ids are `AUTOINCREMENT` / sequences,
//! never reused) and, where the table has one, the latest `updated_at` — so an insert, a
//! delete or an update each move at least one of them. Link tables have no `updated_at`;
//! Strapi replaces a link (a user's role) by deleting the row and inserting a new one,
//! which moves the highest id. The users-permissions `advanced` settings are compared by
//! their text.
//!
//! Roles, permissions, tokens and settings are small: any difference there reloads the whole
//! snapshot. Users can be many: a difference there looks up only the users updated or
//! created since the last fingerprint (and those whose role link is newer), unless users
//! were deleted, which drops the whole user cache.

use std::collections::BTreeMap;

use super::db::{Db, DbError, Param};
use super::snapshot::ADVANCED_KEY;

/// The tables whose changes concern users rather than the snapshot.
const USERS: &str = "up_users";
const USER_LINKS: &str = "up_users_role_lnk";

/// One table's state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Part {
    part: String,
    n: i64,
    max_id: Option<i64>,
    max_ms: Option<i64>,
    extra: Option<String>,
}

/// The state of every watched table at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Fingerprint {
    parts: BTreeMap<String, Part>,
}

/// What differs between two fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Diff {
    /// Roles, permissions, API tokens or the advanced settings.
    pub snapshot: bool,
    /// Users or their role links.
    pub users: bool,
}

/// The watermarks a user delta starts from (see [`Fingerprint::user_marks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UserMarks {
    /// Latest `up_users.updated_at`, epoch ms.
    pub updated_ms: i64,
    /// Highest `up_users.id`.
    pub user_id: i64,
    /// Highest `up_users_role_lnk.id`.
    pub link_id: i64,
}

impl Fingerprint {
    /// Reads the fingerprint (one query).
    pub(super) async fn read(db: &Db) -> Result<Fingerprint, DbError> {
        let rows: Vec<Part> = db
            .fetch_all(db.sql().fingerprint, &[Param::Text(ADVANCED_KEY)])
            .await?;
        Ok(Fingerprint {
            parts: rows.into_iter().map(|p| (p.part.clone(), p)).collect(),
        })
    }

    /// Which side of the directory `newer` changed.
    pub(super) fn diff(&self, newer: &Fingerprint) -> Diff {
        let mut diff = Diff::default();
        for name in self.parts.keys().chain(newer.parts.keys()) {
            if self.parts.get(name) == newer.parts.get(name) {
                continue;
            }
            if name == USERS || name == USER_LINKS {
                diff.users = true;
            } else {
                diff.snapshot = true;
            }
        }
        diff
    }

    /// Where a delta of users changed after this fingerprint starts.
    pub(super) fn user_marks(&self) -> UserMarks {
        let users = self.parts.get(USERS);
        UserMarks {
            updated_ms: users.and_then(|p| p.max_ms).unwrap_or(0),
            user_id: users.and_then(|p| p.max_id).unwrap_or(0),
            link_id: self
                .parts
                .get(USER_LINKS)
                .and_then(|p| p.max_id)
                .unwrap_or(0),
        }
    }

    /// Whether users may have been deleted between this fingerprint and `newer`: fewer
    /// rows were added than ids were used (a rolled-back insert that used a sequence value
    /// also counts, which only costs a full re-check).
    pub(super) fn users_deleted(&self, newer: &Fingerprint) -> bool {
        let (Some(old), Some(new)) = (self.parts.get(USERS), newer.parts.get(USERS)) else {
            return true;
        };
        let added_rows = new.n - old.n;
        let used_ids = new.max_id.unwrap_or(0) - old.max_id.unwrap_or(0);
        added_rows < used_ids || added_rows < 0
    }
}

/// The ids of users updated at or after `marks.updated_ms`, created after
/// `marks.user_id`, or with a role link newer than `marks.link_id`.
pub(super) async fn changed_users(db: &Db, marks: UserMarks) -> Result<Vec<i64>, DbError> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let rows: Vec<Id> = db
        .fetch_all(
            db.sql().changed_users,
            &[
                Param::Int(marks.updated_ms),
                Param::Int(marks.user_id),
                Param::Int(marks.link_id),
            ],
        )
        .await?;
    let mut ids: Vec<i64> = rows.into_iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, n: i64, max_id: i64, max_ms: Option<i64>) -> Part {
        Part {
            part: name.to_string(),
            n,
            max_id: Some(max_id),
            max_ms,
            extra: None,
        }
    }

    fn print(parts: Vec<Part>) -> Fingerprint {
        Fingerprint {
            parts: parts.into_iter().map(|p| (p.part.clone(), p)).collect(),
        }
    }

    #[test]
    fn diffs_name_the_side_that_changed() {
        let base = print(vec![
            part("up_roles", 3, 3, Some(10)),
            part(USERS, 4, 4, Some(20)),
            part(USER_LINKS, 4, 4, None),
        ]);
        assert_eq!(base.diff(&base.clone()), Diff::default());
        let role_renamed = print(vec![
            part("up_roles", 3, 3, Some(11)),
            part(USERS, 4, 4, Some(20)),
            part(USER_LINKS, 4, 4, None),
        ]);
        assert_eq!(
            base.diff(&role_renamed),
            Diff {
                snapshot: true,
                users: false
            }
        );
        // A role change: the link replaced (same count, a new id).
        let relinked = print(vec![
            part("up_roles", 3, 3, Some(10)),
            part(USERS, 4, 4, Some(20)),
            part(USER_LINKS, 4, 5, None),
        ]);
        assert_eq!(
            base.diff(&relinked),
            Diff {
                snapshot: false,
                users: true
            }
        );
        assert!(!base.users_deleted(&relinked));
        assert_eq!(
            base.user_marks(),
            UserMarks {
                updated_ms: 20,
                user_id: 4,
                link_id: 4
            }
        );
    }

    #[test]
    fn deletions_are_told_from_inserts() {
        let base = print(vec![part(USERS, 4, 4, Some(20))]);
        let registered = print(vec![part(USERS, 5, 5, Some(30))]);
        assert!(!base.users_deleted(&registered));
        let deleted = print(vec![part(USERS, 3, 4, Some(20))]);
        assert!(base.users_deleted(&deleted));
        // One registered and one deleted in the same interval: same count, a new id.
        let both = print(vec![part(USERS, 4, 5, Some(30))]);
        assert!(base.users_deleted(&both));
        assert!(base.users_deleted(&Fingerprint::default()));
    }
}
