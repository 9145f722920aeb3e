//! What the Redis backend stores: key names derived from a key's `Hash`
//! stream, and records that carry a creation stamp, the encoded key and the
//! encoded value.
//!
//! A record is `<created_ms>:<key_len>:<key bytes><value bytes>`: the
//! creation stamp (Redis server time, Unix milliseconds) and the key length
//! in ASCII decimal so the Lua scripts can read them, then the key and the
//! value, each encoded with `postcard`.

use std::hash::{Hash, Hasher};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::RedisCacheError;

/// Feeds a key's `Hash` stream into BLAKE3 with a fixed, portable encoding
/// of every integer (little-endian; `usize`/`isize` as 64-bit), so every
/// process hashing an equal key gets the same digest.
struct StreamDigest(blake3::Hasher);

impl Hasher for StreamDigest {
    fn finish(&self) -> u64 {
        // Unused: the digest is read with `finalize`.
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.0.update(&[i]);
    }
    fn write_u16(&mut self, i: u16) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.0.update(&(i as u64).to_le_bytes());
    }
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as i64 as u64);
    }
}

/// The 128-bit digest of a key's `Hash` stream: the part of its Redis key
/// names that identifies it (32 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Digest(pub(crate) u128);

impl Digest {
    /// Parses the 32 hex digits a key name carries.
    pub(crate) fn parse(hex: &[u8]) -> Option<Digest> {
        if hex.len() != 32 || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let text = std::str::from_utf8(hex).ok()?;
        u128::from_str_radix(text, 16).ok().map(Digest)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The digest of `key`'s `Hash` stream.
///
/// `K: Borrow<Q>` promises that `K` and `Q` hash alike, so a lookup by a
/// borrowed form (`&str` for a `String` key) finds the same Redis key.
pub(crate) fn key_digest<Q: Hash + ?Sized>(key: &Q) -> Digest {
    let mut h = StreamDigest(blake3::Hasher::new());
    key.hash(&mut h);
    let mut first = [0u8; 16];
    first.copy_from_slice(&h.0.finalize().as_bytes()[..16]);
    Digest(u128::from_be_bytes(first))
}

/// Encodes a key or a value.
pub(crate) fn encode<T: Serialize + ?Sized>(t: &T) -> Result<Vec<u8>, RedisCacheError> {
    Ok(postcard::to_stdvec(t)?)
}

/// A record read back from Redis, split but not yet decoded.
pub(crate) struct RawRecord<'a> {
    /// When it was stored (Redis server time, Unix ms).
    pub(crate) created_ms: u64,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
}

/// Splits a record into its stamp, key bytes and value bytes.
pub(crate) fn split(record: &[u8]) -> Option<RawRecord<'_>> {
    let (created_ms, rest) = leading_number(record)?;
    let (key_len, rest) = leading_number(rest)?;
    let key_len = usize::try_from(key_len).ok()?;
    if rest.len() < key_len {
        return None;
    }
    let (key, value) = rest.split_at(key_len);
    Some(RawRecord { created_ms, key, value })
}

/// Parses `<digits>:` at the start of `bytes`; returns the number and the rest.
fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let colon = bytes.iter().take(21).position(|&b| b == b':')?;
    let digits = std::str::from_utf8(&bytes[..colon]).ok()?;
    let n = digits.parse().ok()?;
    Some((n, &bytes[colon + 1..]))
}

/// A decoded record.
pub(crate) struct Record<K, V> {
    pub(crate) created_ms: u64,
    pub(crate) key: K,
    pub(crate) value: V,
}

/// Decodes exactly `bytes`: bytes left over mean another type wrote them
/// (postcard is not self-describing, so this is how most type mismatches
/// under one prefix show up).
pub(crate) fn decode_exact<T: DeserializeOwned>(redis_key: &str, bytes: &[u8]) -> Result<T, RedisCacheError> {
    let (t, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(t)
    } else {
        Err(RedisCacheError::Malformed { key: redis_key.to_owned() })
    }
}

/// Splits and decodes a record.
pub(crate) fn decode<K: DeserializeOwned, V: DeserializeOwned>(
    redis_key: &str,
    record: &[u8],
) -> Result<Record<K, V>, RedisCacheError> {
    let raw = split(record).ok_or_else(|| RedisCacheError::Malformed { key: redis_key.to_owned() })?;
    Ok(Record {
        created_ms: raw.created_ms,
        key: decode_exact(redis_key, raw.key)?,
        value: decode_exact(redis_key, raw.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_forms_share_a_digest() {
        assert_eq!(key_digest("alpha"), key_digest(&"alpha".to_string()));
        assert_ne!(key_digest("alpha"), key_digest("alphb"));
        assert_ne!(key_digest(&("ab", "c")), key_digest(&("a", "bc")));
        let d = key_digest(&7u64);
        assert_eq!(d.to_string().len(), 32);
        assert_eq!(Digest::parse(d.to_string().as_bytes()), Some(d));
        assert_eq!(Digest::parse(b"0123"), None);
        assert_eq!(Digest::parse(&[b'G'; 32]), None);
        assert_eq!(Digest::parse(&[b'A'; 32]), None, "key names carry lower-case hex only");
    }

    #[test]
    fn records_split_and_reject_garbage() {
        let key = encode("k").unwrap();
        let value = encode(&42u32).unwrap();
        let mut rec = format!("1700000000000:{}:", key.len()).into_bytes();
        rec.extend_from_slice(&key);
        rec.extend_from_slice(&value);
        let r: Record<String, u32> = decode("x", &rec).unwrap();
        assert_eq!((r.created_ms, r.key.as_str(), r.value), (1_700_000_000_000, "k", 42));
        assert!(split(b"").is_none());
        assert!(split(b"12:99:abc").is_none(), "key longer than the record");
        assert!(split(b"no colon here").is_none());
        assert!(matches!(decode::<String, u32>("x", b"1:x:"), Err(RedisCacheError::Malformed { .. })));
    }
}
