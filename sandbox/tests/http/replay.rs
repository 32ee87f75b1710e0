//! The replay of the documented cases: every cURL request example (webhook and OAuth) and every
//! row of the error table of each method page the product relies on, written as data in
//! `tests/http/replay/*.toml` (one file per page in `bitrix24/b24restdocs`: each method
//! `src/bitrix/method.rs` names, the five seed methods among them, and the limits page), sent to
//! the sandbox over HTTP and compared with the documented answer. The files were generated once
//! from the pages (cURL bodies, answer examples, error tables), then completed by hand: the
//! request that provokes each error row, the fixture ids, the reasons. The seed pages' own
//! request examples are replayed, with deeper checks, by `sandbox_seed_replay.rs`.
//!
//! A case is one of:
//! - as documented: it must stay so (a regression is a red test);
//! - `deviation = "why"`: the sandbox answers otherwise, for the reason given; the test fails
//!   when it starts answering as documented, so the mark is removed with the fix;
//! - `todo = "why"`: an error-table row no request provokes yet (an internal failure the page
//!   names without a trigger, or one not written yet); counted, not sent.
//!
//! `cargo test -p b24-sandbox --test http replay:: -- --nocapture` prints
//! `N cases, M as documented` and every deviation with its reason.
//!
//! Keys of a file: `page`, `method`, `[portal]` (a portal of its own with these limits instead
//! of the fixture: `rate`, `burst`, `operating_budget`, `cost`), `[[setup]]` (requests run first: `method`, `body`, and
//! `save`/`save_path` to keep a value of the answer), `[[case]]`. Keys of a case: `name`, `body`
//! (JSON; `"auth":"**put_access_token_here**"` sends it to the OAuth endpoint with the sandbox's
//! token), `method` (default the file's), `set` (`{ "/json/pointer" = "saved name" }`), `denied`
//! (sent by a credential without the set-up rights and without this method's own), `fresh` (on a new fixture portal: the OAuth
//! variant of an example that creates something), `credential = "extranet"` (sent by an
//! extranet user's webhook), `restricted` (to a portal after a plan downgrade, whose
//! application lacks the `crm` scope), `command` (a batch command whose `result_error` entry is
//! the documented error), `repeat` (sent N times, the last answer
//! compared), `save`/`save_path`; the documented answer:
//! `status` (default 200), `error`, `description` or `description_prefix`, `result_type`
//! (`object`, `array`, `number`, `bool`, `string`), `result_keys` (keys the result object has),
//! `result` (JSON the result contains: objects as subsets, `"$any"` matches anything),
//! `time_keys` (keys the answer's `time` has).
//!
//! Every file starts from the same portal: the state the seed pages' examples assume (see
//! [`fixture`]).

use std::collections::BTreeMap;
use std::path::Path;

use b24_sandbox::{SETUP_METHODS, SandboxConfig, SchemaFile};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sandbox_common::{self, Portal};

const TOKEN: &str = "**put_access_token_here**";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageFile {
    page: String,
    method: String,
    /// A portal of its own instead of the fixture: the limits page's cases.
    portal: Option<PortalSpec>,
    #[serde(default)]
    setup: Vec<Step>,
    #[serde(default)]
    case: Vec<Case>,
}

/// The limits a file's own portal runs with (no fixture data).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalSpec {
    rate: f64,
    burst: f64,
    operating_budget: f64,
    #[serde(default)]
    cost: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    method: String,
    body: String,
    save: Option<String>,
    save_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    body: Option<String>,
    method: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    denied: bool,
    #[serde(default)]
    fresh: bool,
    /// `"extranet"`: sent with the fixture's extranet user's webhook.
    credential: Option<String>,
    /// Sent to the file's restricted portal: the fixture after a plan downgrade (no smart
    /// processes, no more workplaces or users) whose OAuth application has only the `user` and
    /// `userfieldconfig` scopes (see [`restricted`]).
    #[serde(default)]
    restricted: bool,
    /// A `batch` case whose documented error is one command's: compares that command's
    /// `result_error` entry (code and description; a command has no HTTP status of its own,
    /// so the documented status is not compared).
    command: Option<String>,
    /// Sent this many times in a row; the last answer is compared.
    repeat: Option<u32>,
    /// Keys the answer's `time` has.
    time_keys: Option<Vec<String>>,
    save: Option<String>,
    save_path: Option<String>,
    todo: Option<String>,
    deviation: Option<String>,
    status: Option<u16>,
    error: Option<String>,
    description: Option<String>,
    description_prefix: Option<String>,
    result_type: Option<String>,
    result_keys: Option<Vec<String>>,
    result: Option<String>,
}

/// The state the pages' examples assume: deal pipeline 9 with the stage `C9:UC_KN8KFI`, smart
/// processes 1..=20 (19 is the SPA 1302 of the crm.item.add page, 20 the SPA 1220 of the
/// crm.type.update page with its relations), the deal field `ufCrm_1721244707107`, companies,
/// contacts and users (2..=6) for the examples' links, leads 1..=102 and quotes 1..=7.
async fn fixture(config: SandboxConfig) -> Portal {
    let schema = SchemaFile::from_toml(sandbox_common::SPA_SCHEMA, "replay").expect("valid schema");
    let p =
        Portal::start(SandboxConfig { rate: 1000.0, burst: 1000.0, schema: Some(schema), ..config }).await;
    let mut deal_category = 0;
    while deal_category < 9 {
        let v = p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "Funnel"}})).await;
        deal_category = v["result"]["category"]["id"].as_u64().expect("category id");
    }
    for stage in ["UC_KN8KFI", "UC_NYL06U"] {
        p.ok(
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE_9", "STATUS_ID": stage, "NAME": stage}}),
        )
        .await;
    }
    sandbox_common::add_page_smart_processes(&p).await;
    p.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "1721244707107", "USER_TYPE_ID": "double"}}),
    )
    .await;
    for n in 1..=5 {
        p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"title": format!("Company {n}")}})).await;
        p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": format!("Contact {n}")}})).await;
        let user = json!({"EMAIL": format!("colleague{n}@example.com"), "UF_DEPARTMENT": [1]});
        p.ok("user.add", user).await;
    }
    // Leads 1..=102 and quotes 1..=7: the deal examples link `leadId: 102` and `quoteId: 7`.
    for (etid, count) in [(1u64, 102u64), (7, 7)] {
        let cmds: Vec<String> =
            (1..=count).map(|n| sandbox_common::add_cmd(etid, json!({"title": format!("#{n}")}))).collect();
        for chunk in cmds.chunks(50) {
            let cmd: serde_json::Map<String, Value> =
                chunk.iter().enumerate().map(|(i, c)| (format!("c{i}"), json!(c))).collect();
            let (status, v) = p.batch(true, Value::Object(cmd)).await;
            assert!(status == 200 && v["result"]["result_error"] == json!([]), "fixture {etid}: {v}");
        }
    }
    p
}

/// The restricted portal of a file's `restricted` cases: the fixture whose OAuth application
/// has only the `user` and `userfieldconfig` scopes, then a plan downgrade: no smart processes,
/// no workplace and no user beyond those there.
async fn restricted() -> Portal {
    let mut config = SandboxConfig::fast();
    config.access.oauth_scopes = Some(["user", "userfieldconfig"].map(String::from).into());
    let p = fixture(config).await;
    let users = p.inspect("users").await;
    let intranet = users["users"].as_array().map_or(0, Vec::len);
    let url = format!("{}/_sandbox/plan", p.handle.base_url());
    let plan = json!({"smart_processes": false, "max_automated_solutions": 0, "max_users": intranet});
    let resp = p.client.post(url).json(&plan).send().await.expect("an answer");
    assert_eq!(resp.status().as_u16(), 200, "the plan endpoint");
    p
}

/// Sends `body` with the extranet user's webhook.
async fn send_extranet(p: &Portal, method: &str, body: Value) -> (u16, Value) {
    let url =
        format!("{}{method}", p.handle.extranet_webhook_url().expect("the fixture has an extranet webhook"));
    let resp = p.client.post(url).json(&body).send().await.expect("an answer");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Sends `body` as the page's example does: OAuth bodies to the OAuth endpoint with the
/// sandbox's token, the others to the webhook.
async fn send(p: &Portal, method: &str, mut body: Value) -> (u16, Value) {
    if body.get("auth").and_then(Value::as_str) == Some(TOKEN) {
        body["auth"] = json!(p.handle.config().oauth.access_token);
        let url = format!("{}{method}", p.handle.client_endpoint());
        let resp = p.client.post(url).json(&body).send().await.expect("an answer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        return (status, serde_json::from_str(&text).unwrap_or(Value::String(text)));
    }
    p.call(method, body).await
}

/// `want` is contained in `got`: objects as subsets, arrays element by element, `"$any"` matches.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (_, Value::String(s)) if s == "$any" => true,
        (Value::Object(g), Value::Object(w)) => {
            w.iter().all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv)))
        }
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (Value::Number(g), Value::Number(w)) => g.as_f64() == w.as_f64(),
        _ => got == want,
    }
}

/// Where `got` does not contain `want`: `result.item.leadId missing`, `result.total 3 != 2`.
fn mismatches(got: &Value, want: &Value, path: &str, out: &mut Vec<String>) {
    match (got, want) {
        (_, Value::String(s)) if s == "$any" => {}
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    None => out.push(format!("{path}.{k} missing")),
                    Some(gv) => mismatches(gv, wv, &format!("{path}.{k}"), out),
                }
            }
        }
        _ if contains(got, want) => {}
        _ => out.push(format!("{path} is {got}, documented {want}")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Null => "null",
    }
}

/// What differs from the documented answer (empty: as documented).
fn differences(case: &Case, status: u16, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let want_status = case.status.unwrap_or(200);
    if status != want_status {
        out.push(format!("status {status}, documented {want_status}"));
    }
    let text = |k: &str| v[k].as_str().map(str::to_string).unwrap_or_else(|| v[k].to_string());
    if let Some(code) = &case.error
        && text("error") != *code
    {
        out.push(format!("error `{}`, documented `{code}`", text("error")));
    }
    let got_description = text("error_description");
    if let Some(d) = &case.description
        && got_description != *d
    {
        out.push(format!("description `{got_description}`, documented `{d}`"));
    }
    if let Some(d) = &case.description_prefix
        && !got_description.starts_with(d.as_str())
    {
        out.push(format!("description `{got_description}`, documented `{d}...`"));
    }
    let result = &v["result"];
    if let Some(t) = &case.result_type
        && type_name(result) != t
    {
        out.push(format!("result is {}, documented {t}", type_name(result)));
    }
    for key in case.result_keys.iter().flatten() {
        if result.get(key).is_none() {
            out.push(format!("result lacks `{key}`"));
        }
    }
    if let Some(want) = &case.result {
        let want: Value = serde_json::from_str(want).expect("`result` is JSON");
        if !contains(result, &want) {
            let mut paths = Vec::new();
            mismatches(result, &want, "result", &mut paths);
            out.push(format!(
                "{} ({} in all)",
                paths.iter().take(12).cloned().collect::<Vec<_>>().join(", "),
                paths.len()
            ));
        }
    }
    for key in case.time_keys.iter().flatten() {
        if v["time"].get(key).is_none() {
            out.push(format!("time lacks `{key}`"));
        }
    }
    if want_status == 200 && status == 200 && !(v["time"]["start"].is_number()) {
        out.push("the answer has no `time`".into());
    }
    out
}

fn pointer_mut<'a>(v: &'a mut Value, pointer: &str) -> &'a mut Value {
    let mut cur = v;
    for part in pointer.trim_start_matches('/').split('/') {
        cur = match cur {
            Value::Array(a) => {
                let i: usize = part.parse().expect("an array index");
                &mut a[i]
            }
            other => &mut other[part],
        };
    }
    cur
}

/// The outcome of one page file.
#[derive(Default)]
struct Tally {
    cases: usize,
    documented: usize,
    todo: Vec<String>,
    /// (case, reason given, what differs)
    deviations: Vec<(String, String, String)>,
    /// Cases that differ without a `deviation` mark, or are marked but now as documented.
    failures: Vec<String>,
}

/// A fixture portal with the file's `[[setup]]` run, and the values the setup saved.
async fn prepare(file: &PageFile, saved: &mut BTreeMap<String, Value>) -> Portal {
    let p = match &file.portal {
        None => fixture(SandboxConfig::fast().with_extranet_webhook()).await,
        Some(spec) => {
            let mut config = SandboxConfig { rate: spec.rate, burst: spec.burst, ..SandboxConfig::fast() };
            config.operating.budget_secs = spec.operating_budget;
            config.operating.cost_secs.extend(spec.cost.clone());
            Portal::start(config).await
        }
    };
    for step in &file.setup {
        let body: Value = serde_json::from_str(&step.body).expect("setup body is JSON");
        let (status, v) = send(&p, &step.method, body).await;
        assert_eq!(status, 200, "{}: setup {} -> {v}", file.page, step.method);
        if let Some(name) = &step.save {
            let at =
                v.pointer(step.save_path.as_deref().unwrap_or("/result")).cloned().unwrap_or(Value::Null);
            saved.insert(name.clone(), at);
        }
    }
    p
}

async fn replay_file(path: &Path, tally: &mut Tally) {
    let text = std::fs::read_to_string(path).expect("readable");
    let file: PageFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut saved: BTreeMap<String, Value> = BTreeMap::new();
    let mut p = prepare(&file, &mut saved).await;
    let denied = Portal::start(SandboxConfig::fast().without_rights(SETUP_METHODS)).await;
    for case in &file.case {
        let label = format!("{} / {}", file.method, case.name);
        if let Some(why) = &case.todo {
            tally.todo.push(format!("{label}: {why}"));
            continue;
        }
        tally.cases += 1;
        if case.fresh {
            let old = std::mem::replace(&mut p, prepare(&file, &mut saved).await);
            old.handle.stop().await;
        }
        let mut body: Value =
            serde_json::from_str(case.body.as_deref().unwrap_or_else(|| panic!("{label}: no body")))
                .unwrap_or_else(|e| panic!("{label}: body is not JSON: {e}"));
        for (pointer, name) in &case.set {
            *pointer_mut(&mut body, pointer) =
                saved.get(name).cloned().unwrap_or_else(|| panic!("{label}: nothing saved as {name}"));
        }
        let method = case.method.as_deref().unwrap_or(&file.method);
        for _ in 1..case.repeat.unwrap_or(1) {
            send(&p, method, body.clone()).await;
        }
        let (status, v) = if case.restricted {
            let portal = restricted().await;
            let answer = send(&portal, method, body).await;
            portal.handle.stop().await;
            answer
        } else if case.credential.as_deref() == Some("extranet") {
            send_extranet(&p, method, body).await
        } else if case.denied && !SETUP_METHODS.contains(&method) {
            // A credential without this method's right too (reads, user.add, crm.item.*).
            let lacking =
                Portal::start(SandboxConfig::fast().without_rights(SETUP_METHODS).without_rights(&[method]))
                    .await;
            let answer = send(&lacking, method, body).await;
            lacking.handle.stop().await;
            answer
        } else {
            send(if case.denied { &denied } else { &p }, method, body).await
        };
        if let Some(name) = &case.save {
            let at =
                v.pointer(case.save_path.as_deref().unwrap_or("/result")).cloned().unwrap_or(Value::Null);
            saved.insert(name.clone(), at);
        }
        let (status, v) = match &case.command {
            Some(id) if status == 200 => {
                (case.status.unwrap_or(200), v["result"]["result_error"][id].clone())
            }
            _ => (status, v),
        };
        let diff = differences(case, status, &v);
        match (&case.deviation, diff.is_empty()) {
            (None, true) => tally.documented += 1,
            (None, false) => tally.failures.push(format!("{label}: {} (answer {v})", diff.join("; "))),
            (Some(why), false) => tally.deviations.push((label, why.clone(), diff.join("; "))),
            (Some(why), true) => tally
                .failures
                .push(format!("{label}: now as documented; remove its `deviation` mark (\"{why}\")")),
        }
    }
    p.handle.stop().await;
    denied.handle.stop().await;
}

#[tokio::test]
async fn every_documented_case_answers_as_its_page_says_or_its_deviation_is_named() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/http/replay");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the replay folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut tally = Tally::default();
    for f in &files {
        replay_file(f, &mut tally).await;
    }
    println!(
        "{} pages: {} cases, {} as documented ({:.1} %), {} known deviations; {} error-table rows without a request",
        files.len(),
        tally.cases,
        tally.documented,
        100.0 * tally.documented as f64 / tally.cases.max(1) as f64,
        tally.deviations.len(),
        tally.todo.len()
    );
    // A deviation whose page disagrees with another page of the same behaviour (or with itself)
    // cannot be closed by any portal: the sandbox answers one of the texts. Counted apart, so the
    // deviations left to fix are the rest.
    let disagreement = |why: &str| {
        why.starts_with("the pages disagree")
            || why.starts_with("this page says")
            || why.starts_with("the page contradicts itself")
    };
    let disagreeing = tally.deviations.iter().filter(|(_, why, _)| disagreement(why)).count();
    println!(
        "  of the deviations, {disagreeing} are pages that disagree with each other or with themselves; left to fix: {}",
        tally.deviations.len() - disagreeing
    );
    // Where two pages document different texts for one behaviour, the sandbox answers one of
    // them: counted by "as some page documents it", only self-contradicting examples are left.
    let self_contradicting =
        tally.deviations.iter().filter(|(_, why, _)| why.starts_with("the page contradicts itself")).count();
    let as_some_page = tally.documented + disagreeing - self_contradicting;
    println!(
        "  answered as some page documents the behaviour: {as_some_page} of {} ({:.1} %)",
        tally.cases,
        100.0 * as_some_page as f64 / tally.cases.max(1) as f64
    );
    for (label, why, diff) in &tally.deviations {
        println!("  deviation  {label}: {why} [{diff}]");
    }
    for t in &tally.todo {
        println!("  todo       {t}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} cases differ from their page:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}
