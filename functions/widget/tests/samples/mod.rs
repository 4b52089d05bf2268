//! What each sample event in `events/widget/` must answer, checked through the router and
//! through the real binary alike.

use agentgate_shared::testing::TestResponse;

pub const EVENTS: usize = 5;

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
        "config.json" => {
            assert_eq!(resp.status, 200, "{text}");
            let config = resp.json();
            assert_eq!(
                config["botPublicId"], "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47",
                "{text}"
            );
            assert_eq!(config["citationsEnabled"], false, "{text}");
        }
        "launcher.json" => {
            assert_eq!(resp.status, 200);
            assert!(resp.header("content-type").starts_with("text/javascript"));
            assert!(text.contains("attachShadow"));
        }
        other => panic!("no expectation for events/widget/{other}"),
    }
}
