//! Mapping-file problems are reported all at once, each with `path:line:col` and a suggestion.

use std::path::Path;

use b24import::mapping::{self, Diagnostics};

const HEADER: &str = "Code,First name,Last name,Birthday,Phones,E-mail\n";

/// Writes `mapping` and a small CSV next to it, then loads and compiles like `validate` does.
fn problems(mapping: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("people.csv"), format!("{HEADER}C1,Ann,Lee,01.02.1990,,a@b.ru\n"))
        .expect("csv");
    let path = dir.path().join("m.toml");
    std::fs::write(&path, mapping).expect("mapping");
    let render =
        |d: Diagnostics| d.0.iter().map(|x| strip_dir(&x.to_string(), dir.path())).collect::<Vec<_>>();
    let file = match mapping::load(&path) {
        Ok(f) => f,
        Err(d) => return render(d),
    };
    let headers: Vec<String> = HEADER.trim().split(',').map(str::to_string).collect();
    match file.compile(&headers) {
        Ok(_) => Vec::new(),
        Err(d) => render(d),
    }
}

fn strip_dir(s: &str, dir: &Path) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

const GOOD: &str = r#"name = "people"
[source]
path = "people.csv"
key = "Code"
[target]
entity = "contact"
[fields]
name = "First name"
lastName = { column = "Last name", required = true }
birthdate = { column = "Birthday", type = "date", formats = ["%d.%m.%Y"] }
[[fm]]
type = "EMAIL"
column = "E-mail"
"#;

#[test]
fn a_correct_mapping_has_no_problems() {
    assert_eq!(problems(GOOD), Vec::<String>::new());
}

#[test]
fn every_problem_is_reported_at_once_with_line_and_column() {
    let bad = r#"name = "people"
[source]
path = "people.csv"
key = "Kode"
delimter = ";"
[target]
entity = "contakt"
[fields]
name = { colum = "First name" }
birthdate = { column = "Birthdy", type = "dat" }
[[fm]]
type = "PHONE"
value_type = "CELL"
column = "Phones"
"#;
    insta::assert_snapshot!(problems(bad).join("\n"), @r#"
    m.toml:4:7: key: column "Kode" is not in the source header, did you mean `Code`? (the header has: "Code", "First name", "Last name", "Birthday", "Phones", "E-mail")
    m.toml:5:1: unknown key `delimter`, did you mean `delimiter`?
    m.toml:7:10: unknown entity `contakt`, did you mean `contact`? (one of lead, deal, contact, company, quote, invoice, user, comment, activity, requisite, bank_detail, address, product_rows, or entity_type_id = N for a smart process)
    m.toml:9:1: field `name`: needs one of `column`, `columns`, `value` or `template`
    m.toml:9:10: unknown key `colum`, did you mean `column`?
    m.toml:10:24: field `birthdate`: column "Birthdy" is not in the source header, did you mean `Birthday`? (the header has: "Code", "First name", "Last name", "Birthday", "Phones", "E-mail")
    m.toml:10:42: unknown value `dat`, did you mean `date`?
    m.toml:13:14: value_type `CELL` is not valid for PHONE (one of WORK, MOBILE, FAX, HOME, PAGER, MAILING, OTHER)
    "#);
}

#[test]
fn a_field_name_in_the_wrong_case_is_caught_because_the_portal_would_ignore_it() {
    let bad = GOOD.replace("lastName = ", "lastname = ");
    let got = problems(&bad);
    assert_eq!(
        got,
        vec![
            "m.toml:9:1: unknown field `lastname`, did you mean `lastName`? (field names are case-sensitive)"
        ]
    );
}

#[test]
fn toml_syntax_errors_point_at_the_line() {
    let got = problems("name = \"x\"\n[source\npath = 1\n");
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("m.toml:2:"), "{got:?}");
    assert!(got[0].contains("TOML syntax"), "{got:?}");
}

#[test]
fn fm_on_a_deal_is_refused() {
    let bad = GOOD.replace("entity = \"contact\"", "entity = \"deal\"").replace("name = \"First name\"\n", "").replace(
        "lastName = { column = \"Last name\", required = true }\nbirthdate = { column = \"Birthday\", type = \"date\", formats = [\"%d.%m.%Y\"] }\n",
        "title = \"Last name\"\n",
    );
    let got = problems(&bad);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("deal has no multifields"), "{got:?}");
}

#[test]
fn two_inputs_for_one_field_are_refused() {
    let bad = GOOD.replace(r#"name = "First name""#, r#"name = { column = "First name", value = "x" }"#);
    assert_eq!(
        problems(&bad),
        vec!["m.toml:8:1: field `name`: give only one of `column`, `columns`, `value` or `template`"]
    );
}

#[test]
fn unknown_template_columns_and_bad_date_formats_are_reported() {
    let bad = GOOD.replace(
        r#"name = "First name""#,
        "name = { template = \"{First nam} x\" }\ncomments = { column = \"Code\", type = \"date\", formats = [\"%Q\"] }",
    );
    let got = problems(&bad);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("column \"First nam\" is not in the source header, did you mean `First name`?"),
        "{got:?}"
    );
    assert!(got[1].contains("`%Q` is not a valid chrono format"), "{got:?}");
}

#[test]
fn a_user_step_without_email_is_refused() {
    let bad = "name = \"u\"\n[source]\npath = \"people.csv\"\n[target]\nentity = \"user\"\n[fields]\nNAME = \"First name\"\nUF_DEPARTMENT = { value = [1] }\n";
    let got = problems(bad);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("needs an `EMAIL` field"), "{got:?}");
}

#[test]
fn smart_process_ids_are_checked() {
    let bad = GOOD
        .replace("entity = \"contact\"", "entity_type_id = 1031")
        .replace("[[fm]]\ntype = \"EMAIL\"\ncolumn = \"E-mail\"\n", "");
    let got = problems(&bad);
    assert!(got.iter().any(|g| g.contains("entity_type_id 1031 is not a smart process id")), "{got:?}");
}

// Regression: each of these mistakes used to pass `validate`'s mapping check and then reject
// every row (or read the wrong rows); now each is a mapping error at its own line and column.
#[test]
fn mistakes_that_would_fail_every_row_are_mapping_errors_at_their_position() {
    let bad = r#"name = "people"
[source]
path = "people.csv"
key = "Code"
[target]
entity = "contact"
[fields]
name = { template = "{First name} {Last name" }
lastName = { template = "{Last name}} x" }
secondName = { template = "a {} b" }
birthdate = { column = "Birthday", type = "date", formats = ["DD.MM.YYYY", "%H:%M", "%d.%m"] }
comments = { column = "Phones", default = "n/a", type = "int" }
opened = { column = "Code", type = "bool", map = { "K1" = "yes", "K2" = "perhaps" } }
ufCrm_1 = { column = "Code", type = "file", max_file_mb = 0 }
ufCrm_2 = { column = "Code", type = "file", max_file_mb = -1.5 }
[[fm]]
type = "PHONE"
column = "Phones"
split = ""
[[require_any]]
columns = []
"#;
    insta::assert_snapshot!(problems(bad).join("\n"), @r#"
    m.toml:8:35: field `name`: template has a `{` that is never closed (close it with `}`, or write `{{` for a literal brace)
    m.toml:9:37: field `lastName`: template has a `}` that closes nothing (write `}}` for a literal brace)
    m.toml:10:30: field `secondName`: template has an empty placeholder `{}`: put a column name inside, e.g. `{First name}`
    m.toml:11:62: field `birthdate`: format `DD.MM.YYYY` has no % specifier, so it matches no date; formats use chrono's syntax: did you mean "%d.%m.%Y"?
    m.toml:11:76: field `birthdate`: format `%H:%M` cannot yield a date: it needs a year, a month and a day (e.g. "%d.%m.%Y", or "%Y %j")
    m.toml:11:85: field `birthdate`: format `%d.%m` cannot yield a date: it needs a year, a month and a day (e.g. "%d.%m.%Y", or "%Y %j")
    m.toml:12:1: field `comments`: default `n/a` is not a valid int: not a whole number; every row that needs the default would be rejected
    m.toml:13:1: field `opened`: map value `perhaps` (for "K2") is not a valid bool: not a yes/no value (yes/no, true/false, 1/0, Y/N, да/нет); every row with "K2" would be rejected
    m.toml:14:59: field `ufCrm_1`: `max_file_mb` must be a number of MiB greater than 0 and at most 1024 (the portal takes at most 2 GB per request), found 0
    m.toml:15:59: field `ufCrm_2`: `max_file_mb` must be a number of MiB greater than 0 and at most 1024 (the portal takes at most 2 GB per request), found -1.5
    m.toml:19:9: [[fm]]: `split` must not be empty (e.g. "," or ";")
    m.toml:21:11: [[require_any]]: `columns` is empty; list the columns of which one must be filled
    "#);
}

#[test]
fn numbers_out_of_range_are_echoed_as_written_and_described_in_words() {
    let bad = r#"name = "people"
[source]
path = "people.csv"
sheet = -1
header_row = 70_000_000
[target]
entity_type_id = -5
[fields]
title = { column = "Code", type = "file", max_file_mb = "big" }
"#;
    let got = problems(bad);
    insta::assert_snapshot!(got.join("\n"), @r#"
    m.toml:4:9: `sheet` must be a sheet name in quotes, or the sheet's position: a whole number from 1 (the first sheet) to 10000, found -1
    m.toml:5:14: `header_row` must be a whole number from 1 to 1048576 (the row that holds the column names; the first row is 1), found 70_000_000
    m.toml:7:18: `entity_type_id` must be a whole number, a smart process's entityTypeId (even and >= 1030, or 128..=192), found -5
    m.toml:9:57: field `title`: `max_file_mb` must be a number of MiB greater than 0 and at most 1024 (the portal takes at most 2 GB per request), found "big" (a string)
    "#);
    for rust_type in ["u32", "usize", "f64", "i64", "integer `"] {
        assert!(!got.iter().any(|g| g.contains(rust_type)), "{rust_type} in {got:?}");
    }
}

#[test]
fn an_empty_source_path_is_a_mapping_error() {
    let bad = GOOD.replace("path = \"people.csv\"", "path = \" \"");
    assert_eq!(
        problems(&bad),
        vec!["m.toml:3:8: `path` is empty: give the CSV or spreadsheet file, relative to this mapping file"]
    );
}

/// A job folder: `people.csv` plus the given mapping files.
fn job(mappings: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("people.csv"), format!("{HEADER}C1,Ann,Lee,01.02.1990,,a@b.ru\n"))
        .expect("csv");
    for (name, text) in mappings {
        std::fs::write(dir.path().join(name), text).expect("mapping");
    }
    dir
}

/// A contact step named `name` whose field `companyId` looks up `lookup` (if any).
fn step(name: &str, lookup: Option<&str>) -> String {
    let lookup =
        lookup.map_or(String::new(), |l| format!("companyId = {{ column = \"Code\", lookup = \"{l}\" }}\n"));
    format!(
        "name = \"{name}\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n[fields]\nname = \"First name\"\n{lookup}"
    )
}

/// Runs the real binary in `dir`: (exit code, stderr).
fn binary(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_b24import"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("binary runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `validate` and `run` on the same mappings: both exit 2 with the same problems.
fn validate_and_run(dir: &Path, mappings: &[&str]) -> String {
    let mut validate = vec!["validate"];
    validate.extend(mappings);
    let (code, validate_err) = binary(dir, &validate);
    assert_eq!(code, Some(2), "validate: {validate_err}");
    let mut run = vec!["run", "--journal", "j.sqlite", "--webhook", "http://127.0.0.1:9/rest/1/x/"];
    run.extend(mappings);
    let (code, run_err) = binary(dir, &run);
    assert_eq!(code, Some(2), "run: {run_err}");
    let errors =
        |s: &str| s.lines().filter(|l| l.starts_with("error: ")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(errors(&validate_err), errors(&run_err), "validate and run refuse alike");
    errors(&validate_err).join("\n")
}

// Regression: two mappings with one step name passed `validate` (only `run` refused them).
#[test]
fn two_mappings_with_one_step_name_are_refused_by_validate_and_run_alike() {
    let dir = job(&[("a.toml", &step("people", None)), ("b.toml", &step("people", None))]);
    insta::assert_snapshot!(validate_and_run(dir.path(), &["a.toml", "b.toml"]), @"error: b.toml:1:8: step name `people` is also the name of a.toml:1:8; step names must be unique in a job (the journal keeps each step's rows under its name): rename one of them");
}

// Regression: a misspelt `lookup` step passed `validate`, then rejected every row at run time.
#[test]
fn a_lookup_to_a_misspelt_step_is_refused_with_did_you_mean() {
    let dir = job(&[("c.toml", &step("companies", None)), ("p.toml", &step("people", Some("compnies")))]);
    insta::assert_snapshot!(validate_and_run(dir.path(), &["c.toml", "p.toml"]), @"error: p.toml:9:41: field `companyId`: lookup step `compnies` is not a step of this job, did you mean `companies`? (steps given: `companies`, `people`)");
}

// Regression: steps that look each other up (or themselves) were accepted; every such row
// was then rejected with `lookup_not_found`.
#[test]
fn lookup_cycles_are_named_as_cycles() {
    let dir = job(&[
        ("a.toml", &step("alpha", Some("beta"))),
        ("b.toml", &step("beta", Some("alpha"))),
        ("s.toml", &step("solo", Some("solo"))),
    ]);
    insta::assert_snapshot!(validate_and_run(dir.path(), &["a.toml", "b.toml", "s.toml"]), @r#"
    error: a.toml:9:41: lookup cycle: alpha -> beta -> alpha (`alpha` field `companyId`, `beta` field `companyId`); each step needs the other's IDs first, so neither can run: drop one of these lookups, or import it in a later step with mode = "update"
    error: s.toml:9:41: field `companyId`: step `solo` looks itself up, a lookup cycle (solo -> solo); a step's IDs are not known while it runs: import that field in a second step with mode = "update"
    "#);
}

// Regression: a run of a step whose lookup names a step that is neither given nor in the
// journal sent every row and had each rejected with `lookup_not_found`.
#[test]
fn a_run_refuses_a_lookup_into_a_step_it_cannot_find_and_says_which_steps_exist() {
    let dir = job(&[("p.toml", &step("people", Some("companies")))]);
    let (code, out) = binary(dir.path(), &["validate", "p.toml"]);
    assert_eq!(code, Some(0), "offline, the step may come from an earlier run: {out}");
    let (code, err) = binary(
        dir.path(),
        &["run", "p.toml", "--journal", "j.sqlite", "--webhook", "http://127.0.0.1:9/rest/1/x/"],
    );
    assert_eq!(code, Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    insta::assert_snapshot!(errors.join("\n"), @"error: p.toml:9:41: field `companyId`: lookup step `companies` is not a step of this job (steps given: `people`; steps in the journal: none): give its mapping before this one, or correct the name");
}

// Regression: key parts were joined with a bare `|`, so ("a|b", "c") and ("a", "b|c") were
// one key and the second row was rejected as a duplicate of the first.
#[test]
fn composite_keys_whose_cells_hold_the_separator_do_not_collide() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("k.csv"), "A,B,Name\na|b,c,Ann\na,b|c,Bob\na\\,|c,Cid\n").expect("csv");
    std::fs::write(
        dir.path().join("k.toml"),
        "name = \"k\"\n[source]\npath = \"k.csv\"\nkey = [\"A\", \"B\"]\n[target]\nentity = \"contact\"\n[fields]\nname = \"Name\"\n",
    )
    .expect("mapping");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_b24import"))
        .current_dir(dir.path())
        .args(["validate", "k.toml", "--emit", "out.jsonl"])
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let emitted = std::fs::read_to_string(dir.path().join("out.jsonl")).expect("emitted");
    let keys: Vec<String> = emitted
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["key"]
                .as_str()
                .expect("key")
                .to_string()
        })
        .collect();
    assert_eq!(keys, vec!["a\\|b|c", "a|b\\|c", "a\\\\|\\|c"]);
}

#[test]
fn method_import_is_for_crm_items_and_does_not_combine_with_duplicate_control() {
    let import = GOOD.replace("entity = \"contact\"", "entity = \"contact\"\nmethod = \"import\"");
    assert_eq!(problems(&import), Vec::<String>::new());
    let with_dups = import.replace("method = \"import\"", "method = \"import\"\non_duplicate = \"skip\"");
    let p = problems(&with_dups);
    assert!(p.len() == 1 && p[0].contains("on_duplicate does not combine with method = \"import\""), "{p:?}");
    let users = GOOD
        .replace("entity = \"contact\"", "entity = \"user\"\nmethod = \"import\"")
        .replace("[fields]\n", "[fields]\nEMAIL = \"E-mail\"\n")
        .replace("name = \"First name\"", "NAME = \"First name\"")
        .replace("lastName = { column = \"Last name\", required = true }\nbirthdate = { column = \"Birthday\", type = \"date\", formats = [\"%d.%m.%Y\"] }\n", "")
        .replace("[[fm]]\ntype = \"EMAIL\"\ncolumn = \"E-mail\"\n", "");
    let p = problems(&users);
    assert!(p.iter().any(|x| x.contains("method = \"import\" applies to CRM items only")), "{p:?}");
    let typo = GOOD.replace("entity = \"contact\"", "entity = \"contact\"\nmethod = \"imports\"");
    let p = problems(&typo);
    assert!(p.iter().any(|x| x.contains("did you mean `import`")), "{p:?}");
}
