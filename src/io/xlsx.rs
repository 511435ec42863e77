//! Spreadsheet input (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`), read with
//! `calamine` and turned into CSV so that `validate` and `tokenise` treat
//! it exactly like a CSV file.
//!
//! Cells are converted without loss: a number that is a whole number is
//! written in full (9434765919 as a float becomes `9434765919`, never
//! `9.434765919E9`), so a number that lost a leading zero in Excel has nine
//! digits and is rejected as `wrong_length` rather than silently padded.
//! Dates stored as Excel serial numbers become `YYYY-MM-DD` (with the time,
//! when there is one).

use std::path::Path;

use calamine::{open_workbook_auto, Data, Reader};

use crate::error::{Error, Result, Source};
use crate::io::csv::escape;

/// File endings read as spreadsheets.
pub const EXTENSIONS: [&str; 5] = ["xlsx", "xlsm", "xlsb", "xls", "ods"];

/// True when the path names a spreadsheet (by its ending).
pub fn is_spreadsheet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Formats a float exactly: whole numbers in full, others in the shortest
/// form that round-trips, never in scientific notation.
fn number(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{}", f as i64)
    } else if f.is_finite() {
        let s = format!("{f}");
        if s.contains('e') {
            format!("{f:.}")
        } else {
            s
        }
    } else {
        String::new()
    }
}

/// The text of one cell.
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTime(dt) => number(dt.as_f64()),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Reads one sheet (the named one, or the first) as CSV bytes.
pub fn sheet_to_csv(path: &Path, sheet: Option<&str>) -> Result<Vec<u8>> {
    let file = Source::Path(path.to_path_buf());
    let bad = |problem: String| Error::Spreadsheet {
        file: file.clone(),
        problem,
    };
    let mut book = open_workbook_auto(path).map_err(|_| {
        bad("cannot be opened as a spreadsheet (is it password-protected, damaged, or not really a spreadsheet?); save it again from Excel, or export it as CSV UTF-8".into())
    })?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(wanted)))
            .cloned()
            .ok_or_else(|| {
                bad(format!(
                    "has no sheet {wanted:?}; its sheets are {}",
                    crate::io::csv::list_names(names.iter().map(String::as_str))
                ))
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| bad("has no sheets".into()))?,
    };
    let range = book.worksheet_range(&name).map_err(|_| {
        bad(format!(
            "sheet {name:?} cannot be read; save the file again from Excel"
        ))
    })?;
    let mut out = Vec::new();
    for row in range.rows() {
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&escape(cell_text(cell).as_bytes(), b','));
        }
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{ExcelDateTime, ExcelDateTimeType};

    #[test]
    fn numbers_are_exact() {
        assert_eq!(cell_text(&Data::Float(9434765919.0)), "9434765919");
        assert_eq!(cell_text(&Data::Float(434765919.0)), "434765919");
        assert_eq!(cell_text(&Data::Float(1.5)), "1.5");
        assert_eq!(cell_text(&Data::Int(4000000632)), "4000000632");
        assert_eq!(cell_text(&Data::Float(f64::NAN)), "");
    }

    #[test]
    fn excel_serial_dates() {
        let d = ExcelDateTime::new(45306.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(d)), "2024-01-15");
        let d = ExcelDateTime::new(45306.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(d)), "2024-01-15T12:00:00");
    }

    #[test]
    fn spreadsheet_endings() {
        assert!(is_spreadsheet(Path::new("a/Referrals.XLSX")));
        assert!(is_spreadsheet(Path::new("x.ods")));
        assert!(!is_spreadsheet(Path::new("x.csv")));
    }
}
