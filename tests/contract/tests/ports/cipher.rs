//! `Cipher`: what one process seals, any process of the deployment opens; a changed or foreign
//! value never opens; the stored form of a secret never holds it in the clear.

use vigil_contract::Backend;
use vigil_core::ports::CipherError;
use vigil_core::secret::{self, Secret};

vigil_contract::contract!(
    sealed_bytes_open_and_are_new_each_time,
    another_process_opens_what_one_sealed,
    changed_or_foreign_values_do_not_open,
    a_stored_secret_holds_no_plaintext_and_reads_back,
);

async fn sealed_bytes_open_and_are_new_each_time(b: &Backend) {
    // GIVEN the deployment's cipher
    let cipher = &b.ports.cipher;
    // WHEN the same bytes are sealed twice
    let first = cipher.seal(b"whsec_contract").await.unwrap();
    let second = cipher.seal(b"whsec_contract").await.unwrap();
    // THEN the sealed values differ, hold no plaintext, and both open to the bytes
    assert_ne!(first, second);
    assert!(!first.windows(14).any(|w| w == b"whsec_contract"));
    assert_eq!(cipher.open(&first).await.unwrap(), b"whsec_contract");
    assert_eq!(cipher.open(&second).await.unwrap(), b"whsec_contract");
    // AND empty input round-trips too
    let empty = cipher.seal(b"").await.unwrap();
    assert_eq!(cipher.open(&empty).await.unwrap(), b"");
}

async fn another_process_opens_what_one_sealed(b: &Backend) {
    // GIVEN values sealed by this process
    let sealed = b
        .ports
        .cipher
        .seal(b"https://hooks.slack.com/x")
        .await
        .unwrap();
    // WHEN another process of the deployment opens them, and seals one itself
    let other = b.cipher_of_another_process();
    let opened = other.open(&sealed).await.unwrap();
    let back = other.seal(b"from the other").await.unwrap();
    // THEN each opens what the other sealed
    assert_eq!(opened, b"https://hooks.slack.com/x");
    assert_eq!(b.ports.cipher.open(&back).await.unwrap(), b"from the other");
}

async fn changed_or_foreign_values_do_not_open(b: &Backend) {
    // GIVEN a sealed value
    let cipher = &b.ports.cipher;
    let sealed = cipher.seal(b"whsec_contract").await.unwrap();
    // WHEN its last byte is changed, it is cut short, or it is bytes nobody sealed
    let mut flipped = sealed.clone();
    if let Some(last) = flipped.last_mut() {
        *last ^= 0x01;
    }
    let cut = sealed[..sealed.len() - 1].to_vec();
    // THEN none opens, and each says so (not that the key service is down)
    for bad in [flipped, cut, b"not sealed at all".to_vec(), Vec::new()] {
        assert_eq!(cipher.open(&bad).await, Err(CipherError::Undecryptable));
    }
}

async fn a_stored_secret_holds_no_plaintext_and_reads_back(b: &Backend) {
    // GIVEN a secret
    let plain = Secret::new("whsec_c29tZSBzZWNyZXQga2V5IGJ5dGVzIGhlcmU=");
    // WHEN it is put in its stored form and read back
    let stored = secret::seal(b.ports.cipher.as_ref(), &plain).await.unwrap();
    let text = serde_json::to_string(&stored).unwrap();
    let read = secret::open(b.ports.cipher.as_ref(), &stored)
        .await
        .unwrap();
    // THEN the stored form is tagged as sealed and does not hold the secret
    assert!(stored.is_sealed());
    assert!(text.starts_with("\"enc:v1:"), "{text}");
    assert!(!text.contains(plain.expose()));
    assert_eq!(read, plain);
}
