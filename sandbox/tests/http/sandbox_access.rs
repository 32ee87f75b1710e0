//! Credentials and the plan, through HTTP: the extranet user's webhook, the scopes of a webhook
//! and of an application, and the plan's limits with `/_sandbox/plan` (`src/access.rs`,
//! `src/plan.rs`). Each rule is tested both ways: the same request passes without the rule.

use b24_sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::sandbox_common::Portal;

fn fast() -> SandboxConfig {
    SandboxConfig { rate: 1000.0, burst: 1000.0, ..SandboxConfig::fast() }
}

async fn post(p: &Portal, url: String, body: Value) -> (u16, Value) {
    let resp = p.client.post(url).json(&body).send().await.expect("an answer");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn extranet(p: &Portal, method: &str, body: Value) -> (u16, Value) {
    post(p, format!("{}{method}", p.handle.extranet_webhook_url().expect("an extranet webhook")), body).await
}

async fn oauth(p: &Portal, method: &str, mut body: Value) -> (u16, Value) {
    body["auth"] = json!(p.handle.config().oauth.access_token);
    post(p, format!("{}{method}", p.handle.client_endpoint()), body).await
}

async fn set_plan(p: &Portal, plan: Value) {
    let (status, v) = post(p, format!("{}/_sandbox/plan", p.handle.base_url()), plan).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn an_extranet_users_webhook_is_refused_by_the_crm_controllers_and_the_admins_is_not() {
    let p = Portal::start(fast().with_extranet_webhook()).await;
    let deal = json!({"entityTypeId": 2, "fields": {"title": "Deal"}});
    for (method, body) in [
        ("crm.item.add", deal.clone()),
        ("crm.item.list", json!({"entityTypeId": 2})),
        ("crm.type.list", json!({})),
        ("crm.category.list", json!({"entityTypeId": 2})),
    ] {
        let (status, v) = extranet(&p, method, body.clone()).await;
        assert_eq!(status, 403, "{method}: {v}");
        assert_eq!(v["error"], "allowed_only_intranet_user", "{method}");
        assert_eq!(v["error_description"], "Action allowed only for intranet users", "{method}");
        p.ok(method, body).await;
    }
    // Not a CRM controller: the method's own access-denied error.
    let (status, v) = extranet(&p, "user.add", json!({"EMAIL": "x@example.com", "UF_DEPARTMENT": [1]})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("ERROR_CORE")), "{v}");
    let (status, v) = extranet(&p, "crm.status.list", json!({})).await;
    assert_eq!((status, v["error_description"].as_str()), (400, Some("Access denied.")), "{v}");
    // What any user may call.
    assert_eq!(extranet(&p, "server.time", json!({})).await.0, 200);
    assert_eq!(p.inspect("state").await["items"]["2"], json!(1), "only the admin's deal exists");
    p.handle.stop().await;
}

#[tokio::test]
async fn without_the_flag_there_is_no_extranet_webhook() {
    let p = Portal::start(fast()).await;
    assert!(p.handle.extranet_webhook_url().is_none());
    p.handle.stop().await;
}

#[tokio::test]
async fn a_method_outside_the_webhooks_scopes_is_insufficient_scope() {
    let mut config = fast();
    config.access.webhook_scopes = Some(["user".to_string()].into());
    let p = Portal::start(config).await;
    let (status, v) = p.call("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "x"}})).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"], "insufficient_scope");
    assert_eq!(
        v["error_description"],
        "The request requires higher privileges than provided by the webhook token"
    );
    p.ok("user.get", json!({})).await;
    p.ok("server.time", json!({})).await;
    // Inside a batch, the command's own error.
    let (status, v) = p.batch(false, json!({"a": "crm.item.list?entityTypeId=2", "b": "user.current"})).await;
    assert_eq!(status, 200);
    assert_eq!(v["result"]["result_error"]["a"]["error"], "insufficient_scope", "{v}");
    assert!(v["result"]["result"]["b"].is_object(), "{v}");
    p.handle.stop().await;

    let p = Portal::start(fast()).await;
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "x"}})).await;
    p.handle.stop().await;
}

#[tokio::test]
async fn userfieldconfig_needs_the_scope_of_the_module_it_names() {
    let mut config = fast();
    config.access.oauth_scopes = Some(["userfieldconfig".to_string()].into());
    let p = Portal::start(config).await;
    let (status, v) = oauth(&p, "userfieldconfig.list", json!({"moduleId": "crm"})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("")), "{v}");
    assert_eq!(v["error_description"], "The current method required more scopes. (crm)");
    let (status, v) = oauth(&p, "crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(
        v["error_description"],
        "The request requires higher privileges than provided by the access token"
    );
    // The webhook keeps every scope.
    p.ok("userfieldconfig.list", json!({"moduleId": "crm"})).await;
    p.handle.stop().await;

    let mut config = fast();
    config.access.oauth_scopes = Some(["userfieldconfig", "crm"].map(String::from).into());
    let p = Portal::start(config).await;
    let (status, v) = oauth(&p, "userfieldconfig.list", json!({"moduleId": "crm"})).await;
    assert_eq!(status, 200, "{v}");
    p.handle.stop().await;
}

#[tokio::test]
async fn a_plan_without_smart_processes_refuses_their_items_and_types_not_the_built_in_ones() {
    let p = Portal::start(fast()).await;
    let t = p.ok("crm.type.add", json!({"fields": {"title": "Orders", "entityTypeId": 1040}})).await;
    let type_id = t["result"]["type"]["id"].as_u64().expect("type id");
    let spa = json!({"entityTypeId": 1040, "fields": {"title": "Order 1"}});
    let item = p.ok("crm.item.add", spa.clone()).await["result"]["item"]["id"].as_u64().expect("item id");
    set_plan(&p, json!({"smart_processes": false})).await;
    let plan = p.inspect("plan").await;
    assert_eq!(plan["result"]["smart_processes"], json!(false), "{plan}");

    let (status, v) = p.call("crm.item.add", spa.clone()).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("CREATE_DYNAMIC_ITEM_RESTRICTED")), "{v}");
    assert_eq!(v["error_description"], "You cannot create a new item due to your plan restrictions");
    let update = json!({"entityTypeId": 1040, "id": item, "fields": {"title": "Order 1b"}});
    let (status, v) = p.call("crm.item.update", update.clone()).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("UPDATE_DYNAMIC_ITEM_RESTRICTED")), "{v}");
    let (_, v) = p.call("crm.type.update", json!({"id": type_id, "fields": {"title": "x"}})).await;
    assert_eq!(v["error"], "UPDATE_DYNAMIC_TYPE_RESTRICTED", "{v}");
    let (_, v) = p.call("crm.type.add", json!({"fields": {"title": "More"}})).await;
    assert_eq!(v["error"], "CREATE_DYNAMIC_TYPE_RESTRICTED", "{v}");
    assert_eq!(v["error_description"], "Maximum number of SPAs exceeded");
    // The data stays readable, and deals are writable on every plan.
    p.ok("crm.item.get", json!({"entityTypeId": 1040, "id": item})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "Deal"}})).await;

    // A reset keeps the plan (it is the portal's licence, not its data); lifting it works again.
    let reset = post(&p, format!("{}/_sandbox/reset", p.handle.base_url()), json!({})).await;
    assert_eq!(reset.0, 200);
    assert_eq!(p.inspect("plan").await["result"]["smart_processes"], json!(false));
    set_plan(&p, json!({})).await;
    p.ok("crm.type.add", json!({"fields": {"title": "Orders", "entityTypeId": 1040}})).await;
    p.ok("crm.item.add", spa).await;
    p.handle.stop().await;
}

#[tokio::test]
async fn the_plan_counts_smart_processes_workplaces_and_intranet_users() {
    let mut config = fast();
    config.plan.max_smart_processes = Some(1);
    config.plan.max_automated_solutions = Some(1);
    config.plan.max_users = Some(2);
    config.setup = b24_sandbox::SetupConfig::default().with_extranet_groups([7]);
    let p = Portal::start(config).await;
    p.ok("crm.type.add", json!({"fields": {"title": "One"}})).await;
    let (_, v) = p.call("crm.type.add", json!({"fields": {"title": "Two"}})).await;
    assert_eq!(v["error"], "CREATE_DYNAMIC_TYPE_RESTRICTED", "{v}");
    p.ok("crm.automatedsolution.add", json!({"fields": {"title": "One"}})).await;
    let (status, v) = p.call("crm.automatedsolution.add", json!({"fields": {"title": "Two"}})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("LIMIT_EXCEEDED")), "{v}");
    assert_eq!(v["error_description"], "The number of available digital workspaces has been exceeded");
    // The administrator and one more intranet user; extranet users are not counted.
    p.ok("user.add", json!({"EMAIL": "a@example.com", "UF_DEPARTMENT": [1]})).await;
    let (status, v) = p.call("user.add", json!({"EMAIL": "b@example.com", "UF_DEPARTMENT": [1]})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("ERROR_ARGUMENT")), "{v}");
    assert_eq!(v["error_description"], "user_count_exceeded");
    p.ok("user.add", json!({"EMAIL": "c@example.com", "EXTRANET": "Y", "SONET_GROUP_ID": [7]})).await;
    p.handle.stop().await;
}

#[tokio::test]
async fn a_plan_that_is_not_one_is_refused_and_changes_nothing() {
    let p = Portal::start(fast()).await;
    let (status, v) =
        post(&p, format!("{}/_sandbox/plan", p.handle.base_url()), json!({"max_userz": 1})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(p.inspect("plan").await["result"]["max_users"], Value::Null);
    p.handle.stop().await;
}

#[tokio::test]
async fn department_get_lists_the_root_and_app_info_needs_an_application() {
    let p = Portal::start(fast()).await;
    let v = p.ok("department.get", json!({})).await;
    assert_eq!(v["result"], json!([{"ID": "1", "NAME": "Company", "SORT": 500, "UF_HEAD": "1"}]));
    assert_eq!(v["total"], json!(1));
    assert_eq!(p.ok("department.get", json!({"PARENT": 1})).await["result"], json!([]));
    let (status, v) = p.call("app.info", json!({})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("ACCESS_DENIED")), "{v}");
    let (status, v) = oauth(&p, "app.info", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["INSTALLED"], json!(true));
    p.handle.stop().await;
}
