//! Repository checks for hearth, run as ordinary tests: see `tests/tidy.rs`.
