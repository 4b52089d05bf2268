//! What each sample event in `events/runs/` must answer, checked through the router and
//! through the real binary alike.

use agentgate_shared::testing::TestResponse;

pub const EVENTS: usize = 2;

pub fn check(name: &str, resp: &TestResponse) {
    let text = &resp.text;
    assert_eq!(resp.status, 200, "{name}: {text}");
    assert_eq!(resp.header("x-accel-buffering"), "no", "{name}");
    assert!(text.starts_with("event: metadata"), "{name}: {text}");
    assert!(text.contains("event: messages/partial"), "{name}: {text}");
    assert!(text.ends_with("event: end\ndata: {}\n\n"), "{name}: {text}");
}
