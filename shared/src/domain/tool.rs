//! Tools a model may call, and the calls it makes: what a widget turn offers (its
//! assistant's actions) and what comes back, in the same shape whatever the provider.

/// A tool offered to the model: its name, what it does, and a JSON schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// A complete tool call from the model: its arguments as the JSON text the model wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// At most this many tool calls are kept from one reply (more are dropped).
pub const MAX_TOOL_CALLS: usize = 4;
/// Bound on one tool call's arguments, in bytes.
pub const MAX_TOOL_ARGUMENT_BYTES: usize = 16 * 1024;
