//! What each sample event in `events/openai/` must answer, checked through the router and
//! through the real binary alike (a buffered JSON reply under the streaming runner must
//! arrive whole).

use agentgate_shared::testing::TestResponse;

pub const EVENTS: usize = 5;

pub fn check(name: &str, resp: &TestResponse) {
    assert_eq!(resp.status, 200, "{name}: {}", resp.text);
    let want = match name {
        "chat-completions.json" => "\"object\":\"chat.completion\"",
        "chat-completions-stream.json" => "data: [DONE]",
        "models.json" => "\"object\":\"list\"",
        "responses.json" => "\"object\":\"response\"",
        "responses-stream.json" => "event: response.completed",
        other => panic!("no expectation for events/openai/{other}"),
    };
    assert!(resp.text.contains(want), "{name}: {}", resp.text);
}
