//! The conformance suite: every rule of the `SlidingTtlCache` contract,
//! written once (in `conformance/cases.rs`) and run against every backend
//! (and backend + policy pair) listed at the bottom of this file. Test names
//! carry the backend: `cargo test --test conformance -- --list`.
//!
//! Driven by `MockClock`; no test sleeps.

#![allow(clippy::unwrap_used)]

#[path = "conformance/bad_input.rs"]
mod bad_input;
#[path = "conformance/cases.rs"]
mod cases;
#[path = "conformance/loads.rs"]
mod loads;
#[path = "conformance/oversized.rs"]
mod oversized;
#[path = "conformance/sweeping.rs"]
mod sweeping;

/// A backend (and policy) to run the suite against.
pub struct Target {
    /// The backend, built through `AnyCache::new`.
    pub backend: ttlkit::BackendKind,
    /// The eviction policy.
    pub policy: ttlkit::PolicyKind,
}

/// Declares one module of tests, one `#[test]` per case, for a target.
macro_rules! conformance {
    ($module:ident => $backend:ident, $policy:ident) => {
        mod $module {
            const TARGET: crate::Target =
                crate::Target { backend: ttlkit::BackendKind::$backend, policy: ttlkit::PolicyKind::$policy };
            conformance!(@cases
                sliding_refresh_on_get,
                peek_does_not_refresh,
                contains_key_does_not_refresh,
                overwrite_refreshes_idle_and_lifetime,
                lifetime_not_extended_by_reads,
                expired_entry_never_returned_before_purge,
                len_counts_unpurged_expired_entries,
                purge_returns_count_and_reports_expired,
                capacity_bound_after_maintenance,
                capacity_evicts_expired_first,
                weigher_bounds_total_weight,
                remove_returns_only_live_values,
                listener_causes_exactly_once,
                listener_may_use_the_cache,
                listener_panic_is_contained,
                overwrite_of_expired_entry_reports_expired,
                clear_reports_cleared,
                clones_share_one_cache,
                get_or_insert_hit_skips_init,
                single_flight_eight_threads,
                error_is_not_cached,
                concurrent_waiters_share_the_error,
                panicking_init_poisons_nothing,
                waiter_retries_after_leader_panics,
                stats_consistent_with_operations,
                sweeper_purges_without_traffic,
                borrowed_key_lookups,
            );
            conformance!(@in sweeping:
                entries_stored_at_the_end_of_time_are_purged,
                deadlines_near_the_end_of_time_saturate,
            );
            conformance!(@in loads:
                insert_during_load_wins,
                remove_during_load_wins,
                clear_during_load_wins,
                waiters_get_the_value_of_an_invalidated_load,
                single_flight_across_error_types,
                recursive_load_of_one_key_panics,
            );
            conformance!(@in bad_input:
                max_capacity_u64_max_works,
                byte_weighted_capacity_works,
                extreme_weights_work,
                capacity_one_holds_one,
                zero_capacity_is_a_typed_error,
                unsupported_policy_is_a_typed_error,
                panicking_weigher_changes_nothing,
            );
            conformance!(@in oversized:
                oversized_entry_is_refused_alone,
                oversized_overwrite_drops_the_old_value,
            );
        }
    };
    (@in $file:ident: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                crate::$file::$case(&TARGET);
            }
        )*
    };
    (@cases $($case:ident),* $(,)?) => {
        conformance!(@in cases: $($case),*);
    };
}

// One line per backend (and policy).
conformance!(mutex => Mutex, Lru);
conformance!(sharded => Sharded, Lru);

// Every other policy on the backends that take one.
conformance!(mutex_fifo => Mutex, Fifo);
conformance!(mutex_clock => Mutex, Clock);
conformance!(mutex_sieve => Mutex, Sieve);
conformance!(mutex_s3_fifo => Mutex, S3Fifo);
conformance!(mutex_arc => Mutex, Arc);
conformance!(mutex_w_tinylfu => Mutex, WTinyLfu);
conformance!(mutex_w_tinylfu_climb => Mutex, WTinyLfuClimb);
conformance!(mutex_w_tinylfu_v2 => Mutex, WTinyLfuV2);
conformance!(sharded_fifo => Sharded, Fifo);
conformance!(sharded_clock => Sharded, Clock);
conformance!(sharded_sieve => Sharded, Sieve);
conformance!(sharded_s3_fifo => Sharded, S3Fifo);
conformance!(sharded_arc => Sharded, Arc);
conformance!(sharded_w_tinylfu => Sharded, WTinyLfu);
conformance!(sharded_w_tinylfu_climb => Sharded, WTinyLfuClimb);
conformance!(sharded_w_tinylfu_v2 => Sharded, WTinyLfuV2);
// moka runs only its own LRU and TinyLFU (the rest are refused: see
// `bad_input::moka_refuses_the_policies_it_does_not_run`).
conformance!(moka => Moka, Lru);
conformance!(moka_tinylfu => Moka, WTinyLfu);
