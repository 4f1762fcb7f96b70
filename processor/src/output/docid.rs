//! OpenSearch document ids from the input's own ids (log event ids, session
//! ids). OpenSearch refuses a whole `_bulk` request, not just the item, when
//! one `_id` is empty or longer than 512 bytes: one such session id would
//! fail every invocation of its batch, and with it every other session's
//! summary. An id that does not fit is replaced by a digest of itself, the
//! same on every delivery; the document keeps the full value in its fields.

use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// OpenSearch's limit on `_id`, in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 512;

/// Marks a digest id (`sha256:` and 64 hex digits).
pub const DIGEST_PREFIX: &str = "sha256:";

/// `key` itself when OpenSearch accepts it as an `_id`, else
/// `sha256:<hex of SHA-256(key)>`.
#[inline]
pub fn document_id(key: &str) -> Cow<'_, str> {
    if !key.is_empty() && key.len() <= MAX_ID_BYTES {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(digest_id(key))
    }
}

#[cold]
fn digest_id(key: &str) -> String {
    format!(
        "{DIGEST_PREFIX}{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_fit_are_kept_as_they_are() {
        for key in ["1", "sess_bCDkyt6C2gpECAgSVhHk", &"x".repeat(512), "é"] {
            assert!(
                matches!(document_id(key), Cow::Borrowed(k) if k == key),
                "{key}"
            );
        }
    }

    #[test]
    fn ids_that_do_not_fit_become_a_stable_digest() {
        // 511 ASCII bytes and one two-byte character: 512 characters, 513 bytes.
        let multibyte = format!("{}é", "a".repeat(511));
        for key in [String::new(), "x".repeat(513), multibyte] {
            let id = document_id(&key);
            assert!(id.starts_with(DIGEST_PREFIX), "{key:?}: {id}");
            assert_eq!(id.len(), DIGEST_PREFIX.len() + 64);
            assert_eq!(id, document_id(&key.clone()), "the same every time");
        }
        assert_ne!(document_id(&"x".repeat(513)), document_id(&"x".repeat(514)));
        assert_eq!(
            document_id(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
