//! The task metadata and credentials endpoint of a berth task, as ECS gives one to
//! every task: `http://169.254.170.2/v4/<token>` (`ECS_CONTAINER_METADATA_URI_V4`) and
//! `http://169.254.170.2/v2/credentials/<id>` (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`),
//! reachable only from inside the task.
//!
//! ```text
//!  task namespace (/run/netns/berth-<id>)             host namespace (berth agent)
//!  ┌──────────────────────────────────────────┐       ┌──────────────────────────────┐
//!  │ lo: 169.254.170.2/32                     │       │ MetadataSource (the agent):  │
//!  │   :51679 listener (bound to lo) ─────────┼──fd──▶│  facts, stats, credentials   │
//!  │   :51680 relay listener (bound to lo) ───┼──fd──▶│  relay ──▶ berth API         │
//!  │ nat OUTPUT: 169.254.170.2:80 → :51679    │       │   (127.0.0.1:4566)           │
//!  │ app: $ECS_CONTAINER_METADATA_URI_V4      │       │                              │
//!  └──────────────────────────────────────────┘       └──────────────────────────────┘
//! ```
//!
//! * [`facts`]: what the agent knows ([`TaskFacts`], [`ContainerFacts`],
//!   [`TaskCredentials`]); [`document`], [`stats`], [`credentials`]: the documents
//!   ECS serves, built from them by pure functions; [`procstats`]: stats of a process
//!   runtime container from `/proc`.
//! * [`MetadataServer`]: one task's endpoint. [`MetadataServer::start`] puts
//!   `169.254.170.2/32` on the namespace's `lo`, binds its listeners inside the
//!   namespace ([`bind_in_netns`]: on a thread that joined it, bound to `lo`, so
//!   nothing outside the task connects) and serves them on the caller's tokio runtime,
//!   answering from a [`MetadataSource`] the agent implements.
//!   [`MetadataServer::env`] gives each container its variables (each container has a
//!   token of its own, so `/v4/<token>` knows who asks).
//! * Port 80 stays the application's: the endpoint listens on
//!   [`METADATA_LISTEN_PORT`], and [`MetadataServer::nat_rules`] are the task's nat
//!   rules that send `169.254.170.2:80` there (the agent owns that table and writes
//!   them into it), as the ECS agent's own rules send it to its port 51679.
//! * The relay (with [`MetadataConfig::api`]): `169.254.170.2:51680` in the task,
//!   joined byte for byte to berth's API, so `AWS_ENDPOINT_URL=http://169.254.170.2:51680`
//!   lets an unmodified SDK reach berth from inside the task.
//!
//! Paths: `GET /v4/<token>` (the container), `/task`, `/taskWithTags`, `/stats`,
//! `/task/stats` under it, the same under `/v3/<token>` (no `/taskWithTags`), and
//! `/v2/credentials/<id>`. Anything else is 404, any other method 405, all with JSON
//! bodies.

pub mod credentials;
pub mod document;
mod error;
pub mod facts;
pub mod netns;
pub mod procstats;
mod relay;
pub mod routes;
mod server;
pub mod stats;
pub mod time;

#[cfg(test)]
mod testdata;

pub use credentials::{credentials_document, CredentialsDocument};
pub use document::{container_document, task_document, ContainerMetadata, TaskMetadata};
pub use error::Error;
pub use facts::{
    ClockDrift, ClockStatus, ContainerFacts, ContainerStatus, ContainerType, HealthFacts,
    HealthStatus, LaunchType, Limits, NetworkFacts, NetworkMode, PortFacts, TaskCredentials,
    TaskFacts, TaskStatus, VolumeFacts,
};
pub use netns::{bind_in_netns, run_in_netns};
pub use procstats::{process_group_pids, sample_processes, ProcTarget};
pub use routes::container_env;
pub use server::{
    dnat_rule, MetadataConfig, MetadataServer, MetadataSource, DEFAULT_RELAY_PORT, METADATA_IP,
    METADATA_LISTEN_PORT, METADATA_PORT,
};
pub use stats::{
    stats_document, CpuSample, MemorySample, NetworkSample, StatsDocument, StatsSample,
};
