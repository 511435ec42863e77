//! The `pseudolink` binary: all of it is in the library's [`pseudolink::app`],
//! which the Python package's `pseudolink` command calls too.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(pseudolink::app::main(std::env::args_os()))
}
