//! The owner's monthly ceiling on DynamoDB Local (started by `scripts/test.sh`): twice the
//! ceiling in concurrent requests admits exactly the ceiling; the rest get 402.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::{Assistant, AssistantPatch};
use agentgate_shared::domain::ids::UserId;
use agentgate_shared::provider::ProviderSettings;
use agentgate_shared::testing::{self, TestResponse, test_settings};
use serde_json::json;
use tower::ServiceExt;

const CEILING: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twice_the_ceiling_at_once_admits_exactly_the_ceiling() {
    let mut settings = test_settings();
    settings.owner_monthly_messages = CEILING;
    settings.widget_visitor_per_hour = 1_000;
    settings.widget_ip_per_hour = 1_000;
    let (state, _, _) = testing::dynamo_state(ProviderSettings::default(), settings).await;
    let patch = AssistantPatch {
        name: Some("bot".into()),
        configurable: json!({"type==agent/access_mode": "public_no_auth"})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let a = Assistant::create(UserId::parse("agency").unwrap(), &patch, 0).unwrap();
    state.store.create_assistant(&a).await.unwrap();

    let requests = (0..2 * CEILING).map(|i| {
        let router = agentgate_widget::router(state.clone());
        let body = json!({"botPublicId": a.id, "visitorId": format!("v{i}"), "message": "hi"});
        async move {
            let req = http::Request::post("/v1/public/chat")
                .header("content-type", "application/json")
                .header("x-widget-version", "2")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            TestResponse::read(router.oneshot(req).await.unwrap()).await
        }
    });
    let answers = futures::future::join_all(requests).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    let refused = answers.iter().filter(|r| r.status == 402).count();
    assert_eq!((ok, refused), (CEILING as usize, CEILING as usize));
    assert!(
        answers
            .iter()
            .filter(|r| r.status == 402)
            .all(|r| r.code() == "PLAN_LIMIT_REACHED")
    );
}
