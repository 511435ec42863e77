//! `pseudolink key-id`: print the id of a key file, to read aloud.

use std::path::PathBuf;

use super::{load_key, Messages};
use crate::error::Result;
use crate::provider::key::KeyId;

/// Checked options for `key-id`.
#[derive(Debug, Clone)]
pub struct KeyIdOptions {
    /// The key file.
    pub key: PathBuf,
    /// Messages setting.
    pub messages: Messages,
}

/// Loads the key and returns its id.
pub fn run(opts: &KeyIdOptions) -> Result<KeyId> {
    let key = load_key(&opts.key, opts.messages)?;
    Ok(key.id())
}
