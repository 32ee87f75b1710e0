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
    m.toml:7:10: unknown entity `contakt`, did you mean `contact`? (one of lead, deal, contact, company, quote, invoice, user, or entity_type_id = N for a smart process)
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
