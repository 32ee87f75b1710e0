//! Requisites, bank details and addresses (issue 20) through the binary: each on its parent
//! (a company; a requisite), its preset found by name, exactly once under seeded faults and
//! SIGKILLs (a requisite and a bank detail are found again by `XML_ID`; an address added
//! again becomes an update), a re-run sends nothing, and a row that moves a requisite to
//! another company is rejected, saying so.

use crate::cli_support::{faulty, finish, kill_at, read};
use crate::common;

use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::sandbox::{Sandbox, SandboxHandle};
use b24import::transport::Rate;
use serde_json::{Value, json};

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// The key of requisite `i`: every seventh one longer than an `XML_ID` may be (it is hashed).
fn req_key(i: usize) -> String {
    if i % 7 == 3 { format!("REQ-{i}-{}", "x".repeat(50)) } else { format!("REQ-{i}") }
}

/// `n` companies, one requisite each, one bank detail per requisite, a legal and an actual
/// address per requisite. The mappings, in order.
pub(crate) fn job(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut companies = String::from("Code,Title\n");
    let mut reqs = String::from("Req,Company,Legal name,INN,KPP\n");
    let mut banks = String::from("Acc,Req,Bank,BIK,Account\n");
    let mut addresses = String::from("Addr,Req,Kind,Street,City,Zip,Country\n");
    for i in 0..n {
        let req = req_key(i);
        companies.push_str(&format!("F{i},Firm {i}\n"));
        reqs.push_str(&format!("{req},F{i},\"Firm {i}, LLC\",77{i:08},77{i:07}\n"));
        banks.push_str(&format!("B{i},{req},Bank {i},0445{i:05},40702{i:015}\n"));
        for kind in ["legal", "actual"] {
            addresses
                .push_str(&format!("A{i}-{kind},{req},{kind},{kind} street {i},Moscow,1{i:05},Russia\n"));
        }
    }
    write(dir, "companies.csv", &companies);
    write(dir, "requisites.csv", &reqs);
    write(dir, "banks.csv", &banks);
    write(dir, "addresses.csv", &addresses);
    vec![
        write(
            dir,
            "companies.toml",
            "name = \"companies\"\n[source]\npath = \"companies.csv\"\nkey = \"Code\"\n[target]\nentity = \"company\"\n\
             origin = \"rq\"\n[fields]\ntitle = \"Title\"\n",
        ),
        write(
            dir,
            "requisites.toml",
            "name = \"requisites\"\n[source]\npath = \"requisites.csv\"\nkey = \"Req\"\n[target]\nentity = \"requisite\"\n\
             parent = { step = \"companies\", column = \"Company\" }\npreset = \"Organization\"\n[fields]\n\
             NAME = \"Legal name\"\nRQ_INN = \"INN\"\nRQ_KPP = \"KPP\"\nRQ_COMPANY_NAME = \"Legal name\"\n",
        ),
        write(
            dir,
            "banks.toml",
            "name = \"banks\"\n[source]\npath = \"banks.csv\"\nkey = \"Acc\"\n[target]\nentity = \"bank_detail\"\n\
             parent = { step = \"requisites\", column = \"Req\" }\n[fields]\nNAME = \"Bank\"\nRQ_BIK = \"BIK\"\n\
             RQ_ACC_NUM = \"Account\"\n",
        ),
        write(
            dir,
            "addresses.toml",
            "name = \"addresses\"\n[source]\npath = \"addresses.csv\"\nkey = \"Addr\"\n[target]\nentity = \"address\"\n\
             parent = { step = \"requisites\", column = \"Req\" }\n[fields]\n\
             TYPE_ID = { column = \"Kind\", map = { legal = \"6\", actual = \"1\", postal = \"8\" } }\n\
             ADDRESS_1 = \"Street\"\nCITY = \"City\"\nPOSTAL_CODE = \"Zip\"\nCOUNTRY = \"Country\"\n",
        ),
    ]
}

fn args(mappings: &[PathBuf], journal: &Path, sandbox: &SandboxHandle) -> Vec<String> {
    args_of(mappings, journal, sandbox, 20)
}

fn args_of(mappings: &[PathBuf], journal: &Path, sandbox: &SandboxHandle, batch: usize) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    a.extend(["--journal".into(), journal.display().to_string(), "--batch-size".into(), batch.to_string()]);
    a.extend(["--webhook".into(), sandbox.webhook_url(), "--rate".into(), "400".into()]);
    a.extend(["--burst".into(), "100".into()]);
    a
}

/// Every record a legacy list holds, all pages.
async fn all(sandbox: &SandboxHandle, method: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = read(sandbox, method, json!({"start": out.len()})).await;
        let page = page.as_array().cloned().unwrap_or_default();
        let done = page.len() < 50;
        out.extend(page);
        if done {
            return out;
        }
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_str()?.parse().ok()).unwrap_or(0)
}

/// Exactly the job's records, each on its parent, none twice.
async fn assert_records(sandbox: &SandboxHandle, n: usize, what: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let companies = common::sandbox_items(sandbox, 4).await;
    assert_eq!(companies.len(), n, "{what}: companies");
    let reqs = all(sandbox, "crm.requisite.list").await;
    assert_eq!(reqs.len(), n, "{what}: requisites");
    let banks = all(sandbox, "crm.requisite.bankdetail.list").await;
    assert_eq!(banks.len(), n, "{what}: bank details");
    let addresses = all(sandbox, "crm.address.list").await;
    assert_eq!(addresses.len(), 2 * n, "{what}: addresses");
    for i in 0..n {
        let key = req_key(i);
        let xml = b24import::payload::record::record_xml_id(&key);
        let req =
            reqs.iter().find(|r| r["XML_ID"] == xml.as_str()).unwrap_or_else(|| panic!("{what}: {key}"));
        let company = companies.iter().find(|c| c["originId"] == format!("F{i}")).expect("company");
        assert_eq!(num(&req["ENTITY_TYPE_ID"]), 4, "{what}: {key} on a company");
        assert_eq!(num(&req["ENTITY_ID"]), company["id"].as_u64().expect("id"), "{what}: {key}'s company");
        assert_eq!(num(&req["PRESET_ID"]), 1, "{what}: {key}'s preset");
        assert_eq!(req["RQ_INN"], format!("77{i:08}"), "{what}: {key}'s INN");
        let rid = num(&req["ID"]);
        let bank = banks.iter().find(|b| b["XML_ID"] == format!("B{i}")).expect("bank");
        assert_eq!(num(&bank["ENTITY_ID"]), rid, "{what}: B{i}'s requisite");
        let mut kinds: Vec<u64> = addresses
            .iter()
            .filter(|a| num(&a["ENTITY_ID"]) == rid && num(&a["ENTITY_TYPE_ID"]) == 8)
            .map(|a| num(&a["TYPE_ID"]))
            .collect();
        kinds.sort_unstable();
        assert_eq!(kinds, [1, 6], "{what}: {key}'s addresses");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requisites_bank_details_and_addresses_land_on_their_parents_once() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 12;
    let journal = dir.path().join("j.sqlite");
    let mappings = job(dir.path(), n);
    let a = args(&mappings, &journal, &sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_records(&sandbox, n, "first run").await;
    let before = sandbox.snapshot().requests.total;
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    let more = sandbox.snapshot().requests.total - before;
    assert!(more < 8, "a re-run made {more} requests: {out}");
    // A second row for an address that exists (same kind, same requisite): an update.
    let csv = std::fs::read_to_string(dir.path().join("addresses.csv")).expect("csv");
    std::fs::write(
        dir.path().join("addresses.csv"),
        format!("{csv}A0-again,REQ-0,legal,New street 0,Moscow,100000,Russia\n"),
    )
    .expect("csv");
    // A requisite moved to another company: rejected, saying so.
    let reqs = std::fs::read_to_string(dir.path().join("requisites.csv")).expect("csv");
    std::fs::write(dir.path().join("requisites.csv"), reqs.replace("REQ-1,F1,", "REQ-1,F2,")).expect("csv");
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(1), "the moved requisite is rejected: {out}");
    assert_records(&sandbox, n, "after an existing address and a moved requisite").await;
    let legal = all(&sandbox, "crm.address.list").await;
    assert!(
        legal.iter().any(|a| a["ADDRESS_1"] == "New street 0" && num(&a["TYPE_ID"]) == 6),
        "the existing address was updated: {legal:?}"
    );
    let j = Journal::open_read_only(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "requisites").expect("step");
    let rejected = j.rejected_rows(step.id).expect("rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].error_code.as_deref(), Some("immutable_field_changed"));
    let text = rejected[0].error_text.clone().unwrap_or_default();
    assert!(text.contains("owner and preset cannot change") && text.contains("ENTITY_ID"), "{text}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requisites_killed_three_times_under_faults_land_exactly_once() {
    let sandbox = Sandbox::start(faulty(61, RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 60;
    let journal = dir.path().join("j.sqlite");
    // Batches of 5: some 60 write requests, so that each kill lands inside a step.
    let a = args_of(&job(dir.path(), n), &journal, &sandbox, 5);
    kill_at(&sandbox, &a, &[18, 26, 22]).await;
    {
        let j = Journal::open_read_only(&journal).expect("journal");
        let steps = j.steps().expect("steps");
        let done: Vec<(String, u64)> =
            steps.iter().map(|s| (s.name.clone(), j.counts(s.id).expect("counts").done)).collect();
        assert!(
            done.iter().any(|(name, d)| name != "companies" && *d > 0),
            "the kills stopped before any record was imported: {done:?}"
        );
    }
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_records(&sandbox, n, "after three kills under faults").await;
    let j = Journal::open_read_only(&journal).expect("journal");
    for s in j.steps().expect("steps") {
        let c = j.counts(s.id).expect("counts");
        assert_eq!(c.pending + c.sent + c.unknown + c.rejected, 0, "step {}: {c:?}", s.name);
    }
    drop(j);
    assert!(sandbox.snapshot().faults.values().sum::<u64>() > 0, "no fault was injected");
    let before = sandbox.snapshot().requests.total;
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    let more = sandbox.snapshot().requests.total - before;
    assert!(more < 20, "a re-run made {more} requests: {out}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_preset_stops_the_run_before_anything_is_written() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let mappings = job(dir.path(), 2);
    let text = std::fs::read_to_string(&mappings[1]).expect("mapping");
    std::fs::write(&mappings[1], text.replace("\"Organization\"", "\"Organisation\"")).expect("mapping");
    let a = args(&mappings, &dir.path().join("j.sqlite"), &sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("no requisite preset named \"Organisation\"") && out.contains("\"Organization\""),
        "{out}"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    assert!(common::sandbox_items(&sandbox, 4).await.is_empty(), "nothing written");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_online_checks_the_presets_and_emits_their_ids() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let mappings = job(dir.path(), 2);
    let emit = dir.path().join("emit.jsonl");
    let mut a: Vec<String> = vec!["validate".into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    a.extend(["--online".into(), "--webhook".into(), sandbox.webhook_url()]);
    a.extend(["--emit".into(), emit.display().to_string()]);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    let emitted = std::fs::read_to_string(&emit).expect("emit");
    let req: Value = emitted
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .find(|l| l["method"] == "crm.requisite.add")
        .expect("a requisite");
    assert_eq!(req["params"]["fields"]["PRESET_ID"], 1, "the preset's ID: {req}");
    let text = std::fs::read_to_string(&mappings[1]).expect("mapping");
    std::fs::write(&mappings[1], text.replace("\"Organization\"", "\"Organisation\"")).expect("mapping");
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no requisite preset named \"Organisation\""), "{out}");
    let by_method = sandbox.snapshot().requests.by_method;
    assert!(
        !by_method.keys().any(|m| m.ends_with(".add") || m.ends_with(".update")),
        "validate wrote: {by_method:?}"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upserted_address_that_changed_is_updated_in_place() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 3;
    let mappings = job(dir.path(), n);
    let text = std::fs::read_to_string(&mappings[3]).expect("mapping");
    std::fs::write(
        &mappings[3],
        text.replace("entity = \"address\"", "entity = \"address\"\nmode = \"upsert\""),
    )
    .expect("mapping");
    let a = args(&mappings, &dir.path().join("j.sqlite"), &sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_records(&sandbox, n, "first run").await;
    let csv = std::fs::read_to_string(dir.path().join("addresses.csv")).expect("csv");
    std::fs::write(dir.path().join("addresses.csv"), csv.replace("legal street 1,", "Moved street 1,"))
        .expect("csv");
    let before = sandbox.snapshot().requests.by_method.get("crm.address.update").copied().unwrap_or(0);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_records(&sandbox, n, "after the change").await;
    let after = sandbox.snapshot().requests.by_method.get("crm.address.update").copied().unwrap_or(0);
    assert_eq!(after - before, 1, "one update: {out}");
    let addresses = all(&sandbox, "crm.address.list").await;
    let moved: Vec<&Value> = addresses.iter().filter(|a| a["ADDRESS_1"] == "Moved street 1").collect();
    assert_eq!(moved.len(), 1, "{addresses:?}");
    assert_eq!(num(&moved[0]["TYPE_ID"]), 6);
    assert_eq!(moved[0]["CITY"], "Moscow", "the other fields kept");
    sandbox.stop().await;
}
