//! [`Fingerprint`]: what a store keys its map by, instead of the API key.

use std::fmt;
use std::hash::{Hash, Hasher};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::client_store::api_key::ApiKey;

/// A keyed BLAKE3 hash of an API key, under a key that is random per
/// [`Fingerprinter`] (so per store).
///
/// It identifies a key within one store, and is safe to log or count: it
/// cannot be reversed to the API key, and without the store's random key it
/// cannot even be checked against a guessed API key, nor linked to the same
/// API key's fingerprint in another process. `Debug` and `Display` show the
/// first 8 of its 32 bytes in hex.
///
/// ```
/// use ttlkit::client_store::{ApiKey, ClientStore, Fingerprint};
/// use ttlkit::BackendKind;
///
/// struct Client;
/// let store = ClientStore::<Client>::with_backend(BackendKind::Mutex)?;
/// let key = ApiKey::new("sk-demo-1")?;
/// let fingerprint: Fingerprint = store.fingerprint(&key);
/// assert_eq!(fingerprint, store.fingerprint(&key), "stable within one store");
/// assert_eq!(fingerprint.as_bytes().len(), 32);
/// assert_eq!(format!("{fingerprint}").len(), 16, "only 8 bytes are shown, in hex");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The full 32-byte hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The bytes are already uniformly random: eight of them are plenty
        // for a hash table; `Eq` still compares all 32.
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Turns API keys into [`Fingerprint`]s with a secret 32-byte key; the key
/// is zeroized on drop and never printed.
///
/// ```
/// use ttlkit::client_store::{ApiKey, Fingerprinter};
///
/// let fp = Fingerprinter::random()?;
/// let a = ApiKey::new("sk-a")?;
/// assert_eq!(fp.fingerprint(&a), fp.fingerprint(&ApiKey::new("sk-a")?));
/// assert_ne!(fp.fingerprint(&a), fp.fingerprint(&ApiKey::new("sk-b")?));
/// // Another fingerprinter (another store, another process) disagrees.
/// assert_ne!(fp.fingerprint(&a), Fingerprinter::random()?.fingerprint(&a));
/// assert_eq!(format!("{fp:?}"), "Fingerprinter { key: <redacted> }");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; 32],
}

/// The operating system could not supply random bytes for a fingerprint key.
///
/// ```
/// use ttlkit::client_store::{Fingerprinter, NoRandomness};
///
/// // The one fallible step of building a store's fingerprint key.
/// let fingerprinter: Result<Fingerprinter, NoRandomness> = Fingerprinter::random();
/// assert!(fingerprinter.is_ok());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("the operating system could not supply a random fingerprint key: {reason}")]
pub struct NoRandomness {
    reason: String,
}

impl NoRandomness {
    /// The error for a failed read of the random source, with its reason.
    pub(crate) fn new(reason: String) -> NoRandomness {
        NoRandomness { reason }
    }
}

impl Fingerprinter {
    /// A fingerprinter with a fresh key from the operating system's random
    /// source.
    pub fn random() -> Result<Fingerprinter, NoRandomness> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| NoRandomness { reason: e.to_string() })?;
        Ok(Fingerprinter { key })
    }

    /// A fingerprinter with a key you supply (for example shared by several
    /// instances so their logs agree). Keep that key as secret as an API key.
    pub fn with_key(key: [u8; 32]) -> Fingerprinter {
        Fingerprinter { key }
    }

    /// The fingerprint of `api_key`.
    pub fn fingerprint(&self, api_key: &ApiKey) -> Fingerprint {
        Fingerprint(*blake3::keyed_hash(&self.key, api_key.expose_secret().as_bytes()).as_bytes())
    }
}

impl Drop for Fingerprinter {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ZeroizeOnDrop for Fingerprinter {}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter { key: <redacted> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_key_is_deterministic_and_keyed() {
        let key = ApiKey::new("sk-live-0001").unwrap();
        let a = Fingerprinter::with_key([7; 32]).fingerprint(&key);
        let b = Fingerprinter::with_key([7; 32]).fingerprint(&key);
        let c = Fingerprinter::with_key([8; 32]).fingerprint(&key);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string().len(), 16);
        assert_eq!(format!("{a:?}"), format!("Fingerprint({a})"));
        // Not a plain (unkeyed) hash of the key either.
        assert_ne!(a.as_bytes(), blake3::hash(b"sk-live-0001").as_bytes());
    }
}
