//! The knowledge base: documents an owner uploads so the widget answers from them.
//!
//! A document (text or Markdown) is cut into passages when it is uploaded and stored with
//! them ([`crate::domain::knowledge`]). Retrieval happens inside the function, with no
//! search server: each warm instance builds a BM25 index (the `bm25` crate's ranking over
//! `words`: English stop words dropped, endings folded) over all of an assistant's
//! passages the first time a turn needs it, and keeps it until the assistant's knowledge
//! version changes (every upload or deletion sets a new one). A few hundred passages index
//! in milliseconds, which is the scale this is for.
//!
//! Each turn retrieves the best [`TOP_K`] passages for the visitor's message and hands
//! them to the model numbered `[1]`, `[2]`... with the instruction to cite by number.
//! The passages cited are the turn's citations; when a reply cites none, passages that
//! most of the reply's words come from count as used. The turn's confidence is
//! `coverage × s / (s + 0.25)`: `coverage` is the share of the message's searchable words
//! that the best passage contains and `s` its BM25 score, so a question the documents
//! answer word for word scores near 1, a question they do not touch scores 0. The score
//! factor stays high even in a knowledge base of one or two passages, where BM25's term
//! weights (which fall as a word appears in more passages) are small.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

mod words;

use bm25::{SearchEngine, SearchEngineBuilder, Tokenizer};

/// How the index embeds tokens (the crate's default: 32-bit hashes).
type TokenEmbedder = u32;
use serde_json::{Value, json};

use crate::domain::assistant::Assistant;
use crate::domain::ids::AssistantId;
pub use crate::domain::knowledge::{Document, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS};
use crate::ports::{Store, StoreError};

/// Passages given to the model per turn.
pub const TOP_K: usize = 4;
/// The BM25 score at which the confidence's score factor is one half.
const SCORE_HALF: f64 = 0.25;
/// Longest passage text sent back in a citation's `snippet`.
pub const SNIPPET_CHARS: usize = 240;

/// Where a passage comes from.
#[derive(Debug, Clone, PartialEq)]
struct Passage {
    id: String,
    document: String,
    title: String,
    url: Option<String>,
    text: String,
}

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// `<document id>#<passage number>`.
    pub id: String,
    pub document: String,
    pub title: String,
    pub url: Option<String>,
    pub text: String,
    pub score: f32,
}

/// What one turn retrieved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Retrieved {
    pub hits: Vec<Hit>,
    pub confidence: f64,
}

impl Retrieved {
    /// The passages as the model sees them, numbered for citation.
    pub fn prompt(&self) -> Option<String> {
        if self.hits.is_empty() {
            return None;
        }
        let mut out = String::from(
            "Answer from the sources below when they help. Cite a source by its number in \
             square brackets, like [1], right after the sentence it supports. If the \
             sources do not answer the question, say so briefly.\n",
        );
        for (i, h) in self.hits.iter().enumerate() {
            out.push_str(&format!("\n[{}] {}\n{}\n", i + 1, h.title, h.text));
        }
        Some(out)
    }

    /// The `data-citations` payload for `reply`: the passages it cites by number, or, when
    /// it cites none, those most of its words come from.
    pub fn citations(&self, reply: &str) -> Vec<Value> {
        let cited: Vec<usize> = (1..=self.hits.len())
            .filter(|n| reply.contains(&format!("[{n}]")))
            .map(|n| n - 1)
            .collect();
        let used = if cited.is_empty() {
            let words = tokens(reply);
            (0..self.hits.len())
                .filter(|&i| {
                    let passage = tokens(&self.hits[i].text);
                    words.len() >= 3
                        && words.iter().filter(|w| passage.contains(*w)).count() * 2 >= words.len()
                })
                .collect()
        } else {
            cited
        };
        used.into_iter()
            .map(|i| {
                let h = &self.hits[i];
                let mut c = json!({
                    "id": h.id,
                    "documentId": h.document,
                    "title": h.title,
                    "snippet": h.text.chars().take(SNIPPET_CHARS).collect::<String>(),
                    "score": (f64::from(h.score) * 1000.0).round() / 1000.0,
                });
                if let Some(u) = &h.url {
                    c["url"] = json!(u);
                }
                c
            })
            .collect()
    }
}

/// The searchable words of `text`, as the index sees them.
fn tokens(text: &str) -> HashSet<String> {
    words::Words.tokenize(text).into_iter().collect()
}

/// One assistant's passages under BM25.
pub struct Index {
    engine: SearchEngine<usize, TokenEmbedder, words::Words>,
    passages: Vec<Passage>,
    /// The passages' text, in bytes: what the instance's index budget counts.
    bytes: usize,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("passages", &self.passages.len())
            .finish_non_exhaustive()
    }
}

impl Index {
    pub fn build(documents: &[Document]) -> Self {
        let passages: Vec<Passage> = documents
            .iter()
            .flat_map(|d| {
                d.chunks.iter().enumerate().map(|(i, text)| Passage {
                    id: format!("{}#{}", d.id, i + 1),
                    document: d.id.clone(),
                    title: d.title.clone(),
                    url: d.url.clone(),
                    text: text.clone(),
                })
            })
            .collect();
        let docs = passages
            .iter()
            .enumerate()
            .map(|(i, p)| bm25::Document::new(i, format!("{}\n{}", p.title, p.text)));
        let engine = SearchEngineBuilder::<usize, TokenEmbedder, words::Words>::with_tokenizer_and_documents(words::Words, docs)
            .build();
        let bytes = passages.iter().map(|p| p.text.len()).sum();
        Self {
            engine,
            passages,
            bytes,
        }
    }

    /// The best passages for `query` and the turn's confidence.
    pub fn search(&self, query: &str) -> Retrieved {
        let hits: Vec<Hit> = self
            .engine
            .search(query, TOP_K)
            .into_iter()
            .filter(|r| r.score > 0.0)
            .filter_map(|r| {
                let p = self.passages.get(r.document.id)?;
                Some(Hit {
                    id: p.id.clone(),
                    document: p.document.clone(),
                    title: p.title.clone(),
                    url: p.url.clone(),
                    text: p.text.clone(),
                    score: r.score,
                })
            })
            .collect();
        let confidence = hits.first().map_or(0.0, |best| {
            let asked = tokens(query);
            if asked.is_empty() {
                return 0.0;
            }
            let found = tokens(&format!("{}\n{}", best.title, best.text));
            let coverage =
                asked.iter().filter(|w| found.contains(*w)).count() as f64 / asked.len() as f64;
            let s = f64::from(best.score);
            (coverage * s / (s + SCORE_HALF) * 100.0).round() / 100.0
        });
        Retrieved { hits, confidence }
    }
}

/// Most assistants whose index an instance keeps.
const MAX_INDEXES: usize = 64;
/// Most passage text an instance keeps indexed, in bytes (an index costs a few times its
/// text): a function instance serving many large knowledge bases rebuilds rather than
/// grows.
const MAX_INDEXED_BYTES: usize = 16 * 1024 * 1024;

/// An index and the knowledge version it was built from.
type Built = (String, Arc<Index>);

/// The indexes a warm instance built, by assistant and knowledge version.
#[derive(Clone)]
pub struct Indexes {
    store: Arc<dyn Store>,
    built: Arc<Mutex<HashMap<AssistantId, Built>>>,
}

impl std::fmt::Debug for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexes").finish_non_exhaustive()
    }
}

impl Indexes {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            built: Arc::default(),
        }
    }

    /// What `assistant`'s knowledge base holds for `query`; `None` when it has none.
    pub async fn retrieve(
        &self,
        assistant: &Assistant,
        query: &str,
    ) -> Result<Option<Retrieved>, StoreError> {
        let Some(version) = assistant.knowledge_version() else {
            return Ok(None);
        };
        let cached = self.built.lock().ok().and_then(|b| {
            b.get(&assistant.id)
                .filter(|(v, _)| v == version)
                .map(|(_, i)| i.clone())
        });
        let index = match cached {
            Some(i) => i,
            None => {
                let documents = self.store.documents(&assistant.id).await?;
                let index = Arc::new(Index::build(&documents));
                if let Ok(mut b) = self.built.lock() {
                    let held: usize = b.values().map(|(_, i)| i.bytes).sum();
                    if b.len() >= MAX_INDEXES || held + index.bytes > MAX_INDEXED_BYTES {
                        b.clear();
                    }
                    b.insert(assistant.id.clone(), (version.to_owned(), index.clone()));
                }
                index
            }
        };
        Ok(Some(index.search(query)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(title: &str, content: &str) -> Document {
        Document::create(AssistantId::mint(), title, None, content, 0).unwrap()
    }

    #[test]
    fn a_one_passage_knowledge_base_still_answers_with_some_confidence() {
        let index = Index::build(&[doc(
            "Returns",
            "Refunds are issued within 14 days of receiving the parcel.",
        )]);
        let r = index.search("How long do refunds take?");
        // One of three searchable words ("long", "refund", "take") is in the passage.
        assert!(
            r.confidence > 0.15 && r.confidence <= 0.34,
            "{}",
            r.confidence
        );
        assert_eq!(index.search("Which planet is largest?").confidence, 0.0);
    }

    #[test]
    fn the_right_passage_is_found_cited_and_confident() {
        let index = Index::build(&[
            doc(
                "Returns",
                "Refunds are issued within 14 days of receiving the returned parcel.",
            ),
            doc(
                "Shipping",
                "Parcels ship from Lyon every weekday; international delivery takes five days.",
            ),
        ]);
        let on_topic = index.search("How many days until my refund is issued?");
        assert_eq!(on_topic.hits[0].title, "Returns");
        let off_topic = index.search("What is the capital of Peru?");
        assert!(on_topic.confidence > off_topic.confidence);
        assert!(on_topic.confidence > 0.3 && on_topic.confidence <= 1.0);
        assert_eq!(off_topic.confidence, 0.0);
        let cited = on_topic.citations("Refunds take 14 days [1].");
        assert_eq!(cited.len(), 1);
        assert_eq!(cited[0]["title"], "Returns");
        assert!(cited[0]["id"].as_str().unwrap().ends_with("#1"));
        // Without a marker, the passage the reply's words come from.
        let unmarked = on_topic.citations("Refunds are issued within 14 days.");
        assert_eq!(unmarked.len(), 1);
        assert!(
            on_topic
                .citations("I cannot help with that, sorry.")
                .is_empty()
        );
        assert!(on_topic.prompt().unwrap().contains("[1] Returns"));
    }
}
