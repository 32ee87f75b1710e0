//! Product rows' mapping keys (issue 20) checked offline through `b24import validate`: the
//! example validates with its deals and `--emit` shows each row in the form it joins its
//! deal's set (`ownerType`, the owner as a `$parent` marker, numbers as numbers); product rows
//! hang only on a lead, deal, quote, invoice or smart process step.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const JOB: [&str; 4] = [
    "mappings/examples/record_companies.toml",
    "mappings/examples/record_contacts.toml",
    "mappings/examples/record_deals.toml",
    "mappings/examples/record_products.toml",
];

/// `validate` of the job (products' mapping changed by `edit`), with `extra` arguments.
fn validate(edit: impl Fn(String) -> String, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut args = vec!["validate".to_string()];
    for example in JOB {
        let text = std::fs::read_to_string(repo().join(example)).expect("example");
        let text = text.replace("../../samples/", &format!("{}/samples/", repo().display()));
        let text = if example.ends_with("record_products.toml") { edit(text) } else { text };
        let path = dir.path().join(PathBuf::from(example).file_name().expect("name"));
        std::fs::write(&path, text).expect("write");
        args.push(path.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_b24import")).args(&args).output().expect("binary runs");
    drop(dir);
    out
}

#[test]
fn the_products_example_validates_and_emits_each_row_with_its_owner() {
    let dir = tempfile::tempdir().expect("dir");
    let emit = dir.path().join("emit.jsonl");
    let out = validate(|t| t, &["--emit", emit.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&emit)
        .expect("emit")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|l| l["method"] == "crm.item.productrow.set")
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[0]["params"]["ownerType"], "D");
    assert_eq!(
        rows[0]["params"]["fields"],
        serde_json::json!({
            "productName": "Steel pipe 20 mm", "price": 118.00, "quantity": 40, "discountRate": 0,
            "taxRate": 20, "measureCode": 6, "ownerId": {"$parent": "record_deals", "key": "D1"}
        })
    );
    assert_eq!(rows[4]["params"]["fields"]["measureCode"], 796, "the default unit");
}

#[test]
fn product_rows_hang_on_a_lead_deal_quote_invoice_or_smart_process() {
    let out = validate(|t| t.replace("step = \"record_deals\"", "step = \"record_contacts\""), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "hangs on step `record_contacts`, a contact step: the parent of product rows must be a lead, deal, \
             quote, invoice or smart process step"
        ),
        "{}",
        text(&out)
    );
    let out = validate(|t| t.replace("parent = { step = \"record_deals\", column = \"Deal\" }\n", ""), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("a product_rows step needs its parent item"), "{}", text(&out));
}

#[test]
fn product_names_a_catalogue_product_of_a_product_row_by_xml_id_or_name() {
    let with = |rule: &str| {
        let rule = rule.to_string();
        validate(move |t| t.replace("[fields]\n", &format!("[fields]\n{rule}\n")), &[])
    };
    let out = with("productId = { column = \"Product\", product = \"name\" }");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = with("productId = { column = \"Product\", product = \"sku\" }");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("`product` is \"xmlId\" or \"name\""), "{}", text(&out));
    let out = with("sort = { column = \"Qty\", product = \"xmlId\" }");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("`product` applies to `productId` of a product_rows step"), "{}", text(&out));
}
