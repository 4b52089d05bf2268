//! Incremental Server-Sent Events decoding for upstream provider streams.
//!
//! Upstream bytes arrive in arbitrary chunks (an event may span several reads, a read may
//! hold several events), so the decoder buffers partial lines and emits complete events as
//! soon as their terminating blank line arrives. It follows the WHATWG rules the providers
//! rely on: `event:` and `data:` fields, multi-line data joined by `\n`, `:` comments
//! ignored, CRLF or LF line endings.

use std::borrow::Cow;

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// An unnamed event carrying `data`.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
        }
    }
}

/// Bounds a single upstream event so a misbehaving server cannot exhaust memory.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no line end, so each byte is scanned once
    /// (a long line arriving in small chunks stays linear).
    scanned: usize,
    event: Option<String>,
    data: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an upstream event exceeded {MAX_EVENT_BYTES} bytes")]
pub struct EventTooLarge;

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes, returning every event completed by them.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(pos) = memchr::memchr(b'\n', &self.buf[from..]) {
            let end = from + pos;
            let line_end = if end > start && self.buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            // Read in place: a line is copied only where it is kept (a field's value) or
            // holds bytes that are not UTF-8 (replaced, as browsers do).
            let raw = &self.buf[start..line_end];
            let line = match std::str::from_utf8(raw) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(raw),
            };
            if let Some(ev) = field(&mut self.event, &mut self.data, &line) {
                out.push(ev);
            }
            start = end + 1;
            from = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        let pending = self.buf.len() + self.data.as_ref().map_or(0, String::len);
        if pending > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        Ok(out)
    }
}

/// Applies one line to the event being read; a blank line completes it.
fn field(event: &mut Option<String>, data: &mut Option<String>, line: &str) -> Option<SseEvent> {
    if line.is_empty() {
        let data = data.take();
        let event = event.take();
        return data.map(|data| SseEvent { event, data });
    }
    if line.starts_with(':') {
        return None;
    }
    let (name, value) = match line.split_once(':') {
        Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
        None => (line, ""),
    };
    match name {
        "event" => *event = Some(value.to_owned()),
        "data" => match data {
            Some(d) => {
                d.push('\n');
                d.push_str(value);
            }
            None => *data = Some(value.to_owned()),
        },
        _ => {}
    }
    None
}

/// Turns a byte stream into a stream of events; transport errors pass through as `E`.
pub fn decode<S, E>(bytes: S, too_large: fn() -> E) -> impl Stream<Item = Result<SseEvent, E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    futures::stream::unfold(
        (
            bytes,
            SseDecoder::new(),
            std::collections::VecDeque::new(),
            false,
        ),
        move |(mut bytes, mut dec, mut ready, done)| async move {
            loop {
                if let Some(ev) = ready.pop_front() {
                    return Some((Ok(ev), (bytes, dec, ready, done)));
                }
                if done {
                    return None;
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => match dec.push(&chunk) {
                        Ok(evs) => ready.extend(evs),
                        Err(EventTooLarge) => {
                            return Some((Err(too_large()), (bytes, dec, ready, true)));
                        }
                    },
                    Some(Err(e)) => return Some((Err(e), (bytes, dec, ready, true))),
                    None => {
                        // A stream that ends without a final blank line still delivers its event.
                        ready.extend(dec.push(b"\n\n").unwrap_or_default());
                        if ready.is_empty() {
                            return None;
                        }
                        return ready
                            .pop_front()
                            .map(|ev| (Ok(ev), (bytes, dec, ready, true)));
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_in_small_chunks_is_scanned_once() {
        // 1 MiB arriving a byte at a time: quadratic rescanning would take minutes.
        let mut dec = SseDecoder::new();
        let started = std::time::Instant::now();
        assert_eq!(dec.push(b"data: ").map(|v| v.len()), Ok(0));
        for _ in 0..(MAX_EVENT_BYTES - 100) {
            assert_eq!(dec.push(b"x").map(|v| v.len()), Ok(0));
        }
        let events = dec.push(b"\n\n").unwrap_or_default();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), MAX_EVENT_BYTES - 100);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            dec.push(&vec![b'y'; MAX_EVENT_BYTES + 1]),
            Err(EventTooLarge)
        );
    }

    #[test]
    fn events_split_across_chunks_and_crlf() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"event: message_start\r\nda").unwrap().is_empty());
        let evs = d
            .push(b"ta: {\"a\":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\n")
            .unwrap();
        assert_eq!(
            evs,
            vec![
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: None,
                    data: "x\ny".into()
                },
            ]
        );
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input = b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n";
        let mut whole = SseDecoder::new();
        let expected = whole.push(input).unwrap();
        let mut d = SseDecoder::new();
        let got: Vec<_> = input.iter().flat_map(|b| d.push(&[*b]).unwrap()).collect();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_and_the_rest_kept() {
        let mut d = SseDecoder::new();
        // A character split across two chunks stays whole; a stray byte becomes U+FFFD.
        assert!(d.push(b"data: caf\xc3").unwrap().is_empty());
        let evs = d.push(b"\xa9 \xff ok\n\n").unwrap();
        assert_eq!(evs, vec![SseEvent::data("caf\u{e9} \u{fffd} ok")]);
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut d = SseDecoder::new();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(d.push(&big), Err(EventTooLarge));
    }

    #[tokio::test]
    async fn trailing_event_without_blank_line_is_delivered() {
        let chunks: Vec<Result<Bytes, ()>> =
            vec![Ok(Bytes::from_static(b"data: one\n\ndata: two"))];
        let evs: Vec<_> = decode(futures::stream::iter(chunks), || ()).collect().await;
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].as_ref().unwrap().data, "two");
    }
}
