//! ttlkit's benches, examples and HTTP tests, kept in their own crate so the
//! library's own tests never build their dependencies. Nothing here is
//! public API; the targets are in `benches/`, `examples/` and `tests/`.
