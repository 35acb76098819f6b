//! # strapi-io-bench
//!
//! The load generator of issue 5: it measures a Socket.IO server that implements the
//! strapi-io handshake and `POST /api/io/emit` — the strapi-io gateway or the Node reference
//! (`bench/node-reference`) — with many real client connections. It speaks Engine.IO v4 /
//! Socket.IO v5 over WebSocket itself (tokio-tungstenite, one lightweight task per client)
//! and relies on nothing else of the server: handshake `auth`, the `subscribe-entity` ack,
//! the event names and the `{data:{…}, meta:{}}` payloads.
//!
//! ## Scenarios
//!
//! ```text
//! strapi-io-bench idle   --clients 19000 --hold 60 --server-pid PID     # memory per connection
//! strapi-io-bench fanout --clients 10000 --events 6000 --rate 100       # article:update to 4 audiences
//! strapi-io-bench fanout --clients 10000 --events 20000 --rate 0 --concurrency 8 --settle 30
//! strapi-io-bench entity --clients 10000 --subs-per-client 10 --entities 1000 --events 5000
//! strapi-io-bench storm  --clients 19000 --concurrency 500
//! strapi-io-bench config --ping-interval 1000 --ping-timeout 1000 --extra-tokens 12 --out /tmp/b.toml
//! ```
//!
//! - `idle`: connect N clients, hold `--hold` seconds (they answer every heartbeat), read the
//!   server's `VmRSS` before connecting, once connected and after the hold.
//! - `fanout`: clients in the `--mix` of audiences (default `public=1,reader=1,editor=1,dashboard=1`;
//!   also `comments`, `extra-<n>` and ranges `extra-1..12=1`); `--events` updates of
//!   `api::article.article` (`data: {benchSeq, benchSentAt, id: seq % M + 1,
//!   documentId: "bench-<id>", title, body}`) at `--rate` per second, or with `--rate 0` as
//!   fast as `--concurrency` requests in flight allow. Every client of a routed audience (all
//!   but `comments`) must get every event once, in order.
//! - `entity`: client `i` subscribes to entities `(i*k + j) % M + 1`, `j < k`
//!   (`--subs-per-client k`, `--entities M`) of `api::comment.comment`; event `seq` updates
//!   entity `seq % M + 1`. Public (the default mix) is not routed `comment:update` in the
//!   demo config, so each client must get exactly the events of its entities, in order per
//!   entity. The server needs `bench/configs/bench.toml` (no entity verification, 1000
//!   subscriptions per socket, no rate limit).
//! - `storm`: N connects, `--concurrency` in flight: handshake rate and time.
//! - `--hold S` with `fanout`/`entity`: hold the connected clients S seconds (heartbeats
//!   only) before the first emit; memory is read again after the hold.
//! - `--settle S` with `fanout`/`entity` (default 0 = skip): once the emits are drained, keep
//!   the connections open S more seconds (heartbeats only), then read the server's memory
//!   again (`settled`: how far it came back towards the figure read once connected).
//!   Refused for `idle` (its `--hold` is that wait) and `storm`.
//!
//! ## Memory
//!
//! With `--server-pid`, the bench reads each server's `VmRSS` (`/proc/<pid>/status`) before
//! connecting (`before`), once all clients are connected (`connected`), after the hold of
//! `fanout`/`entity` (`held`), at the end — after the hold of `idle`, the drain of the
//! others — (`after`), and after `--settle` (`settled`). A background thread also reads it
//! every 50 ms over the working phase — from the first emit to the end of the drain of
//! `fanout`/`entity`, the hold of `idle`; none for `storm` — and keeps the highest value
//! (`peak`; the readings at both ends of the phase count). Each figure is also given per
//! connection: (figure − before) / established connections. With several servers each node
//! has its own figures and the top-level ones are sums; the summed peak is the highest total
//! read at one instant (at most the sum of the nodes' peaks).
//! - `config`: writes a server config derived from `bench/configs/bench.toml` with other
//!   `pingInterval`/`pingTimeout` and `--extra-tokens N` read-only API tokens
//!   `bench-extra-1…N` (plain `demo-token-bench-extra-<n>`) for runs with more audiences.
//!
//! Audiences: `public` (no auth), `reader` (JWT of user 2), `editor` (JWT of user 1; both
//! HS256 with `--jwt-secret`, payload `{id, iat, exp}`), `dashboard` and `comments` (API
//! tokens `demo-token-dashboard`, `demo-token-comments-only`), `extra-<n>`.
//!
//! ## Several servers (a cluster)
//!
//! ```text
//! strapi-io-bench fanout --target http://127.0.0.1:A,http://127.0.0.1:B --emit-target 1 \
//!     --server-pid PA,PB --redis-pid PR --clients 10000 --events 1000 --rate 100
//! ```
//!
//! `--target` may be repeated (or hold comma-separated URLs): the clients are spread over
//! the servers in **contiguous blocks** of client indices — node `n` of `K` gets clients
//! `⌊N·n/K⌋ … ⌊N·(n+1)/K⌋ − 1`, the same split as worker processes, so every node gets the
//! same audience mix and, with `--processes` a multiple of the nodes, each worker talks to
//! one node. The emit requests go to one node (`--emit-target`, a 1-based number or a URL;
//! default the first); the other nodes' clients get the events through the cluster (Redis).
//! Correctness is per client whatever its node, so missing, duplicate and reordered counts
//! stay exact; they are also reported per node, with each node's latency. `--server-pid`
//! takes one pid per target (same order): memory and CPU are reported per node and summed.
//! `--redis-pid` adds Redis's CPU time (utime + stime of `/proc/<pid>/stat`) over the run and
//! as a percentage of one core, and its memory. Once connected, the bench reads each node's
//! `GET /health` `connections` and warns when it differs from what it holds there; at the
//! end it reads each node's `GET /metrics` for `strapi_io_cluster_errors_total` (operations
//! that could not reach the other nodes — the emit RPC answers 200 even then) and
//! `strapi_io_heartbeat_disconnects_total`.
//! `bench/cluster.sh` starts a throwaway Redis and N gateways and runs this.
//!
//! ## Bounds
//!
//! Targets must be in 127.0.0.0/8 (at most 64, each given once). Every run stops by itself: per-client
//! `--connect-timeout` (connect + upgrade + handshake + subscriptions), `--duration` caps the
//! emit phase, `--drain-timeout` (default 5 s) the wait for the last deliveries, `--settle`
//! the rest after them, `--deadline` (default hold + duration + drain + settle + 600 s) the
//! whole run, and each emit request times out
//! after 10 s. The bench raises its open-files soft limit to the hard limit and reports it.
//! One process opens at most 19,500 sockets (the limit here is 20,000 files); more clients
//! need `--processes P`: the parent starts P hidden `worker` processes, each holding a
//! contiguous share of the client indices (audiences and subscriptions depend on the global
//! index, so a run is the same in one process or many); they print `READY` when their clients
//! are connected, the parent drives the emits, then asks each to drain and report (its counts
//! and its hdrhistograms, V2-serialized in base64) and merges them (protocol in [`run`]).
//! Loopback offers one ephemeral port range per source address: `--source-ips K` binds
//! clients to 127.0.0.2 … 127.0.0.(1+K) so more than ~28k connections fit.
//!
//! ## Correctness counters
//!
//! Each client keeps a bitset of the `benchSeq`s it got and its highest seq. A seq seen
//! again is a duplicate; a seq arriving after a later seq of the same entity
//! (`seq ≡ later mod M`) is out of order — the emitter never has two events of one entity in
//! flight, and with `--concurrency 1` (the default) never two events at all, so order is well
//! defined. Missing = due (every successfully emitted event for routed clients, those of its
//! entities for a subscriber) minus received. `--duplicate-every D` sends every D-th event
//! twice with the same seq, so the report must show duplicates. Latency is `benchSentAt`
//! (stamped just before the request) to receipt, recorded in µs in hdrhistograms.
//!
//! With `--rate R` and the default `--concurrency 1`, each request waits for the previous
//! answer: when the server takes longer than 1/R to answer an emit, the achieved rate drops
//! (reported, with a warning); `--concurrency C` keeps up to C requests in flight.
//! Memory per connection is only meaningful against a freshly started server (an allocator
//! reuses what earlier runs freed).
//!
//! Exit status: 0 when every correctness counter is zero, 3 when not (`violations` lists
//! them), 1 on errors (unreachable server, deadline), 2 on bad arguments.
//!
//! ## The JSON report (`--json FILE`)
//!
//! Field names are stable; times in ms unless the name says `_s`, memory in KiB.
//!
//! | field | meaning |
//! |---|---|
//! | `tool`, `version`, `label`, `scenario`, `started_at_unix_ms`, `elapsed_s` | the run |
//! | `target`, `targets[]`, `emit_node` | the server the emits went to, every server, and the emit server's 1-based number |
//! | `config.{clients, processes, mix, source_ips, events, rate, concurrency, payload_bytes, entities, subs_per_client, hold_s, duration_s, drain_timeout_s, settle_s, duplicate_every, threads, nodes, spread}` | its settings (`spread`: `contiguous`) |
//! | `nofile_limit` | open-files soft limit after raising it to the hard limit |
//! | `connections.{attempted, established, failed}` | clients |
//! | `connections.errors[] {message, count}` | connect failures, first few kinds |
//! | `connections.handshake_rate_per_s`, `handshake_window_s` | established / (last handshake − first attempt) |
//! | `connections.handshake_ms.{count, p50, p99, p999, max, mean}` | TCP connect → Socket.IO CONNECT ack |
//! | `connections.lost`, `lost_errors[]` | connections the server closed before the end |
//! | `connections.pings` | heartbeats answered (all clients) |
//! | `subscriptions.{requested, ok, failed, errors[], resent}` | `subscribe-entity` acks; `resent`: sent again after 2 s without an ack (at most twice) |
//! | `memory.{server_pid, server_pids, rss_before_kib, rss_connected_kib, rss_held_kib, rss_after_kib, per_connection_kib, per_connection_connected_kib, per_connection_held_kib}` | with `--server-pid`, summed over the servers; per connection = (after − before) / established, (connected − before) / established, (held − before) / established; `held`: after `--hold` of `fanout`/`entity`; `null` without |
//! | `memory.{peak_kib, per_connection_peak_kib}` | the highest reading (every 50 ms) from the first emit to the end of the drain (`fanout`/`entity`) or over the hold (`idle`), summed: the highest simultaneous total; (peak − before) / established; `null` for `storm` and in older reports |
//! | `memory.{settled_kib, per_connection_settled_kib, settled_to_connected}` | with `--settle`: read that long after the drain, connections open; (settled − before) / established; (settled − before) / (connected − before), 1 = back to the connected figure (`null` when connecting added nothing); `null` without `--settle` |
//! | `cpu.{server_s, bench_s, window_s}` | CPU seconds (user + system) of the server(s, summed; `null` without `--server-pid`) and of the bench (all its processes) from "all connected" to the end of the hold or drain, and that window |
//! | `phases[] {name, window_s, server_cpu_s, server_core_pct, redis_cpu_s, redis_core_pct}` | CPU of the servers (summed) and of Redis in each phase: `connect`, `hold`, `emit` (to the end of the drain), `settle` (with `--settle`); `core_pct` = % of one core |
//! | `nodes[] {node, url, emits, clients, established, failed, lost, pings, server_connections, server_cluster_errors, server_heartbeat_disconnects, memory, cpu_s, deliveries{expected, received, unique, missing, duplicates, out_of_order, unexpected}, latency_ms}` | each server and its clients (one entry for a single server); `server_connections` from its `GET /health` once all connected; `server_cluster_errors` / `server_heartbeat_disconnects`: `strapi_io_cluster_errors_total` / `strapi_io_heartbeat_disconnects_total` of its `GET /metrics` at the end (`null` when it has none); `memory` as above for that pid (its own peak); `cpu_s` over `cpu.window_s` |
//! | `redis.{pid, cpu_s, window_s, core_pct, rss_before_kib, rss_after_kib}` | with `--redis-pid`: its CPU seconds from before connecting to the end, that window, CPU as % of one core, its memory |
//! | `emit.{planned, dispatched, ok, failed, requests, duplicate_sends, target_rate, achieved_rate, window_s, rpc_ms, errors[]}` | the emitter (`null` for idle/storm) |
//! | `deliveries.{expected, received, unique, missing, clients_with_missing, duplicates, out_of_order, unexpected, out_of_range, malformed}` | correctness; all but `expected`/`received`/`unique` must be 0 |
//! | `deliveries.reordered_across_streams` | arrivals after a later event of another entity (informational) |
//! | `deliveries.other_events` | other Socket.IO events received |
//! | `deliveries.per_second`, `window_s` | unique deliveries / (last delivery − first emit request) |
//! | `deliveries.drained` | every due delivery arrived within the drain timeout |
//! | `deliveries.routed_clients`, `subscriber_clients` | recipients by kind |
//! | `latency_ms.{count, p50, p99, p999, max, mean}` | end to end, `benchSentAt` → receipt |
//! | `violations[]`, `ok` | what should have been zero and was not; `ok` = none |
//! | `warnings[]` | signs of trouble that are not violations: resent subscriptions, handshakes ≥ 1 s (dropped SYNs), an emitter below 95 % of `--rate`, cross-entity reorders of serialized emits, a node whose `/health` count differs from the clients the bench holds there, cluster errors counted by the servers |
//!
//! ## Library use
//!
//! [`run::run`] runs a [`config::RunConfig`] and returns a [`report::Report`]; the
//! integration test drives the real gateway with it in-process.

pub mod audience;
pub mod client;
pub mod config;
pub mod emit;
pub mod fleet;
pub mod genconfig;
pub mod hist;
pub mod peak;
pub mod proto;
pub mod recovery;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sys;
pub mod tracker;
