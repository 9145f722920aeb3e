//! [`ApiKey`]: an API key that never prints itself and is wiped on drop.

use std::fmt;
use std::str::FromStr;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The longest key [`ApiKey::new`] accepts, in bytes.
pub const MAX_API_KEY_LEN: usize = 4096;

/// An API key: a secret.
///
/// * `Debug` and `Display` print `<redacted>`, never the key.
/// * The memory holding the key is overwritten with zeros when the `ApiKey`
///   (or any clone of it) is dropped, via the [`zeroize`] crate.
/// * No `PartialEq`, `Hash` or `Serialize`: a store keys its map by a keyed
///   [`Fingerprint`](crate::client_store::Fingerprint), never by the key.
///
/// The only way to read the key is [`expose_secret`](Self::expose_secret),
/// which a client factory calls to put it in a header.
///
/// ```
/// use ttlkit::client_store::ApiKey;
///
/// let key = ApiKey::new("sk-test-1234")?;
/// assert_eq!(format!("{key} {key:?}"), "<redacted> ApiKey(<redacted>)");
/// assert_eq!(key.expose_secret(), "sk-test-1234");
///
/// let from_header = ApiKey::from_bearer("Bearer sk-test-1234")?;
/// assert_eq!(from_header.expose_secret(), key.expose_secret());
/// assert!(ApiKey::new("").is_err());
/// # Ok::<(), ttlkit::client_store::InvalidApiKey>(())
/// ```
#[derive(Clone)]
pub struct ApiKey {
    secret: String,
}

/// Why a string is not a usable API key. Never contains the key itself.
///
/// ```
/// use ttlkit::client_store::{ApiKey, InvalidApiKey};
///
/// assert_eq!(ApiKey::new("").unwrap_err(), InvalidApiKey::Empty);
/// assert_eq!(ApiKey::new("sk\n1").unwrap_err(), InvalidApiKey::BadByte { position: 2 });
/// assert_eq!(ApiKey::from_bearer("Basic abc").unwrap_err(), InvalidApiKey::NotBearer);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidApiKey {
    /// The key is empty.
    #[error("the API key is empty")]
    Empty,
    /// The key is longer than [`MAX_API_KEY_LEN`] bytes.
    #[error("the API key is longer than {MAX_API_KEY_LEN} bytes")]
    TooLong,
    /// A byte that is not printable ASCII (`!` to `~`), so the key could not
    /// travel in an HTTP header.
    #[error("the API key has a byte that is not printable ASCII at position {position}")]
    BadByte {
        /// The byte's zero-based position in the key.
        position: usize,
    },
    /// An `Authorization` value that is not `Bearer <key>`.
    #[error("the Authorization value is not of the form \"Bearer <key>\"")]
    NotBearer,
}

impl ApiKey {
    /// Takes `secret` as an API key. Rejects an empty key, one longer than
    /// [`MAX_API_KEY_LEN`] and one with a byte outside printable ASCII; a
    /// rejected string is zeroized before the error is returned.
    ///
    /// A `String` is taken over (and wiped later); from a `&str` the key is
    /// copied, and the buffer it came from (a request's header, say) is the
    /// caller's to wipe.
    pub fn new(secret: impl Into<String>) -> Result<ApiKey, InvalidApiKey> {
        let mut secret = secret.into();
        match check(&secret) {
            Ok(()) => Ok(ApiKey { secret }),
            Err(e) => {
                secret.zeroize();
                Err(e)
            }
        }
    }

    /// Parses an `Authorization` header value of the form `Bearer <key>`
    /// (the scheme is case-insensitive; surrounding spaces are ignored).
    pub fn from_bearer(header_value: &str) -> Result<ApiKey, InvalidApiKey> {
        let value = header_value.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(InvalidApiKey::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(InvalidApiKey::NotBearer);
        }
        ApiKey::new(rest.trim_start())
    }

    /// The key itself. Hand it to the code that authenticates (a header of
    /// the client being built) and nowhere else.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// `Bearer <key>`, for an `Authorization` header, in a buffer that is
    /// zeroized when dropped.
    ///
    /// ```
    /// use ttlkit::client_store::ApiKey;
    ///
    /// let key = ApiKey::new("sk-abc")?;
    /// assert_eq!(key.bearer().as_str(), "Bearer sk-abc");
    /// # Ok::<(), ttlkit::client_store::InvalidApiKey>(())
    /// ```
    pub fn bearer(&self) -> Zeroizing<String> {
        let mut value = Zeroizing::new(String::with_capacity(7 + self.secret.len()));
        value.push_str("Bearer ");
        value.push_str(&self.secret);
        value
    }
}

fn check(secret: &str) -> Result<(), InvalidApiKey> {
    if secret.is_empty() {
        return Err(InvalidApiKey::Empty);
    }
    if secret.len() > MAX_API_KEY_LEN {
        return Err(InvalidApiKey::TooLong);
    }
    match secret.bytes().position(|b| !b.is_ascii_graphic()) {
        Some(position) => Err(InvalidApiKey::BadByte { position }),
        None => Ok(()),
    }
}

impl Drop for ApiKey {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl ZeroizeOnDrop for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for ApiKey {
    type Err = InvalidApiKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiKey::new(s)
    }
}

impl TryFrom<String> for ApiKey {
    type Error = InvalidApiKey;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ApiKey::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_keys_without_echoing_them() {
        assert_eq!(ApiKey::new("").err(), Some(InvalidApiKey::Empty));
        assert_eq!(ApiKey::new("x".repeat(MAX_API_KEY_LEN + 1)).err(), Some(InvalidApiKey::TooLong));
        assert!(ApiKey::new("x".repeat(MAX_API_KEY_LEN)).is_ok());
        let e = ApiKey::new("sk-secret value").err();
        assert_eq!(e, Some(InvalidApiKey::BadByte { position: 9 }));
        assert!(!format!("{:?} {}", e, e.as_ref().map(ToString::to_string).unwrap_or_default()).contains("secret"));
        assert_eq!(ApiKey::new("sk-é").err(), Some(InvalidApiKey::BadByte { position: 3 }));
    }

    #[test]
    fn bearer_parsing() {
        let key = |h: &str| ApiKey::from_bearer(h).map(|k| k.expose_secret().to_owned());
        assert_eq!(key("Bearer sk-1").as_deref(), Ok("sk-1"));
        assert_eq!(key("  bearer   sk-1 ").as_deref(), Ok("sk-1"));
        assert_eq!(key("Basic sk-1"), Err(InvalidApiKey::NotBearer));
        assert_eq!(key("Bearer"), Err(InvalidApiKey::NotBearer));
        assert_eq!(key("Bearer "), Err(InvalidApiKey::NotBearer));
        assert_eq!(key("Bearer a b"), Err(InvalidApiKey::BadByte { position: 1 }));
    }

    #[test]
    fn zeroize_clears_the_buffer() {
        fn zeroized_on_drop<T: ZeroizeOnDrop>(_: &T) {}
        let mut key = ApiKey::new("sk-wipe-me").unwrap();
        zeroized_on_drop(&key);
        // What Drop does, observed before the buffer is freed.
        key.secret.zeroize();
        assert!(key.secret.is_empty());
        assert!(key.secret.capacity() >= "sk-wipe-me".len());
    }
}
