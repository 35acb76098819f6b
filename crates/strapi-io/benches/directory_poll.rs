//! The cost of the strapi directory's change watch (`directory.refreshSeconds`): one poll
//! of a database whose tables did not change (what the gateway pays every interval), and
//! one poll after a user was blocked (the fingerprint, the user delta and the cache drop;
//! the blocking write is included), on a copy of the fixture's SQLite database and on a
//! throwaway PostgreSQL cluster loaded with the fixture's dump, each grown to `USERS`
//! users. Run: `cargo bench -p strapi-io --bench directory_poll` (PostgreSQL needs its
//! server binaries, as the tests do).
#![allow(missing_docs)]

#[path = "../tests/pg/mod.rs"]
#[allow(dead_code)]
mod pg;

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use strapi_io::{StrapiDirectory, StrapiDirectoryOptions};

/// Users in each database while polling.
const USERS: i64 = 100_000;
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/strapi5.db");
const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/strapi5-postgres.sql"
);

/// Inserts users from id 1000 up to `USERS` in all, with their role links.
fn grow_sql(now: &str) -> String {
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO up_users (id, username, email, confirmed, blocked, created_at, updated_at) \
         SELECT i, 'user' || i, 'user' || i || '@example.com', true, false, {now}, {now} FROM n; \
         INSERT INTO up_users_role_lnk (user_id, role_id, user_ord) \
         SELECT id, 1, 1 FROM up_users WHERE id >= 1000;",
        last = 1000 + USERS - 5
    )
}

fn options() -> StrapiDirectoryOptions {
    StrapiDirectoryOptions {
        refresh: Duration::ZERO,
        ..StrapiDirectoryOptions::default()
    }
}

fn bench_sqlite(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = std::env::temp_dir().join(format!("strapi-io-poll-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("data.db");
    std::fs::copy(FIXTURE, &path).expect("copy the fixture");
    let mut perms = std::fs::metadata(&path).expect("metadata").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).expect("writable");
    let url = format!("sqlite://{}", path.display());
    let writer = rt.block_on(async {
        let w = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .expect("writer");
        sqlx::raw_sql(&grow_sql("1795649745342"))
            .execute(&w)
            .await
            .expect("grow");
        w
    });
    let d = rt
        .block_on(StrapiDirectory::open(&url, "s", "s", options()))
        .expect("open");
    let mut group = c.benchmark_group("sqlite");
    group.sample_size(30);
    group.bench_function("poll, nothing changed (100k users)", |b| {
        b.iter(|| assert!(!rt.block_on(d.poll()).expect("poll")));
    });
    let mut ms = 1_900_000_000_000_i64;
    group.bench_function("block a user, then poll (100k users)", |b| {
        b.iter(|| {
            ms += 1;
            rt.block_on(async {
                sqlx::query(
                    "UPDATE up_users SET blocked = NOT blocked, updated_at = ? WHERE id = 2",
                )
                .bind(ms)
                .execute(&writer)
                .await
                .expect("update");
                assert!(d.poll().await.expect("poll"));
            });
        });
    });
    group.finish();
    rt.block_on(d.close());
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench_postgres(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let cluster = pg::PgCluster::start();
    cluster.psql("postgres", "CREATE DATABASE strapi");
    cluster.load_dump("strapi", Path::new(DUMP));
    cluster.psql(
        "postgres",
        "CREATE ROLE bench LOGIN SUPERUSER PASSWORD 'bench'",
    );
    cluster.psql(
        "strapi",
        &format!(
            "{} SELECT setval(pg_get_serial_sequence('up_users', 'id'), (SELECT max(id) FROM up_users)); ANALYZE;",
            grow_sql("now() AT TIME ZONE 'UTC'")
        ),
    );
    let url = cluster.url("bench", "bench", "strapi");
    let d = rt
        .block_on(StrapiDirectory::open(&url, "s", "s", options()))
        .expect("open");
    let writer = rt
        .block_on(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&url),
        )
        .expect("writer");
    let mut group = c.benchmark_group("postgres");
    group.sample_size(30);
    group.bench_function("poll, nothing changed (100k users)", |b| {
        b.iter(|| assert!(!rt.block_on(d.poll()).expect("poll")));
    });
    group.bench_function("block a user, then poll (100k users)", |b| {
        b.iter(|| {
            rt.block_on(async {
                sqlx::query(
                    "UPDATE up_users SET blocked = NOT blocked, \
                     updated_at = clock_timestamp() AT TIME ZONE 'UTC' WHERE id = 2",
                )
                .execute(&writer)
                .await
                .expect("update");
                assert!(d.poll().await.expect("poll"));
            });
        });
    });
    group.finish();
    rt.block_on(async {
        writer.close().await;
        d.close().await;
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    bench_sqlite(c, &rt);
    bench_postgres(c, &rt);
}

criterion_group!(poll, benches);
criterion_main!(poll);
