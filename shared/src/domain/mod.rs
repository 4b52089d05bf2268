//! The pure core: what an assistant is, who may call it, what a conversation holds.
//!
//! Nothing in here performs I/O, so every rule (access modes, token shapes, input bounds,
//! configuration merging) is tested with plain unit tests and shared unchanged by the
//! Lambda functions and the local server.

pub mod action;
pub mod assistant;
pub mod ids;
pub mod knowledge;
pub mod link;
pub mod memory;
pub mod message;
pub mod ratelimit;
pub mod response;
pub mod thread;
pub mod time;
pub mod token;
pub mod tool;

/// A rule of the domain was broken by the caller's input. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
