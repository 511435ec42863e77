//! The provider side (docs/SPEC.md sections 1 to 4): check NHS numbers, replace
//! them by keyed tokens, and describe the result in a manifest.
//!
//! - [`nhs`]: canonical form, Modulus 11 and the reason codes.
//! - [`ranges`]: which body issued a valid number (England, Wales and the
//!   Isle of Man; Scotland's CHI; Northern Ireland; unallocated).
//! - [`key`]: key files, generation and key ids.
//! - [`token`]: HMAC-SHA256 tokens, made four at a time and checked against
//!   the `hmac` crate at start-up.
//! - [`scan`]: the streaming check-and-tokenise run over a CSV file.
//! - [`seen`]: duplicate counting in bounded memory.
//! - [`manifest`]: the JSON file beside every tokenised output.

pub mod column;
pub mod key;
pub mod manifest;
pub mod nhs;
pub mod ranges;
pub mod scan;
pub mod seen;
pub mod token;
