//! The I/O layer under both sides: CSV records kept byte for byte
//! ([`csv`]), spreadsheets read as CSV ([`xlsx`]), outputs that appear whole
//! or not at all ([`output`]), the ordered parallel pipeline
//! ([`pipeline`]), the progress bar ([`progress`]), Ctrl-C
//! ([`interrupt`]) and no core dumps ([`hardening`]).

pub mod csv;
pub mod hardening;
pub mod interrupt;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod xlsx;
