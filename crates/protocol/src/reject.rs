//! A refused message or reading, with its [`QuarantineReason`] (the domain's closed set of
//! reasons, shared with every other component that quarantines).

pub use geohazard_domain::QuarantineReason;

/// Classifies a serde_json error about one value into the closest reason.
pub(crate) fn reason_of_json_error(e: &serde_json::Error) -> QuarantineReason {
    use serde_json::error::Category;
    let msg = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => QuarantineReason::MalformedJson,
        Category::Data if msg.starts_with("missing field") => QuarantineReason::MissingField,
        // First: the quality's own text may quote anything.
        Category::Data if msg.starts_with("invalid quality") => QuarantineReason::InvalidQuality,
        Category::Data if msg.contains("non-finite") || msg.contains("out of range") => {
            QuarantineReason::NonFiniteValue
        }
        Category::Data if msg.contains("timestamp") => QuarantineReason::InvalidTimestamp,
        Category::Data => QuarantineReason::WrongType,
    }
}

/// A whole message refused, with a human-readable detail.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageReject {
    pub reason: QuarantineReason,
    pub detail: String,
}

/// One reading refused inside an otherwise acceptable message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingReject {
    /// Position of the reading in the message's `readings` array.
    pub index: usize,
    pub reason: QuarantineReason,
    pub detail: String,
    /// The reading's own JSON text, kept so nothing is lost.
    pub raw: String,
}
