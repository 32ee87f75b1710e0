//! Product rows (issue 20) through the binary: the rows of several deals, interleaved in the
//! source, land as one `crm.item.productrow.set` per deal; a re-run sends nothing; a changed
//! row sends only its deal's set again; seeded faults and SIGKILLs then a finishing run give
//! exactly the rows; `undo` empties them.

use crate::cli_support::{faulty, finish, kill_at, read};
use crate::common;

use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use b24import::transport::Rate;
use serde_json::{Value, json};

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

/// Rows per deal.
const ROWS: usize = 3;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// `n` deals and `ROWS` product rows each, the rows of all deals interleaved (row `r` of
/// every deal, then row `r + 1`). The mappings, in order.
fn job(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut deals = String::from("Code,Title\n");
    let mut products = String::from("Deal,Product,Price,Qty,Discount %,VAT %,Unit\n");
    for i in 0..n {
        deals.push_str(&format!("D{i},Deal {i}\n"));
    }
    for r in 0..ROWS {
        for i in 0..n {
            let unit = ["pcs", "kg", "h"][r % 3];
            products.push_str(&format!("D{i},Item {i}-{r},{}.5,{},0,20,{unit}\n", 100 + r, r + 1));
        }
    }
    write(dir, "deals.csv", &deals);
    write(dir, "products.csv", &products);
    vec![
        write(
            dir,
            "deals.toml",
            "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Code\"\n[target]\nentity = \"deal\"\n\
             origin = \"pr\"\n[fields]\ntitle = \"Title\"\n",
        ),
        write(
            dir,
            "products.toml",
            "name = \"deal_products\"\n[source]\npath = \"products.csv\"\n[target]\nentity = \"product_rows\"\n\
             parent = { step = \"deals\", column = \"Deal\" }\n[fields]\n\
             productName = { column = \"Product\", required = true }\n\
             price = { column = \"Price\", type = \"number\" }\nquantity = { column = \"Qty\", type = \"number\" }\n\
             discountRate = { column = \"Discount %\", type = \"number\" }\ntaxRate = { column = \"VAT %\", type = \"number\" }\n\
             measureCode = { column = \"Unit\", map = { pcs = \"796\", m = \"6\", kg = \"166\", h = \"356\" } }\n",
        ),
    ]
}

fn args_of(
    cmd: &str,
    mappings: &[PathBuf],
    journal: &Path,
    sandbox: &SandboxHandle,
    batch: usize,
) -> Vec<String> {
    let mut a: Vec<String> = vec![cmd.into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    a.extend(["--journal".into(), journal.display().to_string(), "--batch-size".into(), batch.to_string()]);
    a.extend(["--webhook".into(), sandbox.webhook_url(), "--rate".into(), "400".into()]);
    a.extend(["--burst".into(), "100".into()]);
    a
}

/// The product rows of deal `id`, in the portal's order.
async fn rows_of(sandbox: &SandboxHandle, id: u64) -> Vec<Value> {
    let r = read(
        sandbox,
        "crm.item.productrow.list",
        json!({"filter": {"=ownerType": "D", "=ownerId": id}, "order": {"id": "ASC"}}),
    )
    .await;
    r["productRows"].as_array().cloned().unwrap_or_default()
}

fn sets(sandbox: &SandboxHandle) -> u64 {
    sandbox.snapshot().requests.by_method.get("crm.item.productrow.set").copied().unwrap_or(0)
}

/// Every deal holds exactly its rows, in source order (`changed`: deal 1's first price).
async fn assert_rows(sandbox: &SandboxHandle, n: usize, changed: Option<f64>, what: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let deals = common::sandbox_items(sandbox, 2).await;
    assert_eq!(deals.len(), n, "{what}: deals");
    for i in 0..n {
        let deal = deals.iter().find(|d| d["originId"] == format!("D{i}")).expect("deal");
        let rows = rows_of(sandbox, deal["id"].as_u64().expect("id")).await;
        let names: Vec<String> =
            rows.iter().map(|r| r["productName"].as_str().unwrap_or("").to_string()).collect();
        let wanted: Vec<String> = (0..ROWS).map(|r| format!("Item {i}-{r}")).collect();
        assert_eq!(names, wanted, "{what}: deal D{i}");
        let price = rows[0]["price"].as_f64().unwrap_or(0.0);
        let expected = if i == 1 { changed.unwrap_or(100.5) } else { 100.5 };
        assert!((price - expected).abs() < 1e-9, "{what}: D{i}'s first price {price}");
        assert_eq!(rows[1]["measureCode"].as_u64(), Some(166), "{what}: D{i}'s unit");
        assert!((rows[2]["quantity"].as_f64().unwrap_or(0.0) - 3.0).abs() < 1e-9, "{what}: D{i}'s quantity");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn interleaved_rows_land_as_one_set_per_deal_and_only_a_changed_deal_is_sent_again() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 7;
    let journal = dir.path().join("j.sqlite");
    let mappings = job(dir.path(), n);
    let a = args_of("run", &mappings, &journal, &sandbox, 20);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_rows(&sandbox, n, None, "first run").await;
    assert_eq!(sets(&sandbox), n as u64, "one set per deal: {out}");
    // A re-run sends nothing.
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sets(&sandbox), n as u64, "a re-run sent a set: {out}");
    // One row of deal 1 changed: only its set goes again (in create mode too).
    let csv = std::fs::read_to_string(dir.path().join("products.csv")).expect("csv");
    std::fs::write(dir.path().join("products.csv"), csv.replace("D1,Item 1-0,100.5,", "D1,Item 1-0,99.25,"))
        .expect("csv");
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sets(&sandbox), n as u64 + 1, "only the changed deal's set: {out}");
    assert_rows(&sandbox, n, Some(99.25), "after a changed row").await;
    // The journal's unit is the parent: one record per deal, all done.
    let j = Journal::open_read_only(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "deal_products").expect("step");
    assert_eq!(step.entity, "product_rows:2");
    let c = j.counts(step.id).expect("counts");
    assert_eq!((c.done, c.pending + c.sent + c.unknown + c.rejected), (n as u64, 0), "{c:?}");
    drop(j);
    // `undo` of the product rows sets every deal's rows back to none (the deals stay).
    let mut u = args_of("undo", &mappings, &journal, &sandbox, 20);
    u.extend(["--step".into(), "deal_products".into()]);
    let (code, out) = finish(&u).await;
    assert_eq!(code, Some(0), "{out}");
    let deals = common::sandbox_items(&sandbox, 2).await;
    assert_eq!(deals.len(), n, "the deals stay: {out}");
    for d in &deals {
        assert!(rows_of(&sandbox, d["id"].as_u64().expect("id")).await.is_empty(), "{d}: {out}");
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_whose_deal_is_not_imported_waits_and_lands_once_it_is() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 3;
    let journal = dir.path().join("j.sqlite");
    let mappings = job(dir.path(), n);
    // Deal D2 is not in the deals' source yet: its rows wait (pending) for it.
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).expect("csv");
    std::fs::write(dir.path().join("deals.csv"), deals.replace("D2,Deal 2\n", "")).expect("csv");
    let a = args_of("run", &mappings, &journal, &sandbox, 20);
    let (code, out) = finish(&a).await;
    assert!(code == Some(0) || code == Some(1), "{out}");
    assert_eq!(sets(&sandbox), 2, "the two deals imported: {out}");
    let j = Journal::open_read_only(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "deal_products").expect("step");
    assert_eq!(j.counts(step.id).expect("counts").pending, 1, "deal D2's rows wait");
    drop(j);
    std::fs::write(dir.path().join("deals.csv"), deals).expect("csv");
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_rows(&sandbox, n, None, "once the deal is imported").await;
    assert_eq!(sets(&sandbox), 3, "{out}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn product_rows_killed_three_times_under_faults_land_exactly_once() {
    let sandbox = Sandbox::start(faulty(67, RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 60;
    let journal = dir.path().join("j.sqlite");
    let a = args_of("run", &job(dir.path(), n), &journal, &sandbox, 5);
    kill_at(&sandbox, &a, &[14, 22, 9]).await;
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_rows(&sandbox, n, None, "after three kills under faults").await;
    let j = Journal::open_read_only(&journal).expect("journal");
    for s in j.steps().expect("steps") {
        let c = j.counts(s.id).expect("counts");
        assert_eq!(c.pending + c.sent + c.unknown + c.rejected, 0, "step {}: {c:?}", s.name);
    }
    drop(j);
    assert!(sandbox.snapshot().faults.values().sum::<u64>() > 0, "no fault was injected");
    let before = sets(&sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sets(&sandbox), before, "a re-run sent a set: {out}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn catalogue_products_are_found_by_xml_id_and_an_unknown_one_holds_its_deal_back() {
    let schema = b24import::sandbox::SchemaFile::from_toml(
        "[[products]]\nid = 11\nname = \"Valve DN20\"\nxml_id = \"SKU-V20\"\nprice = 590.0\n\
         [[products]]\nid = 12\nname = \"Steel pipe\"\nxml_id = \"SKU-P20\"\nmeasure_code = 6\n",
        "products.toml",
    )
    .expect("schema");
    let sandbox = Sandbox::start(SandboxConfig { schema: Some(schema), ..common::sandbox_config(RATE) })
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "deals.csv", "Code,Title\nD0,Deal 0\nD1,Deal 1\n");
    write(
        dir.path(),
        "products.csv",
        "Deal,SKU,Price,Qty\nD0,SKU-V20,590,2\nD1,SKU-P20,118,10\nD0,SKU-P20,118,4\nD1,SKU-NONE,1,1\n",
    );
    let deals = write(
        dir.path(),
        "deals.toml",
        "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Code\"\n[target]\nentity = \"deal\"\n\
         [fields]\ntitle = \"Title\"\n",
    );
    let products = write(
        dir.path(),
        "products.toml",
        "name = \"deal_products\"\n[source]\npath = \"products.csv\"\n[target]\nentity = \"product_rows\"\n\
         parent = { step = \"deals\", column = \"Deal\" }\n[fields]\n\
         productId = { column = \"SKU\", product = \"xmlId\" }\nprice = \"Price\"\nquantity = \"Qty\"\n",
    );
    let mappings = vec![deals, products];
    // validate --online names the unknown product before anything is written (and writes nothing).
    let mut v: Vec<String> = vec!["validate".into()];
    v.extend(mappings.iter().map(|m| m.display().to_string()));
    v.extend(["--online".into(), "--webhook".into(), sandbox.webhook_url()]);
    let (code, out) = finish(&v).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("SKU-NONE") && out.contains("unknown_label"), "{out}");
    assert_eq!(sets(&sandbox), 0);
    let journal = dir.path().join("j.sqlite");
    let a = args_of("run", &mappings, &journal, &sandbox, 20);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(1), "D1's unknown product rejects D1's set: {out}");
    assert_eq!(sets(&sandbox), 1, "only D0's set: {out}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let items = common::sandbox_items(&sandbox, 2).await;
    let id_of =
        |k: &str| items.iter().find(|d| d["originId"] == k).and_then(|d| d["id"].as_u64()).expect("deal");
    let d0 = rows_of(&sandbox, id_of("D0")).await;
    let ids: Vec<u64> = d0.iter().filter_map(|r| r["productId"].as_u64()).collect();
    assert_eq!(ids, [11, 12], "{d0:?}");
    assert!(rows_of(&sandbox, id_of("D1")).await.is_empty(), "D1 is not sent with a row missing");
    assert_eq!(
        sandbox.snapshot().requests.by_method.get("crm.product.list").copied(),
        Some(2),
        "the catalogue is read once by validate --online and once by the run"
    );
    let j = Journal::open_read_only(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "deal_products").expect("step");
    let rejected = j.rejected_rows(step.id).expect("rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].error_code.as_deref(), Some("unknown_label"));
    let text = rejected[0].error_text.clone().unwrap_or_default();
    assert!(text.contains("XML_ID \"SKU-NONE\"") && text.contains("D1"), "{text}");
    drop(j);
    // Fixed: D1's set goes, D0's is not sent again.
    let csv = std::fs::read_to_string(dir.path().join("products.csv")).expect("csv");
    std::fs::write(dir.path().join("products.csv"), csv.replace("SKU-NONE", "SKU-V20")).expect("csv");
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sets(&sandbox), 2, "{out}");
    assert_eq!(rows_of(&sandbox, id_of("D1")).await.len(), 2);
    sandbox.stop().await;
}
