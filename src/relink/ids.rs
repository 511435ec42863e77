//! How the usage and population files identify people: a column of NHS
//! numbers (tokenised in memory with the key) or a column of tokens made
//! with the same key. Shared by [`super::usage`] and [`super::population`].

use crate::error::{Error, Result};
use crate::io::csv::ColumnSpec;
use crate::provider::token::Tokeniser;

/// How a file identifies people, as the user asked (`--…-token-column`,
/// `--…-nhs-column`).
#[derive(Clone, Debug)]
pub enum UsageId {
    /// A column of NHS numbers (needs the key).
    Nhs(ColumnSpec),
    /// A column of tokens made with the same key.
    Token(ColumnSpec),
}

/// How rows are read into tokens: the key's tokeniser, or tokens as they are.
pub enum UsageIds<'a> {
    /// NHS numbers, tokenised in memory with this key.
    Nhs(&'a Tokeniser),
    /// Tokens made with the same key.
    Tokens,
}

impl UsageId {
    /// From `--…-token-column` and `--…-nhs-column`: a token column wins;
    /// otherwise NHS numbers, in `nhs_number` by default.
    pub fn from_columns(token: Option<ColumnSpec>, nhs: Option<ColumnSpec>) -> UsageId {
        match (token, nhs) {
            (Some(t), _) => UsageId::Token(t),
            (None, Some(n)) => UsageId::Nhs(n),
            (None, None) => UsageId::Nhs(ColumnSpec::Name("nhs_number".into())),
        }
    }

    /// The column and how to read it: NHS numbers need the key's
    /// tokeniser. `which` names the file and its flag, e.g. `usage`.
    pub fn reader<'t>(
        &self,
        tokeniser: Option<&'t Tokeniser>,
        which: &str,
    ) -> Result<(ColumnSpec, UsageIds<'t>)> {
        match (self, tokeniser) {
            (UsageId::Nhs(c), Some(t)) => Ok((c.clone(), UsageIds::Nhs(t))),
            (UsageId::Token(c), _) => Ok((c.clone(), UsageIds::Tokens)),
            (UsageId::Nhs(_), None) => Err(Error::Usage(format!(
                "the {which} file's NHS numbers must be tokenised with the key: give --key FILE, or, if the {which} file is already tokenised, --{which}-token-column COL"
            ))),
        }
    }
}

impl UsageIds<'_> {
    /// The flag that names this file's id column, e.g. `--usage-nhs-column`.
    pub fn flag(&self, which: &str) -> String {
        match self {
            UsageIds::Nhs(_) => format!("--{which}-nhs-column"),
            UsageIds::Tokens => format!("--{which}-token-column"),
        }
    }
}
