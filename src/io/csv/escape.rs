//! Quoting for output and unquoting of raw fields, and the typed error for
//! a failed CSV write.

use std::borrow::Cow;
use std::io;

use memchr::memchr;

use crate::error::{Error, Source};

/// Removes the CSV quoting from a raw field: `"a ""b"""` becomes `a "b"`.
pub fn unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    match raw {
        [b'"', inner @ .., b'"'] => {
            if memchr(b'"', inner).is_none() {
                Cow::Borrowed(inner)
            } else {
                let mut out = Vec::with_capacity(inner.len());
                let mut i = 0;
                while i < inner.len() {
                    out.push(inner[i]);
                    i += if inner[i] == b'"' { 2 } else { 1 };
                }
                Cow::Owned(out)
            }
        }
        _ => Cow::Borrowed(raw),
    }
}

/// Quotes a value for CSV output when it needs it.
pub fn escape(value: &[u8], delimiter: u8) -> Cow<'_, [u8]> {
    if value
        .iter()
        .any(|&b| b == delimiter || b == b'"' || b == b'\r' || b == b'\n')
    {
        let mut out = Vec::with_capacity(value.len() + 2);
        out.push(b'"');
        for &b in value {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

/// Wraps a CSV writer error (always an I/O failure for us) as a typed error.
pub fn csv_write_error(file: &Source, e: csv::Error) -> Error {
    let source = match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    Error::Write {
        file: file.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_and_escape() {
        assert_eq!(&*unescape(b"\"a\"\"b\""), b"a\"b");
        assert_eq!(&*unescape(b"plain"), b"plain");
        assert_eq!(&*escape(b"a,b", b','), b"\"a,b\"");
        assert_eq!(&*escape(b"a\"b", b';'), b"\"a\"\"b\"");
        assert_eq!(&*escape(b"token", b','), b"token");
    }
}
