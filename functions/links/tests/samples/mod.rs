//! What each sample event in `events/links/` must answer, checked through the router and
//! through the real binary alike.

use agentgate_shared::testing::TestResponse;

pub const EVENTS: usize = 7;

pub fn check(name: &str, resp: &TestResponse) {
    let text = &resp.text;
    assert_eq!(resp.header("cache-control"), "no-store", "{name}");
    let want = match name {
        "create-link.json" | "create-session.json" => 201,
        "page.json" | "link-info.json" | "chat.json" | "history.json" | "list-links.json" => 200,
        other => panic!("no expectation for events/links/{other}"),
    };
    assert_eq!(resp.status, want, "{name}: {text}");
    match name {
        "page.json" => {
            assert!(
                resp.header("content-type").starts_with("text/html"),
                "{name}"
            );
            assert!(
                text.contains("Hi! I answer questions about our shop."),
                "{name}"
            );
        }
        "chat.json" => {
            assert!(text.contains("\"type\":\"data-status\""), "{text}");
            assert!(text.contains("\"type\":\"data-done\""), "{text}");
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        }
        "create-link.json" => assert!(
            resp.json()["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{text}"
        ),
        "create-session.json" => assert!(resp.json()["session_token"].is_string(), "{text}"),
        _ => assert!(
            resp.json().is_object() || resp.json().is_array(),
            "{name}: {text}"
        ),
    }
}
