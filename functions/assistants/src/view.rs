//! The JSON an owner sees for an assistant, and parsing of what they send.

use agentgate_shared::domain::assistant::{Assistant, AssistantPatch};
use agentgate_shared::domain::time::rfc3339_ms;
use agentgate_shared::ports::{DailyUsage, UsageDelta};
use serde_json::{Map, Value, json};

use agentgate_shared::domain::Invalid;

pub fn assistant_json(a: &Assistant) -> Value {
    json!({
        "assistant_id": a.id,
        "user_id": a.owner,
        "name": a.name,
        "config": {"configurable": a.public_configurable()},
        "access_mode": a.access_mode(),
        "model": a.model().to_string(),
        "public_token_overlap_until": a
            .previous_token
            .as_ref()
            .and_then(|t| t.expires_at)
            .map(|s| rfc3339_ms(s * 1000)),
        "created_at": rfc3339_ms(a.created_at),
        "updated_at": rfc3339_ms(a.updated_at),
    })
}

/// Reads `{name?, config?: {configurable?: {...}}}`; unknown top-level fields are ignored.
pub fn parse_patch(body: &Map<String, Value>) -> Result<AssistantPatch, Invalid> {
    let name = agentgate_shared::http::opt_str(body, "name")
        .map_err(Invalid)?
        .map(str::to_owned);
    let configurable = match body.get("config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => match c.get("configurable") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(Invalid::new("config.configurable must be an object"));
            }
        },
        Some(_) => return Err(Invalid::new("config must be an object")),
    };
    Ok(AssistantPatch { name, configurable })
}

fn totals_json(t: &UsageDelta) -> Value {
    json!({
        "requests": t.requests,
        "messages": t.messages,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "avg_latency_ms": t.latency_ms.checked_div(t.requests).unwrap_or(0),
    })
}

/// Daily usage rows and their sum, with the daily token budget of public callers and what
/// today's usage left of it.
pub fn usage_json(a: &Assistant, days: i64, rows: &[DailyUsage], budget: Budget) -> Value {
    let mut sum = UsageDelta::default();
    for r in rows {
        let t = &r.totals;
        sum.requests = sum.requests.saturating_add(t.requests);
        sum.messages = sum.messages.saturating_add(t.messages);
        sum.input_tokens = sum.input_tokens.saturating_add(t.input_tokens);
        sum.output_tokens = sum.output_tokens.saturating_add(t.output_tokens);
        sum.latency_ms = sum.latency_ms.saturating_add(t.latency_ms);
    }
    let daily: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = totals_json(&r.totals);
            v["date"] = json!(rfc3339_ms(r.day * 86_400_000)[..10]);
            v
        })
        .collect();
    let today = rows
        .iter()
        .find(|r| r.day == budget.today)
        .map(|r| r.totals)
        .unwrap_or_default();
    let spent = today.input_tokens.saturating_add(today.output_tokens);
    json!({"assistant_id": a.id, "days": days, "daily": daily, "totals": totals_json(&sum),
           "daily_token_budget": {"tokens": budget.tokens, "spent_today": spent,
                                  "exhausted": spent >= budget.tokens}})
}

/// The daily token budget that applies to an assistant, and which day is today.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub tokens: u64,
    pub today: i64,
}

/// A memory as its owner sees it.
pub fn memory_json(
    assistant: &agentgate_shared::domain::ids::AssistantId,
    user: Value,
    m: &agentgate_shared::domain::memory::Memory,
) -> Value {
    json!({
        "assistant_id": assistant,
        "user": user,
        "summary": m.summary,
        "pending_messages": m.pending,
        "updated_at": (m.updated_at > 0).then(|| rfc3339_ms(m.updated_at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_patch_parses_or_is_refused_without_panicking() {
        use agentgate_shared::testing::fuzz::for_all_bodies;
        const KEYS: &str = "name config configurable type==agent/access_mode \
            type==agent/public_token type==agent/model type==agent/system_message \
            type==agent/memory overlap_seconds";
        for_all_bodies(14, KEYS, 3, |body| {
            let _ = parse_patch(&body);
        });
    }
}
