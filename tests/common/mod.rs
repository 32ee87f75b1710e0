//! Helpers shared by the end-to-end tests: an in-process sandbox and a transport to it.
#![allow(dead_code)] // each test file uses its own subset

use std::time::Duration;

use b24import::sandbox::{SandboxConfig, SandboxHandle};
use b24import::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};

/// A sandbox without simulated processing time, its bucket set to `rate`.
pub fn sandbox_config(rate: Rate) -> SandboxConfig {
    let mut c = SandboxConfig::fast();
    c.rate = rate.per_second;
    c.burst = f64::from(rate.burst);
    c
}

/// A webhook transport to `sandbox`, paced at `rate`, with a short client timeout.
pub fn webhook_transport(sandbox: &SandboxHandle, rate: Rate) -> Transport {
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("sandbox webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = rate;
    tc.timeout = Duration::from_secs(2);
    Transport::new(tc).expect("transport")
}

/// Every item of `entity_type_id` the sandbox holds (`/_sandbox/items`).
pub async fn sandbox_items(sandbox: &SandboxHandle, entity_type_id: u32) -> Vec<serde_json::Value> {
    let body: serde_json::Value =
        reqwest::get(format!("{}/_sandbox/items?entityTypeId={entity_type_id}", sandbox.base_url()))
            .await
            .expect("items")
            .json()
            .await
            .expect("json");
    body.get("items")
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_else(|| body.as_array().cloned().unwrap_or_default())
}
