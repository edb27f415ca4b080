//! The ledger's integration tests (one binary). Reference: seed 001 [0036] ("a running log of
//! all compute transactions") and [0037] (a disconnected unit's tasks run elsewhere); issue 7
//! "Ledger" and "Failover" (completion accepted once). A 21-entry pool history verifies; every
//! way of tampering with it (an edited, removed, reordered, repeated or forged entry, a cut
//! line) is detected at the entry it touched; and random single-byte corruptions of the file
//! are all detected, each at the line it changed.

mod append;
mod corruption;
mod doc;
mod harness;
mod tamper;
