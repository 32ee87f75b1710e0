//! Unit tests of `apply`: a row mapped to portal values, paths that leave the mapping's folder,
//! composite keys (case table and properties), and no cell content making `apply` panic.

use super::*;
use crate::mapping::spec;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

const HEADERS: [&str; 6] = ["Code", "Name", "Date", "Amount", "Phones", "File"];

fn plan(dir: &Path) -> MappingPlan {
    let text = r#"name = "p"
[source]
path = "x.csv"
key = "Code"
[target]
entity = "contact"
[fields]
name = { column = "Name", required = true }
birthdate = { column = "Date", type = "date", formats = ["%d.%m.%Y"] }
opportunity = { column = "Amount", type = "number", decimal_comma = true }
ufCrm_1 = { column = "Amount", type = "money", currency = "RUB", decimal_comma = true }
ufCrm_2 = { column = "Name", split = ";", multiple = true, map = { "a" = "1", "b" = "2" }, default = "0" }
ufCrm_3 = { column = "File", type = "file" }
ufCrm_4 = { column = "Date", type = "datetime", formats = ["%d.%m.%Y"], utc_offset = "+03:00" }
opened = { column = "Code", type = "bool", map = { "K1" = "yes" }, default = "N" }
comments = { template = "{Name} / {Date}" }
[[fm]]
type = "PHONE"
column = "Phones"
split = ","
[[require_any]]
columns = ["Phones", "Name"]
"#;
    let file = spec::parse(&dir.join("m.toml"), text.to_string()).expect("parses");
    let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    file.compile(&headers).expect("compiles")
}

fn record(cells: &[String]) -> Record {
    Record {
        row: RowRef { file: "x.csv".into(), sheet: None, line: 2 },
        cells: csv::StringRecord::from(cells.to_vec()),
        problems: Vec::new(),
    }
}

#[test]
fn a_good_row_maps_to_portal_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.txt"), "hello").expect("file");
    let cells: Vec<String> = ["K1", "a;b", "14.03.2026", "1 500,50", "8 916 123-45-67", "a.txt"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let row = plan(dir.path()).apply(&record(&cells)).expect("valid");
    assert_eq!(row.key, "K1");
    assert_eq!(row.fields["birthdate"], json!("2026-03-14"));
    assert_eq!(row.fields["opportunity"], json!(1500.50));
    assert_eq!(row.fields["ufCrm_2"], json!(["1", "2"]));
    assert_eq!(row.fields["ufCrm_3"], json!(["a.txt", "aGVsbG8="]));
    assert_eq!(row.fields["ufCrm_1"], json!("1500.50|RUB"));
    assert_eq!(row.fields["opened"], json!("Y"));
    assert_eq!(row.fields["comments"], json!("a;b / 14.03.2026"));
    assert_eq!(row.fields["ufCrm_4"], json!("2026-03-14T00:00:00+03:00"));
    assert_eq!(row.fm[0].value, "89161234567");
}

#[test]
fn paths_that_leave_base_dir_are_row_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = plan(dir.path());
    for bad in ["../../etc/passwd", "/etc/passwd", "missing.txt"] {
        let cells: Vec<String> =
            ["K1", "a", "", "", "+7 916 123 45 67", bad].iter().map(|s| s.to_string()).collect();
        let issues = p.apply(&record(&cells)).expect_err("invalid");
        let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
        assert!(
            codes.contains(&"file_outside_base_dir") || codes.contains(&"file_missing"),
            "{bad}: {codes:?}"
        );
    }
}

// Regression: key parts were joined with a bare `|`, so ("a|b", "c") and ("a", "b|c") got
// the same key and the second record was taken for a duplicate of the first.
#[rstest::rstest]
#[case(&["a", "b"], "a|b")]
#[case(&["C-1", "2026", "x y"], "C-1|2026|x y")]
#[case(&["a", ""], "a|")]
#[case(&["", "b"], "|b")]
#[case(&["only|one"], "only|one")]
#[case(&["back\\slash"], "back\\slash")]
#[case(&["Кириллица", "ёж"], "Кириллица|ёж")]
#[case(&["a|b", "c"], "a\\|b|c")]
#[case(&["a", "b|c"], "a|b\\|c")]
#[case(&["a\\", "b"], "a\\\\|b")]
#[case(&["a", "\\|b"], "a|\\\\\\|b")]
fn composite_keys_keep_plain_keys_and_escape_only_what_could_collide(
    #[case] parts: &[&str],
    #[case] want: &str,
) {
    assert_eq!(join_key(parts), want);
}

#[test]
fn a_composite_key_is_built_from_the_trimmed_key_cells() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut p = plan(dir.path());
    p.key_columns = vec![0, 1];
    let key = |a: &str, b: &str| {
        let cells: Vec<String> = [a, b, "", "", "", ""].iter().map(|s| s.to_string()).collect();
        p.key(&record(&cells), &Map::new())
    };
    assert_eq!(key(" K1 ", "Ann"), "K1|Ann");
    assert_ne!(key("a|b", "c"), key("a", "b|c"));
    assert_eq!(key(" ", ""), "", "all key cells empty: no key");
}

proptest! {
    #[test]
    fn distinct_key_parts_never_give_the_same_key(
        (a, b) in (1usize..4).prop_flat_map(|n| {
            let part = "[ab|\\\\]{0,4}";
            (proptest::collection::vec(part, n), proptest::collection::vec(part, n))
        }),
    ) {
        prop_assume!(a != b);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        prop_assert_ne!(join_key(&a), join_key(&b));
    }

    /// The hard cases: tuples whose plain `|` join is the same text, split differently.
    #[test]
    fn tuples_with_the_same_plain_join_get_different_keys(
        (a, b) in proptest::collection::vec("[ab|\\\\]{0,4}", 2..4).prop_flat_map(|a| {
            let joined = a.join("|");
            let pipes: Vec<usize> = joined.match_indices('|').map(|(i, _)| i).collect();
            let cuts = proptest::sample::subsequence(pipes, a.len() - 1);
            (Just(a), cuts.prop_map(move |cuts| {
                let mut parts = Vec::new();
                let mut from = 0;
                for cut in cuts {
                    parts.push(joined[from..cut].to_string());
                    from = cut + 1;
                }
                parts.push(joined[from..].to_string());
                parts
            }))
        }),
    ) {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        prop_assert_eq!(a == b, join_key(&a) == join_key(&b), "{:?} / {:?}", a, b);
    }

    #[test]
    fn keys_without_pipes_or_backslashes_are_the_plain_join(
        parts in proptest::collection::vec("[^|\\\\]{0,6}", 1..4),
    ) {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        prop_assert_eq!(join_key(&parts), parts.join("|"));
    }

    #[test]
    fn an_escaped_composite_key_unescapes_to_the_plain_join_older_journals_hold(
        parts in proptest::collection::vec("[a|\\\\]{0,5}", 2..4),
    ) {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let key = join_key(&parts);
        let old = unescaped_key(&key).unwrap_or_else(|| key.clone());
        prop_assert_eq!(old, parts.join("|"));
    }

    #[test]
    fn no_cell_content_makes_apply_panic(cells in proptest::collection::vec("\\PC{0,24}", 0..8)) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/files");
        let p = plan(&dir);
        let _ = p.apply(&record(&cells));
    }
}
