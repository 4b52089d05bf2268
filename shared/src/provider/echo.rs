//! The offline `echo` model: a deterministic reply, streamed word by word.
//!
//! It lets the product run end to end with no provider key (quick start, demos, tests of
//! the public endpoints) while exercising the same streaming path as a real model.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use super::{
    ChatRequest, EventStream, FinishReason, Provider, ProviderError, ProviderEvent, Usage,
};
use crate::domain::message::Role;

pub struct EchoProvider {
    delay: Duration,
}

impl EchoProvider {
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }
}

/// The full reply the echo model gives to a conversation.
pub fn reply_to(req: &ChatRequest) -> String {
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Human)
        .map_or("", |m| m.content.as_str());
    let turns = req
        .messages
        .iter()
        .filter(|m| m.role == Role::Human)
        .count();
    format!("You said: {last} (message {turns} of this conversation)")
}

/// Splits text into words that keep their trailing whitespace, so deltas concatenate back.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            cur.push(c);
        } else {
            if cur.chars().last().is_some_and(char::is_whitespace) {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[async_trait]
impl Provider for EchoProvider {
    async fn stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        let all = words(&reply_to(&request));
        let limit = usize::try_from(request.max_tokens).unwrap_or(usize::MAX);
        let finish = if all.len() > limit {
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        let input_tokens: usize = request
            .messages
            .iter()
            .map(|m| words(&m.content).len())
            .sum::<usize>()
            + request.system.as_deref().map_or(0, |s| words(s).len());
        let out: Vec<String> = all.into_iter().take(limit).collect();
        let usage = Usage {
            input_tokens: u32::try_from(input_tokens).unwrap_or(u32::MAX),
            output_tokens: u32::try_from(out.len()).unwrap_or(u32::MAX),
        };
        let delay = self.delay;
        let deltas = futures::stream::iter(out).then(move |w| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(ProviderEvent::Delta(w))
        });
        let tail = futures::stream::iter([
            Ok(ProviderEvent::Finish(finish)),
            Ok(ProviderEvent::Usage(usage)),
        ]);
        Ok(Box::pin(deltas.chain(tail)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Message;

    #[test]
    fn words_concatenate_back() {
        let t = "You said:  hello\nworld ";
        assert_eq!(words(t).concat(), t);
        assert_eq!(words("a b").len(), 2);
    }

    #[tokio::test]
    async fn streams_the_reply_and_respects_max_tokens() {
        let req = ChatRequest {
            model: "echo".into(),
            system: None,
            messages: vec![Message::new(Role::Human, "ping pong")],
            max_tokens: 100,
            temperature: None,
            stop: vec![],
            tools: vec![],
            whole: false,
        };
        let p = EchoProvider::new(Duration::ZERO);
        let evs: Vec<_> = p.stream(req.clone()).await.unwrap().collect().await;
        let text: String = evs
            .iter()
            .filter_map(|e| match e {
                Ok(ProviderEvent::Delta(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, reply_to(&req));
        let short = ChatRequest {
            max_tokens: 2,
            ..req
        };
        let evs: Vec<_> = p.stream(short).await.unwrap().collect().await;
        assert!(evs.contains(&Ok(ProviderEvent::Finish(FinishReason::Length))));
    }
}
