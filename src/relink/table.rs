//! Tables as the user sees them: CSV tables and aligned terminal tables.

use std::fmt::Write as _;

/// Two decimals.
pub fn two(x: f64) -> String {
    format!("{x:.2}")
}

/// 100 × (after − before) / before, or `None` when before is 0.
pub fn pct_change(before: f64, after: f64) -> Option<f64> {
    (before != 0.0).then(|| 100.0 * (after - before) / before)
}

/// A text cell as written to a CSV file meant for spreadsheets: one that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading `'`, so that Excel and its kin show it as text rather than run
/// it as a formula (OWASP's advice on CSV injection). Numbers are written
/// as they are; this is for labels and headers.
pub fn formula_safe(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// Writes a header and rows as CSV, handing the writer back.
pub fn write_table<W: std::io::Write, S: AsRef<[u8]>>(
    w: W,
    header: &[S],
    rows: &[Vec<String>],
) -> csv::Result<W> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(header)?;
    for r in rows {
        out.write_record(r)?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// Lines of cells as an aligned table: the first `left` columns
/// left-aligned, the rest (numbers) right-aligned, a rule under the header.
pub fn aligned(lines: &[Vec<String>], left: usize) -> String {
    let cols = lines[0].len();
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for (n, l) in lines.iter().enumerate() {
        for (c, cell) in l.iter().enumerate() {
            let pad = width[c] - cell.chars().count();
            if c < left {
                let _ = write!(s, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(s, "{}{cell}", " ".repeat(pad));
            }
            s.push_str(if c + 1 < cols { "  " } else { "\n" });
        }
        if n == 0 {
            let total: usize = width.iter().sum::<usize>() + 2 * (cols - 1);
            s.push_str(&"-".repeat(total));
            s.push('\n');
        }
    }
    s
}
