//! Shared start-up of the benchmark binaries.
