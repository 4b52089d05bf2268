//! Reading the table's stream: which newly stored messages feed which user's memory.
//!
//! The template subscribes the `memory` function to the table's stream with a filter that
//! passes only inserted items carrying a memory attribute, but the reader does not rely on
//! it: anything else in a batch (updates, deletes by TTL, other entities, an item that does
//! not parse) is skipped here, so a stray record can never wedge the stream.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use serde_dynamo::AttributeValue as StreamValue;

use super::items::{Item, n, s};
use super::threads::{is_message, message_thread};
use crate::domain::thread::ThreadKey;

/// New messages of one thread in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessages {
    /// The thread, naming the memory it feeds.
    pub thread: ThreadKey,
    pub count: u64,
    /// The stream sequence number of the first of them: what to report to have the batch
    /// delivered again from there.
    pub first_sequence: String,
}

/// The memory-feeding messages inserted in `event`, grouped by thread in stream order.
pub fn new_messages(event: &Event) -> Vec<NewMessages> {
    let mut out: Vec<NewMessages> = Vec::new();
    for record in &event.records {
        let Some(thread) = memory_thread(record) else {
            continue;
        };
        match out.iter_mut().find(|g| g.thread == thread) {
            Some(group) => group.count += 1,
            None => out.push(NewMessages {
                thread,
                count: 1,
                first_sequence: record.change.sequence_number.clone().unwrap_or_default(),
            }),
        }
    }
    out
}

/// The thread of an inserted message item that feeds a memory; `None` for anything else.
fn memory_thread(record: &EventRecord) -> Option<ThreadKey> {
    if record.event_name != "INSERT" {
        return None;
    }
    let item = to_item(&record.change.new_image);
    if !is_message(&item) {
        return None;
    }
    match message_thread(&item) {
        Ok(thread) => thread.memory().is_some().then_some(thread),
        Err(e) => {
            tracing::warn!(error = %e, event_id = %record.event_id, "stream record skipped");
            None
        }
    }
}

/// The string and number attributes of a stream image (all a message's keys and memory
/// need) in the SDK's representation, so one mapping in `items` reads both.
fn to_item(image: &serde_dynamo::Item) -> Item {
    image
        .iter()
        .filter_map(|(k, v)| match v {
            StreamValue::S(v) => Some((k.clone(), s(v.clone()))),
            StreamValue::N(v) => Some((k.clone(), n(v))),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, seq: &str, image: serde_json::Value) -> serde_json::Value {
        json!({
            "eventID": format!("id-{seq}"), "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
            "dynamodb": {"ApproximateCreationDateTime": 1795305600.0, "Keys": {
                "pk": image["pk"].clone(), "sk": image["sk"].clone()},
                "NewImage": image, "SequenceNumber": seq, "SizeBytes": 120,
                "StreamViewType": "NEW_IMAGE"},
            "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-11-22T00:00:00.000"
        })
    }

    const A: &str = "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47";

    fn message(thread: &str, seq: u32, mem: Option<&str>) -> serde_json::Value {
        let mut image = json!({
            "pk": {"S": format!("TH#{A}/user:alice/{thread}")},
            "sk": {"S": format!("M#000001795305600#{seq:010}")},
            "role": {"S": "human"}, "content": {"S": "hi"}, "ttl": {"N": "1797897600"}
        });
        if let Some(m) = mem {
            image["mem"] = json!({"S": m});
        }
        image
    }

    #[test]
    fn inserted_messages_with_a_memory_are_grouped_by_thread() {
        let mem = format!("{A}/user:alice");
        let event: Event = serde_json::from_value(json!({"Records": [
            record("INSERT", "100", message("t1", 0, Some(&mem))),
            record("INSERT", "101", message("t2", 0, Some(&mem))),
            record("INSERT", "102", message("t1", 1, Some(&mem))),
            record("INSERT", "103", message("t3", 0, None)),
            record("MODIFY", "104", message("t1", 2, Some(&mem))),
            record("REMOVE", "105", message("t1", 0, Some(&mem))),
            record("INSERT", "106", json!({"pk": {"S": format!("TH#{A}/user:alice/t1")},
                "sk": {"S": "META"}, "mem": {"S": mem}})),
            record("INSERT", "107", message("t4", 0, Some("garbage"))),
        ]}))
        .unwrap();
        let groups = new_messages(&event);
        let summary: Vec<_> = groups
            .iter()
            .map(|g| {
                (
                    g.thread.as_str().rsplit('/').next().unwrap().to_owned(),
                    g.count,
                    g.first_sequence.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("t1".to_owned(), 2, "100"), ("t2".to_owned(), 1, "101")]
        );
        assert_eq!(groups[0].thread.memory().unwrap().as_str(), mem);
    }
}
