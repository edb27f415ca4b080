//! hearth's per-host agent: it measures its own host, reads its configuration and runs the beacon loop.
//!
//! Read in this order: [`measure`] (the host's storage, processor, communication and memory use,
//! each a fraction in [0, 1], from `/proc`, `/sys` and `statvfs`; pure parsers, thin readers, and
//! the [`measure::Sampler`] that turns counters into rates), then [`config`] (the agent's and the
//! controller's TOML files and the cluster key file, validated with errors that name the key or
//! line), then [`run`] (the beacon loop: the law over the measured use, two beacon streams
//! with exponential jitter, capacity messages, and the status the local endpoint serves) and
//! [`clock`] (the only module that reads the clock or sleeps, but for the stopwatch of
//! [`bench`](mod@bench)). In pool mode, [`pool_host`] measures the host's capacity and its
//! owner's local use, for the reserve and surplus; [`pool_exec`] runs pool tasks as an
//! unprivileged user under CPU and memory limits (cgroup v2, cgroup v1 or rlimits); and
//! [`bench`](mod@bench) is the benchmark whose score ranks a node in the pool.

pub mod bench;
pub mod clock;
pub mod config;
pub mod measure;
pub mod pool_exec;
pub mod pool_host;
pub mod run;
