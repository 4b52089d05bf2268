//! What each sample event in `events/assistants/` must answer, checked through the router
//! and through the real binary alike.

use agentgate_shared::testing::TestResponse;

pub const EVENTS: usize = 8;

pub fn check(name: &str, resp: &TestResponse) {
    let want = match name {
        "create.json" => 201,
        "get.json"
        | "list.json"
        | "patch.json"
        | "rotate-token.json"
        | "usage.json"
        | "end-user-memory.json" => 200,
        "forget-end-user-memory.json" => 204,
        other => panic!("no expectation for events/assistants/{other}"),
    };
    assert_eq!(resp.status, want, "{name}: {}", resp.text);
    if want == 204 {
        assert!(resp.text.is_empty(), "{name}");
    } else {
        let v = resp.json();
        assert!(v.is_object() || v.is_array(), "{name}");
    }
}
