//! The synchronisation types ttlkit uses, in one place, so the same code can
//! run on `std`/`parking_lot` types or (later, under `--cfg ttlkit_loom`)
//! on loom's model-checked ones.

pub(crate) use parking_lot::{Condvar, Mutex};
pub(crate) use std::sync::{Arc, Weak};
