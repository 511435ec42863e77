//! pseudolink: keyed pseudonymisation of NHS numbers, and re-linkage of
//! the resulting tokens to health-service usage data.
//!
//! The code is laid out by side and by layer:
//!
//! - [`provider`]: the provider's side. Check each NHS number (Modulus 11),
//!   replace it by HMAC-SHA256 under a secret key, write a manifest.
//! - [`relink`]: the ICB's side. Join the tokens to a usage extract and
//!   report use before and after the intervention, with disclosure control.
//! - [`io`]: what both stand on. CSV kept byte for byte, spreadsheets,
//!   outputs that appear whole or not at all, the ordered parallel pipeline.
//! - [`cmd`] (one file per command) and [`cli`] (the command line) tie them
//!   together; [`error`] has one variant per failure a user can see.
//!
//! `docs/SPEC.md` (with its vectors in `docs/vectors.json`) is the
//! normative contract for tokens, key files, key ids, manifests and relink
//! semantics; `docs/architecture.md` says where each of its rules lives in
//! this code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod fuzz_targets;
pub mod io;
pub mod provider;
pub mod relink;
pub mod synth;

pub use error::{Error, Result};

/// This tool's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The major version of `docs/SPEC.md` whose tokens, key files and
/// manifests this tool makes (written as the manifest's `spec_version`).
pub const SPEC_VERSION: u32 = 1;
/// The full version of `docs/SPEC.md` implemented, and how much of it.
pub const SPEC_IMPLEMENTED: &str = "1.2";

/// The current time as RFC 3339 in UTC, to the second.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
