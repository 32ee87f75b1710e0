//! The duplicate-control keys of [target] (`on_duplicate`, `duplicate_by`, `on_ambiguous`):
//! accepted for lead, contact and company, refused elsewhere and for fm types the mapping lacks,
//! each problem with `path:line:col` and what to do.

use std::path::Path;

use b24import::mapping::{self, Diagnostics, DuplicateRule, OnAmbiguous, OnDuplicate};

const HEADER: &str = "Code,Name,Phones,E-mail\n";

/// Loads and compiles `mapping` like `validate` does: the plan's rule, or every problem.
fn compile(mapping: &str) -> Result<DuplicateRule, Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("people.csv"), format!("{HEADER}C1,Ann,+7916,a@b.ru\n")).expect("csv");
    let path = dir.path().join("m.toml");
    std::fs::write(&path, mapping).expect("mapping");
    let render =
        |d: Diagnostics| d.0.iter().map(|x| strip_dir(&x.to_string(), dir.path())).collect::<Vec<_>>();
    let file = mapping::load(&path).map_err(render)?;
    let headers: Vec<String> = HEADER.trim().split(',').map(str::to_string).collect();
    file.compile(&headers).map(|plan| plan.duplicates).map_err(render)
}

fn strip_dir(s: &str, dir: &Path) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

/// A contact mapping with an e-mail column, `target` added to [target] (line 7 on).
fn contact(target: &str) -> String {
    format!(
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n{target}\n\
         [fields]\nname = \"Name\"\n[[fm]]\ntype = \"EMAIL\"\ncolumn = \"E-mail\"\n"
    )
}

#[test]
fn the_keys_compile_into_the_rule_with_duplicate_by_defaulting_to_the_mappings_fm_types() {
    let rule = compile(&contact("on_duplicate = \"merge\"\non_ambiguous = \"first\"")).expect("compiles");
    assert_eq!(
        rule,
        DuplicateRule {
            on_duplicate: OnDuplicate::Merge,
            by: vec!["EMAIL"],
            on_ambiguous: OnAmbiguous::First
        }
    );
    assert!(rule.checks());
    let rule = compile(&contact("")).expect("compiles");
    assert_eq!(rule.on_duplicate, OnDuplicate::Create, "the default is today's behaviour");
    assert!(!rule.checks());
}

#[test]
fn duplicate_by_only_names_fm_types_the_mapping_has() {
    let got = compile(&contact("on_duplicate = \"skip\"\nduplicate_by = [\"EMAIL\", \"PHONE\", \"FAX\"]"))
        .expect_err("refused");
    assert_eq!(
        got,
        vec![
            "m.toml:8:26: duplicate_by names PHONE, but the mapping has no [[fm]] of type PHONE; add one or \
             remove PHONE from duplicate_by",
            "m.toml:8:35: unknown duplicate_by `FAX` (EMAIL or PHONE: the portal matches duplicates by \
             communication only)",
        ]
    );
}

#[test]
fn the_keys_are_refused_on_a_deal_at_their_position() {
    let deal = "name = \"deals\"\n[source]\npath = \"people.csv\"\n[target]\nentity = \"deal\"\n\
                on_duplicate = \"skip\"\non_ambiguous = \"skip\"\n[fields]\ntitle = \"Name\"\n";
    let got = compile(deal).expect_err("refused");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("m.toml:6:16: on_duplicate applies to lead, contact and company steps only"),
        "{got:?}"
    );
    assert!(got[1].starts_with("m.toml:7:16: on_ambiguous applies"), "{got:?}");
    assert!(got[0].contains("remove it from this deal step"), "{got:?}");
}

#[test]
fn an_unknown_mode_is_refused_with_the_accepted_ones() {
    let got = compile(&contact("on_duplicate = \"replace\"")).expect_err("refused");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("m.toml:7:"), "{got:?}");
    assert!(got[0].contains("create") && got[0].contains("merge"), "{got:?}");
}

#[test]
fn on_duplicate_without_a_phone_or_email_column_is_refused() {
    let mapping = "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\n\
                   entity = \"contact\"\non_duplicate = \"skip\"\n[fields]\nname = \"Name\"\n";
    let got = compile(mapping).expect_err("refused");
    assert_eq!(
        got,
        vec![
            "m.toml:7:16: on_duplicate needs a PHONE or EMAIL [[fm]] column to match by; add one, or remove on_duplicate"
        ]
    );
}
