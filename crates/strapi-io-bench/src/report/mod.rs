//! The result of a run: the [`Report`] with every number under stable field names (the
//! `--json` document, described in the crate docs), how it is computed from the merged
//! [`FleetReport`](crate::fleet::FleetReport), the emitter's result and the [`Readings`] of
//! the servers (and of Redis) taken at the phase boundaries, which counters count as
//! violations, and the human table printed on stdout.
//!
//! One job per file: `types` (the JSON document's structs), `readings` (what is read of the
//! processes around the bench: memory, CPU, `/metrics` counters), `build` (assembling a
//! report from a finished run), `table` (the text rendering).

mod build;
mod readings;
mod table;
mod types;

pub use readings::{CpuReadings, Readings, Sample, ServerCounters};
pub use types::{
    Connections, Deliveries, Emit, Memory, NodeReport, PhaseCpu, RedisReport, Report, ReportConfig,
    Subscriptions,
};
