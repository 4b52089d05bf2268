//! Actions: what a widget may do for a visitor when the model asks (open a page, fill a
//! form, call the owner's webhook), and the executions that track each proposal.
//!
//! An owner declares actions on the assistant (`type==agent/actions`); a widget turn
//! offers them to the model as tools. The model's call is never trusted: its arguments
//! are checked against the action's JSON schema, and a call that fails is dropped (and
//! logged) rather than shown to the visitor. A valid call becomes an [`Execution`] the
//! visitor settles once, within its expiry, by posting the outcome; the outcome joins the
//! conversation so the next turn's model knows what happened.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Invalid;
use super::ids::{AssistantId, ThreadId};
use super::tool::{MAX_TOOL_CALLS, ToolCall, ToolSpec};

/// At most this many actions per assistant.
pub const MAX_ACTIONS: usize = 16;
/// How long a proposal can be settled.
pub const PROPOSAL_TTL_SECS: i64 = 15 * 60;
/// How long a settled (or unsettled) execution is kept.
pub const EXECUTION_RETENTION_SECS: i64 = 7 * 86_400;
/// Largest `output` a visitor may report, in bytes of JSON.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024;

/// What the widget does with an accepted proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    OpenUrl,
    Navigate,
    Form,
    Webhook,
}

/// Whether the visitor confirms first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    Confirm,
    Auto,
}

/// One action as the owner declared it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub label: String,
    pub description: String,
    pub kind: ActionKind,
    #[serde(rename = "executionMode")]
    pub execution_mode: ExecutionMode,
    /// A JSON schema of the arguments (an object schema).
    pub parameters: Value,
}

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid::new(msg.into())
}

impl Action {
    /// Parses and checks the owner's list: names of `a-z0-9_` (1-64), unique, labels and
    /// descriptions present, parameters an object schema that compiles.
    pub fn parse_list(key: &str, value: &Value) -> Result<Vec<Self>, Invalid> {
        let list = value
            .as_array()
            .filter(|l| l.len() <= MAX_ACTIONS)
            .ok_or_else(|| {
                invalid(format!(
                    "{key} must be a list of at most {MAX_ACTIONS} actions"
                ))
            })?;
        let mut actions: Vec<Self> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let action: Self = serde_json::from_value(item.clone()).map_err(|e| {
                invalid(format!(
                    "{key}[{i}] needs name, label, description, kind (open_url, navigate, form, webhook), executionMode (confirm, auto) and parameters: {e}"
                ))
            })?;
            let name_ok = (1..=64).contains(&action.name.len())
                && action
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !name_ok {
                return Err(invalid(format!(
                    "{key}[{i}].name must be 1-64 characters of a-z, 0-9 and _"
                )));
            }
            if actions.iter().any(|a| a.name == action.name) {
                return Err(invalid(format!(
                    "{key}[{i}].name {:?} is used twice",
                    action.name
                )));
            }
            for (field, text, max) in [
                ("label", &action.label, 80),
                ("description", &action.description, 1_000),
            ] {
                if text.trim().is_empty() || text.chars().count() > max {
                    return Err(invalid(format!(
                        "{key}[{i}].{field} must be 1-{max} characters"
                    )));
                }
            }
            if action.parameters.get("type").and_then(Value::as_str) != Some("object") {
                return Err(invalid(format!(
                    "{key}[{i}].parameters must be a JSON schema with \"type\": \"object\""
                )));
            }
            jsonschema::validator_for(&action.parameters).map_err(|e| {
                invalid(format!(
                    "{key}[{i}].parameters is not a valid JSON schema: {e}"
                ))
            })?;
            actions.push(action);
        }
        Ok(actions)
    }

    /// The list as stored: it was checked when the owner saved it, so it is only read (no
    /// schema is compiled on a turn's path); an unreadable list offers nothing.
    pub fn stored_list(value: &Value) -> Vec<Self> {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    /// The tool the model is offered.
    pub fn tool(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: format!("{}: {}", self.label, self.description),
            parameters: self.parameters.clone(),
        }
    }

    /// The call's arguments if they are a JSON object the schema accepts.
    pub fn check(&self, call: &ToolCall) -> Result<Map<String, Value>, String> {
        let raw = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let params: Value =
            serde_json::from_str(raw).map_err(|e| format!("arguments are not JSON: {e}"))?;
        let validator =
            jsonschema::validator_for(&self.parameters).map_err(|e| format!("schema: {e}"))?;
        if let Some(err) = validator.iter_errors(&params).next() {
            return Err(format!("arguments break the schema: {err}"));
        }
        match params {
            Value::Object(map) => Ok(map),
            _ => Err("arguments are not an object".into()),
        }
    }
}

/// How a visitor reports a proposal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Cancelled,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A proposal shown to one visitor, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// `exe_` and 32 hex digits.
    pub id: String,
    pub assistant: AssistantId,
    pub visitor: String,
    pub conversation: ThreadId,
    pub action: String,
    pub label: String,
    pub kind: ActionKind,
    pub execution_mode: ExecutionMode,
    pub description: String,
    pub params: Map<String, Value>,
    /// Epoch seconds after which the proposal can no longer be settled.
    pub expires_at: i64,
    pub outcome: Option<Outcome>,
    pub output: Option<Value>,
}

impl Execution {
    /// A fresh execution id.
    pub fn mint_id() -> String {
        format!("exe_{}", crate::random::hex_string::<16>())
    }

    /// Whether `s` has the shape of an execution id.
    pub fn is_id(s: &str) -> bool {
        s.strip_prefix("exe_")
            .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()))
    }

    /// The `data-action-proposal` payload.
    pub fn proposal(&self) -> Value {
        json!({
            "executionId": self.id,
            "actionId": self.action,
            "kind": self.kind,
            "label": self.label,
            "description": self.description,
            "executionMode": self.execution_mode,
            "params": self.params,
            "expiresAt": crate::domain::time::rfc3339_ms(self.expires_at.saturating_mul(1000)),
        })
    }

    /// The line the conversation keeps once the visitor settled the proposal.
    pub fn outcome_note(&self) -> String {
        let outcome = self.outcome.map_or("unknown", Outcome::as_str);
        let output = self
            .output
            .as_ref()
            .map(|o| format!("; output: {o}"))
            .unwrap_or_default();
        format!(
            "[action result] {} ({}) with {}: {outcome}{output}",
            self.label,
            self.action,
            Value::Object(self.params.clone())
        )
    }
}

/// Where the executions of one turn belong.
#[derive(Debug, Clone)]
pub struct Proposer {
    pub assistant: AssistantId,
    pub visitor: String,
    pub conversation: ThreadId,
    /// Ids minted before the turn, one per call that may be accepted.
    pub ids: Vec<String>,
    pub expires_at: i64,
}

impl Proposer {
    /// Ids for up to `MAX_TOOL_CALLS` proposals of one turn.
    pub fn new(
        assistant: AssistantId,
        visitor: String,
        conversation: ThreadId,
        now_secs: i64,
    ) -> Self {
        Self {
            assistant,
            visitor,
            conversation,
            ids: (0..MAX_TOOL_CALLS).map(|_| Execution::mint_id()).collect(),
            expires_at: now_secs + PROPOSAL_TTL_SECS,
        }
    }

    /// The executions for the calls that name a declared action with valid arguments, in
    /// order (under the ids minted before the turn), and why each other call was dropped.
    pub fn plan(&self, actions: &[Action], calls: &[ToolCall]) -> (Vec<Execution>, Vec<String>) {
        let mut accepted = Vec::new();
        let mut dropped = Vec::new();
        for call in calls {
            let Some(action) = actions.iter().find(|a| a.name == call.name) else {
                dropped.push(format!("{}: no such action", call.name));
                continue;
            };
            let params = match action.check(call) {
                Ok(p) => p,
                Err(why) => {
                    dropped.push(format!("{}: {why}", call.name));
                    continue;
                }
            };
            let Some(id) = self.ids.get(accepted.len()) else {
                break;
            };
            accepted.push(Execution {
                id: id.clone(),
                assistant: self.assistant.clone(),
                visitor: self.visitor.clone(),
                conversation: self.conversation.clone(),
                action: action.name.clone(),
                label: action.label.clone(),
                kind: action.kind,
                execution_mode: action.execution_mode,
                description: action.description.clone(),
                params,
                expires_at: self.expires_at,
                outcome: None,
                output: None,
            });
        }
        (accepted, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions() -> Vec<Action> {
        Action::parse_list(
            "actions",
            &json!([{
                "name": "book_demo", "label": "Book a demo", "description": "Books a call",
                "kind": "form", "executionMode": "confirm",
                "parameters": {"type": "object", "properties": {"day": {"type": "string", "enum": ["mon", "tue"]}},
                               "required": ["day"], "additionalProperties": false}
            }]),
        )
        .unwrap()
    }

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn bad_declarations_are_named() {
        for (bad, needle) in [
            (json!({}), "list"),
            (json!([{"name": "x"}]), "needs name"),
            (
                json!([{"name": "Bad Name", "label": "l", "description": "d", "kind": "form", "executionMode": "auto", "parameters": {"type": "object"}}]),
                "name",
            ),
            (
                json!([{"name": "a", "label": "l", "description": "d", "kind": "teleport", "executionMode": "auto", "parameters": {"type": "object"}}]),
                "kind",
            ),
            (
                json!([{"name": "a", "label": "l", "description": "d", "kind": "form", "executionMode": "auto", "parameters": {"type": "string"}}]),
                "object",
            ),
            (
                json!([{"name": "a", "label": "l", "description": "d", "kind": "form", "executionMode": "auto", "parameters": {"type": "object", "properties": {"x": {"type": "nonsense"}}}}]),
                "valid JSON schema",
            ),
        ] {
            let err = Action::parse_list("actions", &bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn only_valid_calls_of_declared_actions_become_executions() {
        let proposer = Proposer::new(AssistantId::mint(), "v1".into(), ThreadId::mint(), 1_000);
        let calls = [
            call("book_demo", r#"{"day":"mon"}"#),
            call("book_demo", r#"{"day":"sun"}"#),
            call("book_demo", "{not json"),
            call("delete_everything", "{}"),
            call("book_demo", r#"{"day":"tue","extra":1}"#),
        ];
        let (accepted, dropped) = proposer.plan(&actions(), &calls);
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].params["day"], "mon");
        assert_eq!(accepted[0].id, proposer.ids[0]);
        assert_eq!(accepted[0].expires_at, 1_000 + PROPOSAL_TTL_SECS);
        assert_eq!(dropped.len(), 4);
        assert!(dropped[2].contains("no such action"));
        // The plan depends only on its inputs.
        assert_eq!(proposer.plan(&actions(), &calls).0, accepted);
        let p = accepted[0].proposal();
        assert_eq!(p["executionMode"], "confirm");
        assert_eq!(p["kind"], "form");
        assert!(p["expiresAt"].as_str().unwrap().ends_with('Z'));
        assert!(Execution::is_id(&accepted[0].id));
    }
}
