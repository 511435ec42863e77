//! The I/O layer under both sides: CSV records kept byte for byte
//! ([`csv`]), spreadsheets read as CSV ([`xlsx`]), outputs that appear whole
//! or not at all ([`output`]), the ordered parallel pipeline
//! ([`pipeline`]), the progress bar ([`progress`]) and Ctrl-C
//! ([`interrupt`]).

pub mod csv;
pub mod interrupt;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod xlsx;
