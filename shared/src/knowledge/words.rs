//! The words retrieval matches on: lower-cased, split at anything that is not a letter or a
//! digit, common English words dropped, and plural and verb endings folded ("refunds",
//! "refunded" and "refunding" are "refund"), so a question matches a passage that words
//! it a little differently. Small on purpose: the ranking is the `bm25` crate's, and its
//! own multilingual tokenizer would bring stemmers and stop-word lists for dozens of
//! languages into every function binary.

/// Words too common to say what a passage is about.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for",
    "from", "had", "has", "have", "having", "he", "her", "here", "him", "his", "how", "i", "if",
    "in", "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "not", "now", "of",
    "on", "once", "only", "or", "other", "our", "out", "over", "own", "please", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "you", "your", "yours",
];

/// Folds common English endings: `ies` → `y`, `sses` → `ss`, a plural `s`, `ing`, `ed`
/// (only where enough of the word is left to stay recognisable).
fn fold(word: &str) -> String {
    let n = word.chars().count();
    if let Some(stem) = word.strip_suffix("ies").filter(|_| n > 4) {
        return format!("{stem}y");
    }
    if let Some(stem) = word.strip_suffix("sses") {
        return format!("{stem}ss");
    }
    for (suffix, min) in [("ing", 6), ("ed", 5)] {
        if let Some(stem) = word.strip_suffix(suffix).filter(|_| n >= min) {
            return stem.to_owned();
        }
    }
    match word.strip_suffix('s') {
        Some(stem) if n > 3 && !stem.ends_with('s') && !stem.ends_with('u') => stem.to_owned(),
        _ => word.to_owned(),
    }
}

/// The tokenizer given to the `bm25` crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Words;

impl bm25::Tokenizer for Words {
    fn tokenize(&self, text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .map(|w| fold(&w))
            .filter(|w| w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bm25::Tokenizer;

    #[test]
    fn words_are_lowered_split_filtered_and_folded() {
        assert_eq!(
            Words.tokenize("How long until my Refunds are issued? (14 days)"),
            ["long", "refund", "issu", "14", "day"]
        );
        assert_eq!(Words.tokenize("refunded refunding"), ["refund", "refund"]);
        assert_eq!(
            Words.tokenize("policies classes status bus"),
            ["policy", "class", "status", "bus"]
        );
        assert_eq!(Words.tokenize("Café crème, 5 €"), ["café", "crème", "5"]);
        assert!(Words.tokenize("what is the of and").is_empty());
    }
}
