//! The [`EvictionPolicy`] trait: what every policy implements.

use std::fmt;

/// Identifies a resident entry to a policy.
///
/// Backends use their slot indexes; the simulator uses the trace's keys. An id
/// is unique among residents; it may be reused after the policy was told the
/// previous holder left (by [`EvictionPolicy::on_remove`] or by returning it
/// from [`EvictionPolicy::evict`]).
///
/// ```
/// use ttlkit_strategies::{EntryId, EvictionPolicy, Fifo};
///
/// let mut policy = Fifo::new(4);
/// let id: EntryId = 7; // a backend's slot index, say
/// policy.on_insert(id, 0xfeed);
/// assert_eq!(policy.evict(), Some(id));
/// ```
pub type EntryId = u64;

/// An eviction policy: a pure, single-threaded state machine.
///
/// A policy has no clock and no locks. It is told when an entry becomes
/// resident ([`on_insert`](Self::on_insert)), is read
/// ([`on_hit`](Self::on_hit)) or leaves for a reason the policy did not choose
/// ([`on_remove`](Self::on_remove): expiry, explicit removal, clear), and it is
/// asked for a victim when the owner needs room ([`evict`](Self::evict)).
///
/// The owner, not the policy, decides *when* room is needed (it knows the
/// weights); the policy decides *who* goes. A policy that filters admission
/// (TinyLFU) refuses a newcomer by returning the newcomer itself from `evict`.
///
/// `hash` arguments are a well-mixed hash of the user's key. Unlike ids they
/// are stable across removal and re-insertion, so policies with memory of
/// departed keys (ghost lists, frequency sketches) key that memory by hash.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, Lru};
///
/// // The owner tells the policy what happened and asks it for victims.
/// let mut policy = Lru::new(2);
/// policy.on_insert(1, 0x11);
/// policy.on_insert(2, 0x22);
/// policy.on_hit(1);
/// assert_eq!(policy.evict(), Some(2), "the least recently used goes");
/// policy.on_remove(1);
/// assert!(policy.is_empty());
/// policy.validate()?;
/// # Ok::<(), String>(())
/// ```
pub trait EvictionPolicy: Send + fmt::Debug {
    /// The policy's name, as accepted by [`PolicyKind::from_name`](crate::PolicyKind::from_name).
    fn name(&self) -> &'static str;

    /// The number of entries the policy was sized for.
    fn capacity(&self) -> usize;

    /// The number of resident entries the policy tracks.
    fn len(&self) -> usize;

    /// Whether no entry is resident.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `id` (with key hash `hash`) became resident.
    ///
    /// The owner must not insert an id that is already resident.
    fn on_insert(&mut self, id: EntryId, hash: u64);

    /// Resident entry `id` was read (or overwritten in place).
    fn on_hit(&mut self, id: EntryId);

    /// Resident entry `id` left for a reason the policy did not choose.
    /// Unknown ids are ignored.
    fn on_remove(&mut self, id: EntryId);

    /// Picks a resident entry to evict and forgets it; `None` only when empty.
    fn evict(&mut self) -> Option<EntryId>;

    /// Whether this policy's hits are reference bits (CLOCK, SIEVE), so an
    /// owner whose hits cannot reach the policy at once (lock-free reads)
    /// may keep the bits itself and hand them over with
    /// [`evict_with_bits`](Self::evict_with_bits).
    fn reads_reference_bits(&self) -> bool {
        false
    }

    /// Whether an owner whose hits cannot reach the policy at once should
    /// keep them as bits and hand them over with
    /// [`evict_with_bits`](Self::evict_with_bits), rather than re-insert a
    /// victim that was hit since the policy last saw it. The reference-bit
    /// policies do (for them the bits are exact); so does
    /// [`WTinyLfuAuto`](crate::WTinyLfuAuto), which gives the entry about
    /// to leave the hit its bit records.
    fn takes_owner_bits(&self) -> bool {
        self.reads_reference_bits()
    }

    /// Like [`evict`](Self::evict), but wherever the policy reads an
    /// entry's reference bit it also reads the owner's: `referenced(id)`
    /// returns whether the entry was hit since last asked, and clears that.
    /// Policies that do not [take owner bits](Self::takes_owner_bits)
    /// ignore `referenced`.
    fn evict_with_bits(&mut self, referenced: &mut dyn FnMut(EntryId) -> bool) -> Option<EntryId> {
        let _ = referenced;
        self.evict()
    }

    /// Up to `n` resident entries in the order the policy expects to evict
    /// them, coldest first, or `None` if it cannot tell (the default; a
    /// reference-bit policy, whose bits may live with its owner). Policies
    /// that admit by frequency (W-TinyLFU) give their queues' order, which
    /// an admission decision may reorder. Changes nothing; may walk every
    /// resident entry.
    fn coldest(&self, n: usize) -> Option<Vec<EntryId>> {
        let _ = n;
        None
    }

    /// Up to `n` resident entries the policy protects most, hottest first,
    /// or `None` if it cannot tell (the default). Changes nothing; may walk
    /// every resident entry.
    fn hottest(&self, n: usize) -> Option<Vec<EntryId>> {
        let _ = n;
        None
    }

    /// Forgets every resident entry (ghost and frequency memory may be kept).
    fn clear(&mut self);

    /// Checks the policy's internal invariants; `Err` describes the first one
    /// found broken. Meant for tests and fuzzing: it may walk every entry.
    fn validate(&self) -> Result<(), String>;
}
