//! Shared helpers of the sandbox black-box tests: start a portal in-process on 127.0.0.1:0 and
//! talk to it over real HTTP.
#![allow(dead_code)]

use b24_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;

pub struct Portal {
    pub handle: SandboxHandle,
    pub client: reqwest::Client,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("an HTTP client")
}

impl Portal {
    pub async fn start(config: SandboxConfig) -> Portal {
        let handle = Sandbox::start(config).await.expect("sandbox starts");
        Portal { handle, client: client() }
    }

    pub async fn fast() -> Portal {
        Portal::start(SandboxConfig { rate: 1000.0, burst: 1000.0, ..SandboxConfig::fast() }).await
    }

    /// [`Portal::fast`] on a portal that stores IDs pointing at nothing
    /// (`ItemRules::accept_dangling_refs`): for replaying the pages' examples, whose IDs are
    /// those of their authors' portals.
    pub async fn lenient() -> Portal {
        let mut config = SandboxConfig { rate: 1000.0, burst: 1000.0, ..SandboxConfig::fast() };
        config.items.accept_dangling_refs = true;
        Portal::start(config).await
    }

    /// POSTs JSON to the webhook: (status, body).
    pub async fn call(&self, method: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{}", self.handle.webhook_url(), method);
        let resp = self.client.post(url).json(&body).send().await.expect("an answer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// POSTs a form-encoded body to the webhook.
    pub async fn form(&self, method: &str, body: &str) -> (u16, Value) {
        let url = format!("{}{}", self.handle.webhook_url(), method);
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .expect("an answer");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Calls and expects success; returns the body.
    pub async fn ok(&self, method: &str, body: Value) -> Value {
        let (status, v) = self.call(method, body.clone()).await;
        assert_eq!(status, 200, "{method} {body} -> {v}");
        v
    }

    /// Calls and expects an error; returns (status, code).
    pub async fn err(&self, method: &str, body: Value) -> (u16, String) {
        let (status, v) = self.call(method, body.clone()).await;
        assert_ne!(status, 200, "{method} {body} should fail, got {v}");
        (status, v["error"].as_str().unwrap_or_default().to_string())
    }

    pub async fn inspect(&self, path: &str) -> Value {
        let url = format!("{}/_sandbox/{path}", self.handle.base_url());
        self.client.get(url).send().await.expect("an answer").json().await.expect("json")
    }

    /// A batch: (status, body).
    pub async fn batch(&self, halt: bool, cmd: Value) -> (u16, Value) {
        self.call("batch", serde_json::json!({"halt": if halt { 1 } else { 0 }, "cmd": cmd})).await
    }
}

/// A `crm.item.add` command string.
pub fn add_cmd(entity_type_id: u64, fields: Value) -> String {
    let query =
        b24_sandbox::phpquery::encode(&serde_json::json!({"entityTypeId": entity_type_id, "fields": fields}));
    format!("crm.item.add?{query}")
}

/// Every key of the type in the crm.type.update page's answer.
pub const TYPE_KEYS: [&str; 28] = [
    "id",
    "title",
    "code",
    "createdBy",
    "entityTypeId",
    "customSectionId",
    "isCategoriesEnabled",
    "isStagesEnabled",
    "isBeginCloseDatesEnabled",
    "isClientEnabled",
    "isUseInUserfieldEnabled",
    "isLinkWithProductsEnabled",
    "isMycompanyEnabled",
    "isDocumentsEnabled",
    "isSourceEnabled",
    "isObserversEnabled",
    "isRecyclebinEnabled",
    "isAutomationEnabled",
    "isBizProcEnabled",
    "isSetOpenPermissions",
    "isPaymentsEnabled",
    "isCountersEnabled",
    "createdTime",
    "updatedTime",
    "updatedBy",
    "relations",
    "linkedUserFields",
    "customSections",
];

/// The SPA 1302 (the replays' fixture) of the crm.item.add page, with its eight `UF_CRM_44_…` fields.
pub const SPA_SCHEMA: &str = r#"
[[entity]]
entity_type_id = 1302
[[entity.field]]
name = "UF_CRM_44_1721812760630"
type = "string"
[[entity.field]]
name = "UF_CRM_44_1721812814433"
type = "enumeration"
items = [{ id = 79, value = "List item #1" }, { id = 80, value = "List item #2" }, { id = 81, value = "List item #3" }, { id = 82, value = "List item #4" }]
[[entity.field]]
name = "UF_CRM_44_1721812853419"
type = "date"
[[entity.field]]
name = "UF_CRM_44_1721812885588"
type = "url"
multiple = true
[[entity.field]]
name = "UF_CRM_44_1721812898903"
type = "file"
[[entity.field]]
name = "UF_CRM_44_1721812915476"
type = "money"
[[entity.field]]
name = "UF_CRM_44_1721812935209"
type = "boolean"
[[entity.field]]
name = "UF_CRM_44_1721812948498"
type = "double"
"#;

/// The smart processes 1..=20 the method pages' examples assume (19 is the SPA 1302 of the
/// crm.item.add page, 20 the SPA 1220 of the crm.type.update page with its relations), added
/// with `crm.type.add`; their answers in order.
pub async fn add_page_smart_processes(p: &Portal) -> Vec<Value> {
    let mut answers = Vec::new();
    for n in 1..=20u64 {
        let fields = match n {
            19 => serde_json::json!({"title": "SPA 1302", "entityTypeId": 1302}),
            20 => {
                serde_json::json!({"title": "SPA #3", "entityTypeId": 1220, "isStagesEnabled": "Y", "relations": {
                "parent": [{"entityTypeId": 31, "isChildrenListEnabled": "N"}],
                "child": [{"entityTypeId": 1, "isChildrenListEnabled": "N"}, {"entityTypeId": 2, "isChildrenListEnabled": "N"}]}})
            }
            _ => serde_json::json!({"title": format!("SPA {n}")}),
        };
        answers.push(p.ok("crm.type.add", serde_json::json!({"fields": fields})).await);
    }
    answers
}
