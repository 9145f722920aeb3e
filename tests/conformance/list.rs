//! The list of the suite's cases, each with what it needs of its target
//! ([`Need`](crate::target::Need)). Test binaries expand it with a macro of
//! their own: `for_each_case!(my_macro)` calls
//! `my_macro! { module::case [Need, ..], .. }`.
//!
//! A case missing from the list is dead code (a warning, an error under
//! `clippy -D warnings`), so none can be left out.

/// Calls `$callback! { module::case [needs], .. }` with every case, then
/// any arguments after the callback's name.
#[macro_export]
macro_rules! for_each_case {
    ($callback:ident $(, $arg:tt)*) => {
        $callback! {
            $($arg)* ;
            cases::sliding_refresh_on_get [MockClock],
            cases::peek_does_not_refresh [MockClock],
            cases::contains_key_does_not_refresh [MockClock],
            cases::overwrite_refreshes_idle_and_lifetime [MockClock],
            cases::lifetime_not_extended_by_reads [MockClock],
            cases::expired_entry_never_returned_before_purge [MockClock, Capacity],
            cases::len_counts_unpurged_expired_entries [MockClock],
            cases::purge_returns_count_and_reports_expired [MockClock],
            cases::capacity_bound_after_maintenance [Capacity],
            cases::capacity_evicts_expired_first [MockClock, Capacity],
            cases::weigher_bounds_total_weight [Capacity],
            cases::remove_returns_only_live_values [MockClock],
            cases::listener_causes_exactly_once [MockClock, Capacity],
            cases::listener_may_use_the_cache [MockClock, Capacity],
            cases::listener_panic_is_contained [MockClock],
            cases::overwrite_of_expired_entry_reports_expired [MockClock],
            cases::clear_reports_cleared [],
            cases::clones_share_one_cache [],
            cases::get_or_insert_hit_skips_init [],
            cases::single_flight_eight_threads [],
            cases::error_is_not_cached [],
            cases::concurrent_waiters_share_the_error [],
            cases::panicking_init_poisons_nothing [],
            cases::waiter_retries_after_leader_panics [],
            cases::stats_consistent_with_operations [Capacity],
            cases::sweeper_purges_without_traffic [MockClock],
            cases::borrowed_key_lookups [],
            expiry_kinds::time_to_live_alone_is_not_extended_by_reads [MockClock],
            expiry_kinds::time_to_idle_alone_lives_while_read [MockClock],
            expiry_kinds::without_expiry_nothing_expires [MockClock],
            inspection::entry_info_reports_age_and_deadlines_without_refreshing [MockClock, Inspection],
            inspection::entry_info_of_a_cache_that_never_expires [MockClock, Inspection],
            inspection::iter_yields_live_entries_without_refreshing [MockClock, Inspection],
            inspection::weighted_size_and_entry_weights [MockClock, Capacity, Inspection],
            inspection::retain_removes_what_keep_rejects [MockClock, Inspection],
            inspection::a_load_during_retain_is_not_stored [TrackedLoads, Inspection],
            inspection::coldest_and_hottest_rank_the_live_entries [MockClock, Capacity, Ranking],
            per_entry::insert_with_ttl_expires_on_its_own_deadline [MockClock, PerEntry],
            per_entry::cache_wide_deadlines_cap_and_overwrites_start_afresh [MockClock, PerEntry],
            per_entry::purge_removes_exactly_the_expired_per_entry_deadlines [MockClock, PerEntry],
            per_entry::expiry_callbacks_set_deadlines_on_create_update_and_read [MockClock, PerEntry],
            per_entry::a_read_that_shortens_a_deadline_is_purged_on_time [MockClock, PerEntry],
            per_entry::entry_info_shows_the_own_deadline [MockClock, PerEntry, Inspection],
            per_entry::a_panicking_expiry_changes_nothing [MockClock, PerEntry],
            resize::shrinking_evicts_at_once_expired_first [MockClock, Capacity, Reconfigure],
            resize::growing_makes_room_for_more [Capacity, Reconfigure],
            resize::bad_resizes_are_refused_and_change_nothing [Capacity, Reconfigure],
            resize::resizing_under_concurrent_inserts_loses_nothing [Capacity, Reconfigure],
            resize::a_shorter_idle_timeout_applies_to_entries_held [MockClock, Reconfigure],
            resize::a_time_to_live_can_be_lengthened_or_added [MockClock, Reconfigure],
            resize::bad_timeouts_are_refused_and_change_nothing [MockClock, Reconfigure],
            sweeping::entries_stored_at_the_end_of_time_are_purged [MockClock],
            sweeping::deadlines_near_the_end_of_time_saturate [MockClock],
            loads::insert_during_load_wins [TrackedLoads],
            loads::remove_during_load_wins [TrackedLoads],
            loads::clear_during_load_wins [TrackedLoads],
            loads::waiters_get_the_value_of_an_invalidated_load [TrackedLoads],
            loads::single_flight_across_error_types [],
            loads::recursive_load_of_one_key_panics [],
            bad_input::max_capacity_u64_max_works [Capacity],
            bad_input::byte_weighted_capacity_works [Capacity],
            bad_input::extreme_weights_work [Capacity],
            bad_input::capacity_one_holds_one [Capacity],
            bad_input::panicking_weigher_changes_nothing [Capacity],
            oversized::oversized_entry_is_refused_alone [Capacity],
            oversized::oversized_overwrite_drops_the_old_value [Capacity],
            oversized::oversized_loaded_value_is_refused_alone [Capacity],
        }
    };
}
