//! One request-rate bucket per portal and source address (issue 18, `limits.md`): two imports
//! at once, one through the webhook and one through the OAuth application, each paced to the
//! whole plan, share the portal's bucket. They are refused with `QUERY_LIMIT_EXCEEDED`, back off
//! and still land every row exactly once.

use crate::common;

use std::time::Duration;

use b24import::sandbox::{Sandbox, SandboxHandle};
use b24import::transport::{
    Credentials, OAuth, Plan, Rate, Secret, Transport, TransportConfig, Webhook, configure_in_flight,
};

const RATE: Rate = Rate { per_second: 40.0, burst: 10 };

fn paced(credentials: Credentials) -> Transport {
    let mut tc = TransportConfig::new(credentials, Plan::Standard);
    tc.limiter.rate = RATE;
    tc.timeout = Duration::from_secs(5);
    configure_in_flight(&mut tc, 4);
    Transport::new(tc).expect("transport")
}

fn oauth(sandbox: &SandboxHandle) -> Credentials {
    let app = &sandbox.config().oauth;
    Credentials::OAuth(
        OAuth::new(
            &sandbox.client_endpoint(),
            Secret::new(app.access_token.clone()),
            Secret::new(app.refresh_token.clone()),
            app.client_id.clone(),
            Secret::new(app.client_secret.clone()),
            &sandbox.oauth_endpoint(),
        )
        .expect("oauth"),
    )
}

async fn import(
    t: Transport,
    dir: std::path::PathBuf,
    origin: &'static str,
) -> b24import::pipeline::RunReport {
    let from = if origin == "hook" { 0 } else { 1000 };
    let mapping = common::name_only_contacts(&dir, from, 60, origin);
    let opts = b24import::pipeline::RunOptions {
        // One row a request: 60 requests each, 120 against the portal's 40 a second.
        batch_size: 1,
        ..b24import::pipeline::RunOptions::new(vec![mapping], dir.join("j.sqlite"), "test")
    };
    let rate = b24import::pipeline::PlanRate { per_second: RATE.per_second, burst: RATE.burst };
    b24import::pipeline::run(&opts, &t, rate).await.expect("run finishes")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_and_an_app_importing_at_once_share_the_bucket_and_land_every_row_once() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let hook = paced(Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("webhook")));
    let app = paced(oauth(&sandbox));
    let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let (ra, rb) = tokio::join!(
        import(hook, a.path().to_path_buf(), "hook"),
        import(app, b.path().to_path_buf(), "app")
    );
    let s = sandbox.snapshot();
    assert!(
        s.refusals.get("QUERY_LIMIT_EXCEEDED").copied().unwrap_or(0) > 0,
        "each paced to the whole plan, together they pass it: {s:?}"
    );
    assert_eq!(ra.query_limit_refusals + rb.query_limit_refusals, s.refusals["QUERY_LIMIT_EXCEEDED"]);
    assert_eq!(s.items.get("3").copied(), Some(120), "every row of both imports lands");
    assert_eq!(s.duplicates.items, 0, "once: {:?}", s.duplicates);
    assert_eq!(s.requests.by_method.get("crm.item.add").copied(), Some(120));
    for r in [&ra, &rb] {
        assert!(r.stopped.is_none() && r.steps.iter().all(|s| s.rejected_total() == 0), "{r:?}");
    }
    sandbox.stop().await;
}
