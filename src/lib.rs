//! pseudolink: keyed pseudonymisation of NHS numbers, and re-linkage of
//! the resulting tokens to health-service usage data.
//!
//! The provider side checks each NHS number (Modulus 11, [`nhs`]) and
//! replaces it by HMAC-SHA256 under a secret key ([`token`], [`key`]),
//! streaming CSV byte for byte ([`csvio`]) and writing a [`manifest`]. The
//! ICB side joins those tokens to its own usage extract and reports
//! pre/post event counts with disclosure control.
//!
//! `SPEC.md` (shared with other implementations) is the normative contract
//! for tokens, key files and key ids.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
/// The version of `SPEC.md` implemented.
pub const SPEC_VERSION: u32 = 1;

/// The current time as RFC 3339 in UTC, to the second.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
