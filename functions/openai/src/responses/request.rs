//! Parsing a Responses API request, naming the offending parameter as OpenAI does.
//!
//! `input` is a string or a list of items: messages (roles user, assistant, system,
//! developer; content a string or `input_text`/`output_text` parts) and `item_reference`s
//! to earlier replies. What this endpoint cannot honour (tools and function-call items,
//! images and files, prompt templates, conversations, background runs, structured output)
//! is refused with a 400 naming the parameter rather than silently ignored; parameters that
//! change nothing here (`include`, `truncation`, `parallel_tool_calls`, `reasoning`) are
//! accepted.

use agentgate_shared::domain::message::{MAX_CONTENT_CHARS, Message, Role};
use agentgate_shared::domain::response::ResponseId;
use agentgate_shared::provider::MAX_TOKENS_CEILING;
use serde_json::{Map, Value};

use crate::OpenAiError;
use crate::request::{MAX_MESSAGES, parse_user};

/// OpenAI's bounds on `metadata`.
const MAX_METADATA_KEYS: usize = 16;
const MAX_METADATA_KEY_LEN: usize = 64;
const MAX_METADATA_VALUE_LEN: usize = 512;

/// One input item, before references are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    Message(Message),
    /// An earlier reply, by its message item id; `param` names it in a refusal.
    Reference {
        response: ResponseId,
        id: String,
        param: String,
    },
}

#[derive(Debug)]
pub struct ResponsesRequest {
    pub model: Option<String>,
    pub input: Vec<InputItem>,
    pub instructions: Option<String>,
    pub previous_response_id: Option<ResponseId>,
    pub stream: bool,
    pub store: bool,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub metadata: Map<String, Value>,
    /// The end user, from `user` or else `safety_identifier`.
    pub user: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> OpenAiError {
    OpenAiError::invalid(param, message)
}

/// A present, non-null parameter.
fn given<'a>(body: &'a Map<String, Value>, param: &str) -> Option<&'a Value> {
    body.get(param).filter(|v| !v.is_null())
}

fn optional_string(
    body: &Map<String, Value>,
    param: &str,
    max_chars: usize,
) -> Result<Option<String>, OpenAiError> {
    match given(body, param) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max_chars => Ok(Some(s.clone())),
        Some(_) => Err(invalid(
            param,
            format!("{param} must be a string of at most {max_chars} characters"),
        )),
    }
}

fn optional_bool(body: &Map<String, Value>, param: &str) -> Result<Option<bool>, OpenAiError> {
    match given(body, param) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(param, format!("{param} must be a boolean"))),
    }
}

impl ResponsesRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, OpenAiError> {
        refuse_unsupported(body)?;
        let model = optional_string(body, "model", 256)?;
        let input = parse_input(given(body, "input"))?;
        let instructions = optional_string(body, "instructions", MAX_CONTENT_CHARS)?;
        let previous_response_id = match given(body, "previous_response_id") {
            None => None,
            Some(v) => Some(v.as_str().and_then(ResponseId::parse).ok_or_else(|| {
                invalid(
                    "previous_response_id",
                    "previous_response_id must be the id of an earlier response (resp_...)",
                )
            })?),
        };
        let max_output_tokens = match given(body, "max_output_tokens") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| (1..=u64::from(MAX_TOKENS_CEILING)).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        invalid(
                            "max_output_tokens",
                            format!(
                                "max_output_tokens must be an integer from 1 to {MAX_TOKENS_CEILING}"
                            ),
                        )
                    })?,
            ),
        };
        let temperature =
            match given(body, "temperature") {
                None => None,
                Some(v) => Some(v.as_f64().filter(|t| (0.0..=2.0).contains(t)).ok_or_else(
                    || invalid("temperature", "temperature must be a number from 0 to 2"),
                )?),
            };
        let mut user = None;
        for param in ["user", "safety_identifier"] {
            match given(body, param) {
                None => {}
                Some(Value::String(u)) => {
                    let parsed = parse_user(u, param)?;
                    user = user.or(Some(parsed));
                }
                Some(_) => return Err(invalid(param, format!("{param} must be a string"))),
            }
        }
        Ok(Self {
            model,
            input,
            instructions,
            previous_response_id,
            stream: optional_bool(body, "stream")?.unwrap_or(false),
            store: optional_bool(body, "store")?.unwrap_or(true),
            max_output_tokens,
            temperature,
            metadata: parse_metadata(given(body, "metadata"))?,
            user,
        })
    }
}

/// Parameters whose meaning this endpoint cannot honour.
fn refuse_unsupported(body: &Map<String, Value>) -> Result<(), OpenAiError> {
    match given(body, "tools") {
        None => {}
        Some(Value::Array(tools)) if tools.is_empty() => {}
        Some(_) => {
            return Err(invalid(
                "tools",
                "tools are not supported: this assistant has no tools",
            ));
        }
    }
    match given(body, "tool_choice") {
        None => {}
        Some(Value::String(c)) if c == "auto" || c == "none" => {}
        Some(_) => {
            return Err(invalid(
                "tool_choice",
                "tool_choice must be \"auto\" or \"none\": this assistant has no tools",
            ));
        }
    }
    if let Some(top_p) = given(body, "top_p")
        && top_p.as_f64() != Some(1.0)
    {
        return Err(invalid("top_p", "only top_p = 1 is supported"));
    }
    if let Some(format) = given(body, "text").and_then(|t| t.get("format"))
        && !format.is_null()
        && format.get("type").and_then(Value::as_str) != Some("text")
    {
        return Err(invalid(
            "text.format",
            "only text output is supported (text.format.type = \"text\")",
        ));
    }
    if optional_bool(body, "background")? == Some(true) {
        return Err(invalid(
            "background",
            "background responses are not supported",
        ));
    }
    for (param, why) in [
        (
            "conversation",
            "conversations are not supported: use previous_response_id",
        ),
        (
            "prompt",
            "prompt templates are not supported: send instructions",
        ),
    ] {
        if given(body, param).is_some() {
            return Err(invalid(param, why));
        }
    }
    Ok(())
}

fn parse_metadata(v: Option<&Value>) -> Result<Map<String, Value>, OpenAiError> {
    let Some(v) = v else {
        return Ok(Map::new());
    };
    let refused = || {
        invalid(
            "metadata",
            format!(
                "metadata must be an object of at most {MAX_METADATA_KEYS} string values \
                 (keys up to {MAX_METADATA_KEY_LEN} characters, values up to {MAX_METADATA_VALUE_LEN})"
            ),
        )
    };
    let map = v.as_object().ok_or_else(refused)?;
    let fits = map.len() <= MAX_METADATA_KEYS
        && map.iter().all(|(k, v)| {
            k.chars().count() <= MAX_METADATA_KEY_LEN
                && v.as_str()
                    .is_some_and(|s| s.chars().count() <= MAX_METADATA_VALUE_LEN)
        });
    if fits {
        Ok(map.clone())
    } else {
        Err(refused())
    }
}

fn parse_input(v: Option<&Value>) -> Result<Vec<InputItem>, OpenAiError> {
    let list = match v {
        Some(Value::String(s)) => {
            return Ok(vec![InputItem::Message(Message::new(
                Role::Human,
                bounded(s.clone(), "input")?,
            ))]);
        }
        Some(Value::Array(l)) if !l.is_empty() => l,
        Some(Value::Array(_)) => return Err(invalid("input", "input must hold at least one item")),
        None => return Err(invalid("input", "input is required")),
        Some(_) => {
            return Err(invalid(
                "input",
                "input must be a string or a list of items",
            ));
        }
    };
    if list.len() > MAX_MESSAGES {
        return Err(invalid(
            "input",
            format!("input holds more than {MAX_MESSAGES} items"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, item)| parse_item(i, item))
        .collect()
}

fn bounded(content: String, param: &str) -> Result<String, OpenAiError> {
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(invalid(
            param,
            format!("{param} is longer than {MAX_CONTENT_CHARS} characters"),
        ));
    }
    Ok(content)
}

fn parse_item(i: usize, item: &Value) -> Result<InputItem, OpenAiError> {
    let at = format!("input[{i}]");
    let obj = item
        .as_object()
        .ok_or_else(|| invalid(&at, format!("{at} must be an object")))?;
    match obj.get("type").and_then(Value::as_str) {
        None | Some("message") => parse_message(&at, obj).map(InputItem::Message),
        Some("item_reference") => {
            let param = format!("{at}.id");
            let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
            let response = ResponseId::of_message(id).ok_or_else(|| {
                invalid(
                    &param,
                    format!("{param} must be the id of an earlier reply (msg_...)"),
                )
            })?;
            Ok(InputItem::Reference {
                response,
                id: id.to_owned(),
                param,
            })
        }
        Some(other) => Err(invalid(
            &format!("{at}.type"),
            format!(
                "{other} items are not supported: input holds messages and item references \
                 (this assistant has no tools)"
            ),
        )),
    }
}

fn parse_message(at: &str, obj: &Map<String, Value>) -> Result<Message, OpenAiError> {
    let role = match obj.get("role").and_then(Value::as_str) {
        Some("user") => Role::Human,
        Some("assistant") => Role::Ai,
        Some("system" | "developer") => Role::System,
        Some(other) => {
            return Err(invalid(
                &format!("{at}.role"),
                format!("{other:?} is not one of user, assistant, system, developer"),
            ));
        }
        None => {
            return Err(invalid(
                &format!("{at}.role"),
                format!("{at}.role is required"),
            ));
        }
    };
    let param = format!("{at}.content");
    let content = match obj.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str);
                match (kind, part.get("text").and_then(Value::as_str)) {
                    (Some("input_text" | "output_text"), Some(text)) => out.push_str(text),
                    (Some("refusal"), _) => {}
                    _ => {
                        let what = kind.unwrap_or("untyped");
                        return Err(invalid(
                            &format!("{param}[{j}]"),
                            format!(
                                "{what} content is not supported: only input_text and output_text parts"
                            ),
                        ));
                    }
                }
            }
            out
        }
        _ => {
            return Err(invalid(
                &param,
                format!("{param} must be a string or a list of text parts"),
            ));
        }
    };
    Ok(Message::new(role, bounded(content, &param)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ResponsesRequest, OpenAiError> {
        ResponsesRequest::parse(v.as_object().unwrap())
    }

    #[test]
    fn any_body_parses_or_is_refused_without_panicking() {
        use agentgate_shared::testing::fuzz::for_all_bodies;
        const KEYS: &str = "model input role content type text id instructions stream store \
            previous_response_id max_output_tokens temperature top_p tools tool_choice \
            metadata user safety_identifier text format conversation";
        for_all_bodies(12, KEYS, 3, |body| {
            if let Ok(req) = ResponsesRequest::parse(&body) {
                assert!(!req.input.is_empty());
            }
        });
    }

    #[test]
    fn input_is_a_string_or_messages_and_references() {
        let r = parse(json!({"input": "Hi"})).unwrap();
        assert_eq!(
            r.input,
            vec![InputItem::Message(Message::new(Role::Human, "Hi"))]
        );
        assert!(r.store && !r.stream);
        let reply = ResponseId::mint();
        let r = parse(json!({
            "input": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
                {"type": "item_reference", "id": reply.message_id()},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "c", "annotations": []}]},
            ],
            "safety_identifier": "carol",
            "max_output_tokens": 64,
            "metadata": {"k": "v"},
        }))
        .unwrap();
        assert_eq!(
            r.input[0],
            InputItem::Message(Message::new(Role::System, "Be brief."))
        );
        assert_eq!(
            r.input[1],
            InputItem::Message(Message::new(Role::Human, "ab"))
        );
        assert!(
            matches!(&r.input[2], InputItem::Reference { response, param, .. } if *response == reply && param == "input[2].id")
        );
        assert_eq!(r.input[3], InputItem::Message(Message::new(Role::Ai, "c")));
        assert_eq!(r.user.as_deref(), Some("carol"));
        assert_eq!(r.max_output_tokens, Some(64));
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let cases = [
            (json!({}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": 5}), "input"),
            (
                json!({"input": [{"role": "tool", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}),
                "input[0].type",
            ),
            (
                json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
                "input[0].content[0]",
            ),
            (
                json!({"input": [{"type": "item_reference", "id": "rs_1"}]}),
                "input[0].id",
            ),
            (
                json!({"input": "x", "previous_response_id": "chatcmpl-1"}),
                "previous_response_id",
            ),
            (
                json!({"input": "x", "max_output_tokens": 0}),
                "max_output_tokens",
            ),
            (
                json!({"input": "x", "max_output_tokens": 4097}),
                "max_output_tokens",
            ),
            (json!({"input": "x", "temperature": 2.5}), "temperature"),
            (
                json!({"input": "x", "tools": [{"type": "function", "name": "f"}]}),
                "tools",
            ),
            (
                json!({"input": "x", "tool_choice": "required"}),
                "tool_choice",
            ),
            (json!({"input": "x", "top_p": 0.5}), "top_p"),
            (
                json!({"input": "x", "text": {"format": {"type": "json_schema"}}}),
                "text.format",
            ),
            (
                json!({"input": "x", "conversation": "conv_1"}),
                "conversation",
            ),
            (json!({"input": "x", "background": true}), "background"),
            (json!({"input": "x", "metadata": {"k": 1}}), "metadata"),
            (json!({"input": "x", "user": ""}), "user"),
            (json!({"input": "x", "stream": "yes"}), "stream"),
        ];
        for (body, want) in cases {
            match parse(body.clone()) {
                Err(OpenAiError::Invalid { param: Some(p), .. }) => assert_eq!(p, want, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        // What changes nothing here is accepted.
        parse(json!({"input": "x", "tools": [], "tool_choice": "auto", "top_p": 1, "include": [],
            "parallel_tool_calls": true, "truncation": "disabled", "text": {"format": {"type": "text"}}}))
        .unwrap();
    }
}
