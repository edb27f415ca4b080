//! hearth's pool mode (seed 001; issue 7): machines earmark a reserve, share their surplus and
//! run each other's tasks, and every compute transaction lands in a tamper-evident ledger.
//!
//! Read in this order: [`reserve`] (earmarks and surplus: the resources a node has, keeps for its
//! owner and offers, the `--reserve` syntax, and the predictor of the owner's local use), then
//! [`ledger`] (the hash-chained, signed log of joins, leaves and task events: its entries, their
//! canonical encoding, appending and verification).
//!
//! Pure: no I/O, no clock, no threads and no entropy source. The caller reads and writes the
//! ledger file, passes timestamps and derives keys from seeds it reads (hearth's `ledger`
//! subcommands do).

pub mod ledger;
pub mod proto;
pub mod reserve;
pub mod sched;
