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
//!
//! **Bounded cost.** A spreadsheet is a zip of XML, and a small file can
//! claim a huge sheet (one cell at XFD1048576) or inflate enormously (a zip
//! bomb). Before any sheet is read, the zip's directory is checked against
//! [`Limits`]: uncompressed bytes in all and per entry, and the compression
//! ratio of any large entry. `.xlsx`, `.xlsm` and `.xlsb` sheets are then
//! read as a stream of cells, never into a dense grid, so memory follows
//! the cells the file really holds (refused past a number of cells);
//! empty rows between them are written as empty lines, so row numbers in
//! messages stay the spreadsheet's. `.ods` is read whole (calamine has no
//! cell stream for it) within the same byte limits; `.xls` (not a zip) is
//! read whole within its format's own limit of 65,536 × 256 cells.

use std::path::Path;

use calamine::{open_workbook, open_workbook_auto, Data, DataRef, Reader, Xlsb, Xlsx};

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

/// What a spreadsheet may cost to read.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Uncompressed bytes in all of the zip's entries.
    pub total_bytes: u64,
    /// Uncompressed bytes of one entry.
    pub entry_bytes: u64,
    /// Uncompressed ÷ compressed bytes of an entry over 1 MiB.
    pub ratio: u64,
    /// Cells with a value in the sheet read.
    pub cells: u64,
}

/// The documented limits (README, SECURITY.md): 1 GiB uncompressed in all,
/// 512 MiB an entry, a ratio of 200 for entries over 1 MiB, 20 million cells.
pub const LIMITS: Limits = Limits {
    total_bytes: 1 << 30,
    entry_bytes: 512 << 20,
    ratio: 200,
    cells: 20_000_000,
};

/// Checks a zip-based spreadsheet's directory against `limits` before any
/// entry is inflated. Not a zip (`.xls`): nothing to check.
pub fn check_zip(path: &Path, limits: Limits) -> std::result::Result<(), String> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let Ok(mut zip) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return Ok(());
    };
    let mut total = 0u64;
    for i in 0..zip.len() {
        let Ok(entry) = zip.by_index_raw(i) else {
            return Err("has a damaged zip directory".into());
        };
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        total = total.saturating_add(size);
        if size > limits.entry_bytes {
            return Err(format!(
                "holds a part that would unpack to {} MiB, over the limit of {} MiB a part",
                size >> 20,
                limits.entry_bytes >> 20
            ));
        }
        if size > 1 << 20 && size / packed > limits.ratio {
            return Err(format!(
                "holds a part compressed {}:1, over the limit of {}:1 (a zip bomb, or not a real spreadsheet)",
                size / packed,
                limits.ratio
            ));
        }
    }
    if total > limits.total_bytes {
        return Err(format!(
            "would unpack to {} MiB, over the limit of {} MiB",
            total >> 20,
            limits.total_bytes >> 20
        ));
    }
    Ok(())
}

/// Cells, arriving row by row, kept sparse (memory follows the cells the
/// sheet holds), then written as CSV padded to the sheet's width, with
/// empty lines for empty rows so row numbers stay the sheet's. Positions
/// count from the sheet's declared first cell, as calamine's ranges do.
struct SparseCsv {
    rows: Vec<(u32, Vec<(u32, String)>)>,
    origin: (u32, u32),
    width: u32,
    cells: u64,
    limits: Limits,
}

impl SparseCsv {
    fn new(limits: Limits, origin: (u32, u32)) -> SparseCsv {
        SparseCsv {
            rows: Vec::new(),
            origin,
            width: 0,
            cells: 0,
            limits,
        }
    }

    fn put(&mut self, (r, c): (u32, u32), text: String) -> std::result::Result<(), String> {
        if text.is_empty() {
            return Ok(());
        }
        let (r, c) = (
            r.saturating_sub(self.origin.0),
            c.saturating_sub(self.origin.1),
        );
        self.cells += 1;
        if self.cells > self.limits.cells {
            return Err(format!(
                "has more than {} cells with a value, the limit; export the sheet as CSV UTF-8 instead",
                self.limits.cells
            ));
        }
        self.width = self.width.max(c + 1);
        match self.rows.last_mut() {
            Some((row, cells)) if *row == r => cells.push((c, text)),
            Some((row, _)) if *row > r => {
                return Err("has its rows out of order; save it again from Excel".into())
            }
            _ => self.rows.push((r, vec![(c, text)])),
        }
        Ok(())
    }

    fn finish(self) -> std::result::Result<Vec<u8>, String> {
        let height = self.rows.last().map_or(0, |(r, _)| u64::from(*r) + 1);
        let grid = height * u64::from(self.width);
        if grid > self.limits.cells {
            return Err(format!(
                "spans {height} rows by {} columns ({grid} cells), over the limit of {} cells: is there a stray value far from the data? Delete it, or export the sheet as CSV UTF-8",
                self.width, self.limits.cells
            ));
        }
        let mut out = Vec::new();
        let mut next = 0u32;
        for (r, mut cells) in self.rows {
            for _ in next..r {
                out.extend(std::iter::repeat_n(
                    b',',
                    self.width.saturating_sub(1) as usize,
                ));
                out.push(b'\n');
            }
            cells.sort_by_key(|c| c.0);
            let mut col = 0;
            for (c, text) in cells {
                while col < c {
                    out.push(b',');
                    col += 1;
                }
                out.extend_from_slice(&escape(text.as_bytes(), b','));
            }
            while col + 1 < self.width {
                out.push(b',');
                col += 1;
            }
            out.push(b'\n');
            next = r + 1;
        }
        Ok(out)
    }
}

/// Streams an `.xlsx`/`.xlsm` or `.xlsb` sheet's cells into CSV.
fn stream_sheet(path: &Path, name: &str, limits: Limits) -> std::result::Result<Vec<u8>, String> {
    let cannot = format!("sheet {name:?} cannot be read; save the file again from Excel");
    let mut csv = SparseCsv::new(limits, (0, 0));
    let text = |v: &DataRef<'_>| cell_text(&Data::from(v.clone()));
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext == "xlsb" {
        let mut book: Xlsb<_> = open_workbook(path).map_err(|_| "cannot be opened".to_string())?;
        let mut cells = book
            .worksheet_cells_reader(name)
            .map_err(|_| cannot.clone())?;
        csv.origin = cells.dimensions().start;
        while let Some(cell) = cells.next_cell().map_err(|_| cannot.clone())? {
            csv.put(cell.get_position(), text(cell.get_value()))?;
        }
    } else {
        let mut book: Xlsx<_> = open_workbook(path).map_err(|_| "cannot be opened".to_string())?;
        let mut cells = book
            .worksheet_cells_reader(name)
            .map_err(|_| cannot.clone())?;
        csv.origin = cells.dimensions().start;
        while let Some(cell) = cells.next_cell().map_err(|_| cannot.clone())? {
            csv.put(cell.get_position(), text(cell.get_value()))?;
        }
    }
    csv.finish()
}

/// Reads one sheet (the named one, or the first) as CSV bytes.
pub fn sheet_to_csv(path: &Path, sheet: Option<&str>) -> Result<Vec<u8>> {
    let file = Source::Path(path.to_path_buf());
    let bad = |problem: String| Error::Spreadsheet {
        file: file.clone(),
        problem,
    };
    check_zip(path, LIMITS).map_err(bad)?;
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
    let streams = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["xlsx", "xlsm", "xlsb"].contains(&e.to_ascii_lowercase().as_str()));
    if streams {
        drop(book);
        return stream_sheet(path, &name, LIMITS).map_err(bad);
    }
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
