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
    /// The name `AnyCache::from_name` knows the backend by.
    pub backend: &'static str,
    /// The eviction policy's name.
    pub policy: &'static str,
}

/// Declares one module of tests, one `#[test]` per case, for a target.
macro_rules! conformance {
    ($module:ident => $backend:expr, $policy:expr) => {
        mod $module {
            const TARGET: crate::Target = crate::Target { backend: $backend, policy: $policy };
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
conformance!(mutex => "mutex", "lru");
conformance!(sharded => "sharded", "lru");

// Every other policy on the backends that take one.
conformance!(mutex_fifo => "mutex", "fifo");
conformance!(mutex_clock => "mutex", "clock");
conformance!(mutex_sieve => "mutex", "sieve");
conformance!(mutex_s3_fifo => "mutex", "s3-fifo");
conformance!(mutex_arc => "mutex", "arc");
conformance!(mutex_w_tinylfu => "mutex", "w-tinylfu");
conformance!(mutex_w_tinylfu_climb => "mutex", "w-tinylfu-climb");
conformance!(mutex_w_tinylfu_v2 => "mutex", "w-tinylfu-v2");
conformance!(sharded_fifo => "sharded", "fifo");
conformance!(sharded_clock => "sharded", "clock");
conformance!(sharded_sieve => "sharded", "sieve");
conformance!(sharded_s3_fifo => "sharded", "s3-fifo");
conformance!(sharded_arc => "sharded", "arc");
conformance!(sharded_w_tinylfu => "sharded", "w-tinylfu");
conformance!(sharded_w_tinylfu_climb => "sharded", "w-tinylfu-climb");
conformance!(sharded_w_tinylfu_v2 => "sharded", "w-tinylfu-v2");
conformance!(moka => "moka", "lru");
conformance!(moka_tinylfu => "moka", "w-tinylfu");
