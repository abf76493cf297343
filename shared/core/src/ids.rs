//! Stable, opaque, time-ordered ids: a short type prefix and a lowercase ULID.

use std::sync::Mutex;

/// Monotonic within the process, so ids made in the same millisecond still sort by creation.
static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

/// A new id such as `tnt_01jd3x...`; sorts by creation time.
pub fn new_id(prefix: &str) -> String {
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let ulid = generator
        .get_or_insert_with(ulid::Generator::new)
        .generate()
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random id.
        .unwrap_or_else(|_| ulid::Ulid::new());
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// The id a natural key names, such as `ntf_…` for a tenant's dedupe key: the same parts always
/// give the same id, so the record written under it is its own idempotency record.
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!(
        "{prefix}_{}",
        ulid::Ulid::from_bytes(bytes).to_string().to_lowercase()
    )
}

/// Whether `text` is a plausible id with this prefix (used to reject junk before a store call).
pub fn looks_like(prefix: &str, text: &str) -> bool {
    text.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|ulid| ulid.len() == 26 && ulid.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_are_recognised() {
        let id = new_id("tnt");
        assert!(looks_like("tnt", &id), "{id}");
        assert!(!looks_like("key", &id));
        assert!(!looks_like("tnt", "tnt_../../etc"));
    }
}
