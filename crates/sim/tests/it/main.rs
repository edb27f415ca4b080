//! Integration tests of the `sim` crate: the CloudSim 3.0.3 reproduction checked on small,
//! hand-built fleets whose expected figures are computed in the tests from the reference
//! formulas (energy, the baselines' decisions, PDM/SLATAH, initial placement), plus run-to-run
//! determinism of every policy. The reference semantics are those of /work/notes/cloudsim.md.

mod baselines;
mod determinism;
mod energy;
mod heat_max;
mod placement;
mod support;
