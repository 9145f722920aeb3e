//! The error of an operation a backend cannot perform.

use std::fmt;

/// An operation a backend cannot perform, refused without changing anything.
///
/// ```
/// let e = ttlkit::Unsupported { backend: "redis", operation: "insert_with_ttl" };
/// assert_eq!(e.to_string(), "the redis backend does not support insert_with_ttl");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported {
    /// The backend's name.
    pub backend: &'static str,
    /// The operation refused.
    pub operation: &'static str,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} backend does not support {}", self.backend, self.operation)
    }
}

impl std::error::Error for Unsupported {}
