//! hpm's pure core: what the environment should be, computed from data.
//!
//! Everything here takes data and returns data. The engine (`hpm-engine`)
//! reads the files, asks git and runs uv; this crate parses what it read
//! ([`manifest`], [`registry`]), resolves a [`plan::Plan`], pins it against
//! what the remotes advertise ([`pin`]), and computes the edits hpm makes to
//! `pyproject.toml` ([`pyproject`]) and `hpm.yaml` ([`manifest_edit`]).
//!
//! Architecture invariant: no IO. The crate's dependencies are data crates
//! only (checked by `tests/tests/tidy.rs`), and its `clippy.toml` forbids
//! `std::fs`, `std::process`, `std::env` and the clocks.

pub mod closure;
pub mod diff;
pub mod export;
pub mod fingerprint;
pub mod image;
pub mod import;
pub mod lockfile;
pub mod manifest;
pub mod manifest_edit;
pub mod metadata;
pub mod mode;
pub mod name;
pub mod paths;
pub mod pin;
pub mod plan;
pub mod problem;
pub mod pyproject;
pub mod registry;
pub mod release;
pub mod text;
pub mod url;
pub mod version;
pub mod yaml;

pub use mode::Mode;
pub use name::PackageName;
pub use problem::{Invalid, Problem};
