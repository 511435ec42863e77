//! Spreadsheet input: a workbook made by the test with rust_xlsxwriter,
//! read by the binary with calamine.

mod common;

use common::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

fn workbook(s: &Scratch) -> std::path::PathBuf {
    let path = s.path("referrals.xlsx");
    let mut wb = Workbook::new();
    let other = wb.add_worksheet();
    other.set_name("Notes").unwrap();
    other.write_string(0, 0, "nothing here").unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("Referrals").unwrap();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (c, h) in ["nhs_number", "intervention_date", "cohort"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    // A number stored as a number: must not become 9.434765919E9.
    ws.write_number(1, 0, 9434765919.0).unwrap();
    // The same person typed as text with spaces.
    ws.write_string(2, 0, "943 476 5919").unwrap();
    // A number whose leading zero Excel dropped: nine digits.
    ws.write_number(3, 0, 434765919.0).unwrap();
    // What Excel shows when a long number is formatted as General.
    ws.write_string(4, 0, "9.43E+09").unwrap();
    ws.write_number(5, 0, 4000000632.0).unwrap();
    for r in 1..=5u32 {
        ws.write_datetime_with_format(r, 1, ExcelDateTime::from_ymd(2024, 1, 15).unwrap(), &date)
            .unwrap();
        ws.write_string(r, 2, "Over 55s, frailty").unwrap();
    }
    wb.save(&path).unwrap();
    path
}

#[test]
fn tokenise_reads_a_sheet_exactly() {
    let s = Scratch::new();
    let xlsx = workbook(&s);
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(&xlsx)
        .args(["--sheet", "referrals"])
        .arg("--output")
        .arg(s.path("tokens.csv"))
        .arg("--rejects")
        .arg(s.path("rejects.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        s.text("tokens.csv"),
        format!(
            "token,intervention_date,cohort\n\
             {TOKEN_9434765919},2024-01-15,\"Over 55s, frailty\"\n\
             {TOKEN_9434765919},2024-01-15,\"Over 55s, frailty\"\n\
             {TOKEN_4000000632},2024-01-15,\"Over 55s, frailty\"\n"
        )
    );
    assert_eq!(
        s.text("rejects.csv"),
        "row,reason,raw_value (unescaped: may hold formulas)\n3,wrong_length,434765919\n4,scientific_notation,9.43E+09\n"
    );
    let m: serde_json::Value = serde_json::from_slice(&s.read("tokens.csv.manifest.json")).unwrap();
    assert_eq!(m["rows_read"], 5);
    assert_eq!(m["rows_tokenised"], 3);
    assert_eq!(m["duplicate_numbers"], 1);
}

#[test]
fn validate_reads_the_first_sheet_by_default_and_names_missing_sheets() {
    let s = Scratch::new();
    let xlsx = workbook(&s);
    // The first sheet has no NHS-number column.
    let out = pl().arg("validate").arg(&xlsx).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no column looks like an NHS number"),
        "{}",
        stderr(&out)
    );
    let out = pl()
        .arg("validate")
        .arg(&xlsx)
        .args(["--sheet", "Referrals"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("rows read: 5  valid: 3  rejected: 2"),
        "{}",
        stderr(&out)
    );
    let out = pl()
        .arg("validate")
        .arg(&xlsx)
        .args(["--sheet", "Nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no sheet \"Nope\"; its sheets are \"Notes\", \"Referrals\""),
        "{}",
        stderr(&out)
    );
    // --sheet on a CSV is a mistake worth naming.
    s.write("a.csv", "nhs_number\n9434765919\n");
    let out = pl()
        .arg("validate")
        .arg(s.path("a.csv"))
        .args(["--sheet", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A file that only pretends to be a spreadsheet.
    s.write("fake.xlsx", "nhs_number\n9434765919\n");
    let out = pl()
        .arg("validate")
        .arg(s.path("fake.xlsx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be opened as a spreadsheet"),
        "{}",
        stderr(&out)
    );
}

/// Issue 21, finding 1: the bombs, shipped as fixtures. A 1.5 KB sheet
/// with a cell at XFD1048576 is read as the two cells it holds (no grid
/// of the 17 billion cells it spans is ever allocated) and then refused,
/// naming the limit; a zip whose sheet would unpack to 300 MiB at about
/// 1,000:1 is refused before anything is unpacked. Both exit 2.
#[test]
fn spreadsheet_bombs_are_bounded() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let s = Scratch::new();
    let out = pl()
        .args(["validate", "-q"])
        .arg(fixtures.join("far-cell.xlsx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("over the limit of 20000000 cells"),
        "{}",
        stderr(&out)
    );
    let out = pl()
        .args(["tokenise", "--key"])
        .arg(s.key())
        .arg(fixtures.join("zip-bomb.xlsx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("limit"), "{err}");
    assert!(out.stdout.is_empty());
}
