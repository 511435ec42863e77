//! The machine-readable vectors of `docs/SPEC.md` (`docs/vectors.json`,
//! computed with Python's `hmac`, independently of this crate): through the
//! library, and through the binary on files.

mod common;

use common::{pl, Scratch};
use pseudolink::provider::key::Key;
use pseudolink::provider::nhs::canonicalise;
use pseudolink::provider::ranges::Range;
use pseudolink::provider::token::{Tokeniser, TOKEN_HEX_LEN};
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/vectors.json"))
        .expect("docs/vectors.json is in the repository");
    serde_json::from_str(&text).expect("docs/vectors.json is JSON")
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is a string"))
}

fn list<'a>(v: &'a Value, field: &str) -> &'a Vec<Value> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is a list"))
}

#[test]
fn the_spec_vectors_are_all_there() {
    let v = vectors();
    // The four token vectors and the key id written in SPEC section 3.
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/SPEC.md")).unwrap();
    for t in list(&v, "tokens").iter().take(4) {
        assert!(
            spec.contains(s(t, "token")),
            "{} is in SPEC.md",
            s(t, "token")
        );
    }
    assert!(spec.contains(s(&v, "key_id")));
    assert!(spec.contains(s(&v, "key_hex")));
    // Every reason code has at least one case.
    for code in [
        "empty",
        "scientific_notation",
        "invalid_character",
        "wrong_length",
        "placeholder",
        "check_digit_10",
        "check_digit_mismatch",
    ] {
        assert!(
            list(&v, "rejects").iter().any(|r| s(r, "reason") == code),
            "{code}"
        );
    }
    for r in Range::OUTSIDE
        .iter()
        .chain(&[Range::EnglandWales, Range::Test])
    {
        assert!(
            list(&v, "ranges").iter().any(|c| s(c, "range") == r.code()),
            "{}",
            r.code()
        );
    }
}

#[test]
fn the_library_reproduces_every_vector() {
    let v = vectors();
    let key = Key::parse(s(&v, "key_hex").as_bytes()).ok().unwrap();
    assert_eq!(key.id().as_str(), s(&v, "key_id"));
    let t = Tokeniser::new(&key).ok().unwrap();
    let mut numbers = Vec::new();
    for case in list(&v, "tokens") {
        let n = canonicalise(s(case, "input").as_bytes()).unwrap();
        assert_eq!(n.digits(), s(case, "canonical").as_bytes());
        let mut hex = [0u8; TOKEN_HEX_LEN];
        t.token_hex(&n, &mut hex);
        assert_eq!(
            &hex[..],
            s(case, "token").as_bytes(),
            "{:?}",
            s(case, "input")
        );
        numbers.push(n);
    }
    // The grouped fast path as well.
    t.each_token(&numbers, |i, token| {
        assert_eq!(hex::encode(token), s(&list(&v, "tokens")[i], "token"));
    });
    for case in list(&v, "rejects") {
        let got = canonicalise(s(case, "input").as_bytes()).unwrap_err();
        assert_eq!(got.code(), s(case, "reason"), "{:?}", s(case, "input"));
    }
    for case in list(&v, "ranges") {
        let n = canonicalise(s(case, "number").as_bytes()).unwrap();
        assert_eq!(
            Range::of(&n).code(),
            s(case, "range"),
            "{}",
            s(case, "number")
        );
    }
}

#[test]
fn the_binary_reproduces_every_vector_on_files() {
    let v = vectors();
    assert_eq!(s(&v, "key_hex"), common::SPEC_KEY);
    let sc = Scratch::new();
    let mut input = String::from("id,nhs_number\n");
    let mut want = String::from("id,token\n");
    for (i, case) in list(&v, "tokens").iter().enumerate() {
        input.push_str(&format!("t{i},\"{}\"\n", s(case, "input")));
        want.push_str(&format!("t{i},{}\n", s(case, "token")));
    }
    let mut rejects_want = Vec::new();
    for (i, case) in list(&v, "rejects").iter().enumerate() {
        input.push_str(&format!("r{i},\"{}\"\n", s(case, "input")));
        rejects_want.push(s(case, "reason").to_string());
    }
    let inp = sc.write("in.csv", input);
    pl().args(["tokenise", "-q", "--key"])
        .arg(sc.key())
        .arg(&inp)
        .arg("--output")
        .arg(sc.path("out.csv"))
        .arg("--rejects")
        .arg(sc.path("rejects.csv"))
        .assert()
        .success();
    assert_eq!(sc.text("out.csv"), want);
    let rej = sc.path("rejects.csv");
    let mut r = csv::Reader::from_path(&rej).unwrap();
    let reason_col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "reason")
        .unwrap();
    let got: Vec<String> = r
        .records()
        .map(|rec| rec.unwrap()[reason_col].to_string())
        .collect();
    assert_eq!(got, rejects_want);
}
