//! Knowledge-base documents as an owner uploads them: checked, and cut into the passages
//! retrieval ranks (see [`crate::knowledge`] for the index and the citations).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Invalid;
use super::ids::AssistantId;

/// Largest document, in bytes of UTF-8 (one stored item holds a document and its
/// passages, under DynamoDB's 400 KB item limit).
pub const MAX_DOCUMENT_BYTES: usize = 150 * 1024;
/// Most documents per assistant.
pub const MAX_DOCUMENTS: usize = 50;
/// About how long a passage is, in characters.
pub const CHUNK_CHARS: usize = 900;

/// A stored document and its passages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// `doc_` and 16 hex digits.
    pub id: String,
    pub assistant: AssistantId,
    pub title: String,
    pub url: Option<String>,
    pub chunks: Vec<String>,
    pub bytes: usize,
    pub created_at: i64,
}

impl Document {
    /// A new document from an owner's upload, cut into passages.
    pub fn create(
        assistant: AssistantId,
        title: &str,
        url: Option<&str>,
        content: &str,
        now_ms: i64,
    ) -> Result<Self, Invalid> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(Invalid::new("title must be 1-200 characters"));
        }
        if let Some(u) = url {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 2_048
                && !u.chars().any(char::is_whitespace);
            if !ok {
                return Err(Invalid::new("url must be an http(s) URL"));
            }
        }
        if content.len() > MAX_DOCUMENT_BYTES {
            return Err(Invalid::new(format!(
                "content is larger than {MAX_DOCUMENT_BYTES} bytes; split the document"
            )));
        }
        let chunks = chunk(content);
        if chunks.is_empty() {
            return Err(Invalid::new("content is empty"));
        }
        Ok(Self {
            id: format!("doc_{}", crate::random::hex_string::<8>()),
            assistant,
            title: title.to_owned(),
            url: url.map(str::to_owned),
            chunks,
            bytes: content.len(),
            created_at: now_ms,
        })
    }

    /// What the owner API shows (without the passages).
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "bytes": self.bytes,
            "chunks": self.chunks.len(),
            "created_at": crate::domain::time::rfc3339_ms(self.created_at),
        })
    }
}

/// Cuts text into passages: paragraphs (blank-line separated) packed up to
/// [`CHUNK_CHARS`], a longer paragraph split between words. A Markdown heading starts a
/// new passage, so a passage rarely mixes sections.
pub fn chunk(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, chunks: &mut Vec<String>| {
        let t = current.trim();
        if !t.is_empty() {
            chunks.push(t.to_owned());
        }
        current.clear();
    };
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let heading = para.starts_with('#');
        if heading || current.chars().count() + para.chars().count() > CHUNK_CHARS {
            flush(&mut current, &mut chunks);
        }
        if para.chars().count() <= CHUNK_CHARS {
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(para);
            continue;
        }
        for word in para.split_whitespace() {
            if current.chars().count() + word.chars().count() + 1 > CHUNK_CHARS {
                flush(&mut current, &mut chunks);
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
    }
    flush(&mut current, &mut chunks);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_into_bounded_passages_at_paragraphs_and_headings() {
        let long = "word ".repeat(500);
        let text =
            format!("# Install\n\nRun the installer.\n\nThen restart.\n\n# Billing\n\n{long}");
        let chunks = chunk(&text);
        assert_eq!(
            chunks[0],
            "# Install\n\nRun the installer.\n\nThen restart."
        );
        assert!(chunks[1].starts_with("# Billing"));
        assert!(chunks.iter().all(|c| c.chars().count() <= CHUNK_CHARS));
        assert!(chunks.len() >= 4);
        assert!(chunk("  \n\n ").is_empty());
    }

    #[test]
    fn uploads_are_checked() {
        let a = AssistantId::mint();
        assert!(Document::create(a.clone(), "", None, "x", 0).is_err());
        assert!(Document::create(a.clone(), "t", Some("ftp://x"), "x", 0).is_err());
        assert!(Document::create(a.clone(), "t", None, "   ", 0).is_err());
        let big = "a".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(Document::create(a, "t", None, &big, 0).is_err());
    }
}
