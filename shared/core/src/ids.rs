//! Stable, opaque, time-ordered ids: a short type prefix and a lowercase ULID.

/// A new id such as `tnt_01jd3x...`; sorts by creation time.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
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
