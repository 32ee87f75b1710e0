//! Reading the portal's schema: few requests whatever the number of steps, lists paged past
//! 50 rows, smart processes found by title, refused reads reported per method.

use crate::common;

use std::path::Path;

use b24import::mapping::{self, MappingPlan};
use b24import::sandbox::Sandbox;
use b24import::schema::{Gap, PortalSchema, UsedLabels, compare, stage_directory};
use b24import::transport::Rate;
use serde_json::json;

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

fn plan(dir: &Path, name: &str, target: &str, fields: &str) -> MappingPlan {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("name = \"{name}\"\n[source]\npath = \"x.csv\"\nkey = \"Code\"\n[target]\n{target}\n[fields]\n{fields}\n"),
    )
    .expect("mapping");
    let file = mapping::load(&path).expect("loads");
    let headers: Vec<String> = ["Code", "A", "B"].iter().map(|s| s.to_string()).collect();
    file.compile(&headers).unwrap_or_else(|d| panic!("{d}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schema_of_several_steps_is_read_in_a_few_batches_with_lists_paged() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    transport
        .call(
            "crm.type.add",
            &json!({"fields": {"title": "Projects", "entityTypeId": 1044, "isStagesEnabled": "Y"}}),
        )
        .await
        .expect("type");
    let mut last = 0;
    for name in ["Wholesale", "Retail", "Export"] {
        let r = transport
            .call("crm.category.add", &json!({"entityTypeId": 2, "fields": {"name": name}}))
            .await
            .expect("category");
        last = r["category"]["id"].as_u64().expect("id");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let plans = [
        plan(
            dir.path(),
            "deals",
            "entity = \"deal\"",
            "title = \"A\"\nstageId = { column = \"B\", type = \"enum\" }",
        ),
        plan(
            dir.path(),
            "people",
            "entity = \"contact\"",
            "name = \"A\"\nsourceId = { column = \"B\", type = \"enum\" }",
        ),
        plan(dir.path(), "projects", "smart_process = \"projects\"", "title = \"A\""),
    ];
    let before = transport.stats().requests;
    let refs: Vec<&MappingPlan> = plans.iter().collect();
    let schema = PortalSchema::read(&transport, &refs).await.expect("read");
    let requests = transport.stats().requests - before;
    // Three batches, and one more for the smart process's list field: userfieldconfig.list
    // returns no `enum`, so its items (with their XML_IDs) come from userfieldconfig.get.
    assert!(requests <= 4, "{requests} requests");
    assert!(schema.statuses.len() > 50, "{} statuses: the list was paged", schema.statuses.len());
    let last_stages = stage_directory(2, last);
    assert!(schema.statuses_of(&last_stages).count() > 0, "stages of pipeline {last} read");
    assert!(schema.currencies.iter().any(|c| c.code == "RUB"));
    assert_eq!(schema.entity_type_id(&plans[2]), Some(1044));
    let deal = &schema.entities[&2];
    assert_eq!(deal.categories.len(), 4);
    assert!(deal.field("stageId").is_some() && deal.field("UF_CRM_1700000004").is_some());
    let tier = schema.entities[&3].custom_field("UF_CRM_1700000004").expect("custom field");
    assert_eq!(
        tier.items.iter().map(|i| i.xml_id.as_deref().unwrap_or("")).collect::<Vec<_>>(),
        ["GOLD", "SILVER", "BRONZE"]
    );
    // A smart process's custom fields come from userfieldconfig.list (entityId CRM_<type id>),
    // their list items from userfieldconfig.get.
    let spa_tier =
        schema.entities[&1044].custom.iter().find(|c| c.user_type == "enumeration").expect("spa list field");
    assert_eq!(spa_tier.items.len(), 3);
    assert!(schema.unread.is_empty(), "{:?}", schema.unread);
    for p in &plans {
        let mut bound = p.clone();
        if let Some(etid) = schema.entity_type_id(p) {
            bound.bind_smart_process(etid);
        }
        assert_eq!(compare(&bound, &schema, &UsedLabels::default()), Vec::<Gap>::new(), "{}", p.name);
    }
    sandbox.stop().await;
}
