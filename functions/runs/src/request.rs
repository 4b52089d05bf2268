//! Parsing a run request body into typed values, naming the field at fault.

use agentgate_shared::domain::assistant::{
    KEY_MODEL, KEY_SYSTEM_MESSAGE, MAX_SYSTEM_MESSAGE_LEN, ModelRef,
};
use agentgate_shared::domain::ids::{AssistantId, ThreadId};
use agentgate_shared::domain::message::{Message, Role, parse_input};
use agentgate_shared::http::opt_str;
use agentgate_shared::provider::MAX_TOKENS_CEILING;
use agentgate_shared::run::TurnOptions;
use serde_json::{Map, Value};

use crate::RunsError;

/// Whether overrides that change the assistant (model, system prompt) are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Public,
    Owner,
}

#[derive(Debug)]
pub struct RunRequest {
    pub assistant_id: AssistantId,
    pub thread_id: Option<ThreadId>,
    pub input: Vec<Message>,
    pub options: TurnOptions,
    pub token: Option<String>,
    /// A public caller's run (counted against the assistant's daily token budget).
    pub public: bool,
}

impl RunRequest {
    /// The same request, made by a public caller.
    #[must_use]
    pub fn public(self) -> Self {
        Self {
            public: true,
            ..self
        }
    }

    pub fn parse(body: &Map<String, Value>, caller: Caller) -> Result<Self, RunsError> {
        let assistant_id = opt_str(body, "assistant_id")
            .map_err(RunsError::invalid)?
            .ok_or_else(|| RunsError::invalid("assistant_id is required"))?;
        let assistant_id = AssistantId::parse(assistant_id)?;
        let thread_id = opt_str(body, "thread_id")
            .map_err(RunsError::invalid)?
            .map(ThreadId::parse)
            .transpose()?;
        let input = parse_input(body.get("input"))?;
        // Only the owner speaks as the system: a public caller's "system" text would stand
        // beside the assistant's own instructions.
        if caller == Caller::Public
            && let Some(i) = input.iter().position(|m| m.role == Role::System)
        {
            return Err(RunsError::invalid(format!(
                "input[{i}].role: system messages are not accepted from public callers"
            )));
        }
        let token = opt_str(body, "token")
            .map_err(RunsError::invalid)?
            .map(str::to_owned);
        let options = parse_config(body.get("config"), caller)?;
        Ok(Self {
            assistant_id,
            thread_id,
            input,
            options,
            token,
            public: false,
        })
    }
}

/// Reads `config.configurable` overrides. Public callers may tune `temperature` and
/// `max_tokens`; the owner may also swap the model or system prompt for one call.
/// Other keys are ignored: configuration is free-form.
fn parse_config(config: Option<&Value>, caller: Caller) -> Result<TurnOptions, RunsError> {
    let configurable = match config {
        None | Some(Value::Null) => return Ok(TurnOptions::default()),
        Some(Value::Object(c)) => match c.get("configurable") {
            None | Some(Value::Null) => return Ok(TurnOptions::default()),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(RunsError::invalid("config.configurable must be an object"));
            }
        },
        Some(_) => return Err(RunsError::invalid("config must be an object")),
    };
    let mut opts = TurnOptions::default();
    if let Some(v) = configurable.get("temperature").filter(|v| !v.is_null()) {
        let t = v
            .as_f64()
            .filter(|t| (0.0..=2.0).contains(t))
            .ok_or_else(|| {
                RunsError::invalid("config.configurable.temperature must be a number from 0 to 2")
            })?;
        opts.temperature = Some(t as f32);
    }
    if let Some(v) = configurable.get("max_tokens").filter(|v| !v.is_null()) {
        let n = v
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_TOKENS_CEILING)).contains(n))
            .ok_or_else(|| {
                RunsError::invalid(format!(
                    "config.configurable.max_tokens must be an integer from 1 to {MAX_TOKENS_CEILING}"
                ))
            })?;
        opts.max_tokens = u32::try_from(n).ok();
    }
    if caller == Caller::Owner {
        if let Some(v) = configurable.get(KEY_MODEL).filter(|v| !v.is_null()) {
            let raw = v.as_str().ok_or_else(|| {
                RunsError::invalid(format!("config.configurable.{KEY_MODEL} must be a string"))
            })?;
            opts.model = Some(raw.parse::<ModelRef>()?);
        }
        if let Some(v) = configurable
            .get(KEY_SYSTEM_MESSAGE)
            .filter(|v| !v.is_null())
        {
            let s = v
                .as_str()
                .filter(|s| s.chars().count() <= MAX_SYSTEM_MESSAGE_LEN)
                .ok_or_else(|| {
                    RunsError::invalid(format!(
                        "config.configurable.{KEY_SYSTEM_MESSAGE} must be a string of at most {MAX_SYSTEM_MESSAGE_LEN} characters"
                    ))
                })?;
            opts.system = Some(s.to_owned());
        }
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_body_parses_or_is_refused_without_panicking() {
        use agentgate_shared::testing::fuzz::for_all_bodies;
        const KEYS: &str = "assistant_id thread_id input messages role content token config \
            configurable temperature max_tokens model system_message stop";
        for_all_bodies(11, KEYS, 3, |body| {
            let _ = RunRequest::parse(&body, Caller::Public);
            let _ = RunRequest::parse(&body, Caller::Owner);
        });
    }

    fn parse(v: Value, caller: Caller) -> Result<RunRequest, RunsError> {
        RunRequest::parse(v.as_object().unwrap(), caller)
    }

    #[test]
    fn public_callers_cannot_swap_the_model() {
        let body = json!({
            "assistant_id": uuid::Uuid::new_v4().to_string(),
            "input": [{"role": "human", "content": "hi"}],
            "config": {"configurable": {KEY_MODEL: "openai:gpt-4o", "temperature": 0.2, "max_tokens": 9}}
        });
        let public = parse(body.clone(), Caller::Public).unwrap();
        assert_eq!(public.options.model, None);
        assert_eq!(public.options.max_tokens, Some(9));
        let owner = parse(body, Caller::Owner).unwrap();
        assert_eq!(owner.options.model, Some(ModelRef::OpenAi("gpt-4o".into())));
    }

    #[test]
    fn bad_fields_are_named() {
        let id = uuid::Uuid::new_v4().to_string();
        let cases = [
            (json!({"input": []}), "assistant_id is required"),
            (json!({"assistant_id": 5}), "assistant_id must be a string"),
            (
                json!({"assistant_id": "nope"}),
                "assistant_id must be a UUID",
            ),
            (
                json!({"assistant_id": id, "thread_id": 7, "input": []}),
                "thread_id must be a string",
            ),
            (
                json!({"assistant_id": id, "input": [{"role":"human","content":"x"}], "config": {"configurable": {"max_tokens": 99999}}}),
                "max_tokens",
            ),
            (
                json!({"assistant_id": id, "input": [{"role":"human","content":"x"}], "config": 3}),
                "config must be an object",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(body, Caller::Public).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} / {needle}");
        }
    }
}
