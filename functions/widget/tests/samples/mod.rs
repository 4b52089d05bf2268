//! What each sample event in `events/widget/` must answer, checked through the router and
//! through the real binary alike.

use agentgate_shared::testing::TestResponse;

pub const EVENTS: usize = 3;

pub fn check(name: &str, resp: &TestResponse) {
    assert_eq!(resp.header("access-control-allow-origin"), "*", "{name}");
    let text = &resp.text;
    match name {
        "preflight.json" => assert_eq!(resp.status, 204),
        "chat-ui-stream.json" => {
            assert_eq!(resp.status, 200, "{text}");
            assert!(text.starts_with("data: {\"id\":"), "{text}");
            assert!(text.contains("\"type\":\"data-done\""), "{text}");
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        }
        "chat-legacy.json" => {
            assert_eq!(resp.status, 200, "{text}");
            assert!(text.starts_with("event: token\n"), "{text}");
            assert!(text.contains("event: done\n"), "{text}");
        }
        other => panic!("no expectation for events/widget/{other}"),
    }
}
