//! The agent crate's integration tests, one binary (matklad, "Delete Cargo Integration Tests"):
//! `measure` (parsers and fractions over real-looking and malformed `/proc` text), `sampler` (the
//! sampler over hand-made readings and over a fake `/proc` tree on disk), `live` (this machine's
//! real `/proc`), `config` (both config files, the key file and the examples in docs/agent.md).

mod config;
mod live;
mod measure;
mod sampler;
