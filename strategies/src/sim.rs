//! The hit-ratio simulator: replays a stream of keys against policies.
//!
//! Every `(policy, size)` run is fed the same requests in one pass over the
//! trace, so a big compressed trace is decompressed once. A run plays the
//! owner's part of the [`EvictionPolicy`] protocol: on a hit it calls
//! `on_hit`; on a miss `on_insert`, then `evict` while it holds more keys
//! than the size. It keeps its own set of resident keys, so a policy that
//! evicts a key that is not resident is caught. The caches start cold.
//!
//! [`SimPolicy::Opt`] is Belady's optimum, computed after the pass from the
//! next-use array (see [`crate::opt`]).

use std::fmt;

#[cfg(feature = "traces")]
use crate::opt::{belady_hits, NextUse, TooLong};
#[cfg(feature = "traces")]
use crate::trace::TraceError;
use crate::{mix64, EvictionPolicy, PolicyKind, UnknownPolicy};

/// A policy the simulator can run.
///
/// ```
/// use ttlkit_strategies::sim::SimPolicy;
/// use ttlkit_strategies::PolicyKind;
///
/// assert_eq!(SimPolicy::from_name("belady"), Ok(SimPolicy::Opt));
/// assert_eq!(SimPolicy::from_name("lru"), Ok(SimPolicy::Policy(PolicyKind::Lru)));
/// assert_eq!(SimPolicy::all().last(), Some(&SimPolicy::Opt));
/// assert!(SimPolicy::from_name("random").unwrap_err().known.ends_with(", opt"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimPolicy {
    /// One of the crate's eviction policies.
    Policy(PolicyKind),
    /// Belady's offline optimum.
    Opt,
}

impl SimPolicy {
    /// Every policy, then OPT.
    pub fn all() -> Vec<SimPolicy> {
        PolicyKind::ALL.iter().copied().map(SimPolicy::Policy).chain([SimPolicy::Opt]).collect()
    }

    /// Looks a policy up by name: a [`PolicyKind`] name, or `opt`
    /// (also `belady`, `min`).
    pub fn from_name(name: &str) -> Result<SimPolicy, UnknownPolicy> {
        match name.trim().to_ascii_lowercase().as_str() {
            "opt" | "belady" | "min" => Ok(SimPolicy::Opt),
            _ => PolicyKind::from_name(name).map(SimPolicy::Policy).map_err(|mut e| {
                e.known.push_str(", opt");
                e
            }),
        }
    }

    /// The policy's name.
    pub fn name(self) -> &'static str {
        match self {
            SimPolicy::Policy(k) => k.name(),
            SimPolicy::Opt => "opt",
        }
    }
}

impl fmt::Display for SimPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one run.
///
/// ```
/// # #[cfg(feature = "traces")]
/// # {
/// use ttlkit_strategies::sim::{simulate, SimPolicy, SimResult};
/// use ttlkit_strategies::PolicyKind;
///
/// let keys = [1u64, 2, 1, 3, 1].map(Ok);
/// let results: Vec<SimResult> =
///     simulate(keys, &[(SimPolicy::Policy(PolicyKind::Lru), 2), (SimPolicy::Opt, 2)], |_| {})?;
/// assert_eq!(results[0].requests, 5);
/// assert!(results[1].hits >= results[0].hits, "nothing beats OPT");
/// assert!(results[1].hit_ratio() <= 100.0);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimResult {
    /// The policy.
    pub policy: SimPolicy,
    /// The cache size, in entries.
    pub size: usize,
    /// Requests replayed.
    pub requests: u64,
    /// Requests that found their key resident.
    pub hits: u64,
}

impl SimResult {
    /// Hits per request, in percent (0 for an empty trace).
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            100.0 * self.hits as f64 / self.requests as f64
        }
    }
}

/// Why a simulation stopped.
///
/// ```
/// use std::io::Cursor;
/// use ttlkit_strategies::sim::{simulate, SimError, SimPolicy};
/// use ttlkit_strategies::trace::{Compression, TraceFormat, TraceReader};
///
/// // An unreadable trace stops the simulation with the reader's error.
/// let bad = TraceReader::from_reader(Cursor::new(b"1\nnot-a-key\n".to_vec()), TraceFormat::Lirs, Compression::None)?;
/// let err = simulate(bad, &[(SimPolicy::Opt, 8)], |_| {}).unwrap_err();
/// assert!(matches!(err, SimError::Trace(_)));
/// # Ok::<(), ttlkit_strategies::trace::TraceError>(())
/// ```
#[cfg(feature = "traces")]
#[cfg_attr(docsrs, doc(cfg(feature = "traces")))]
#[derive(Debug)]
pub enum SimError {
    /// The trace could not be read.
    Trace(TraceError),
    /// The trace is too long for OPT.
    TooLong(TooLong),
    /// A policy broke the protocol (a bug in the policy).
    Policy {
        /// The policy.
        policy: &'static str,
        /// The size.
        size: usize,
        /// What it did.
        what: String,
    },
}

#[cfg(feature = "traces")]
impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Trace(e) => fmt::Display::fmt(e, f),
            SimError::TooLong(e) => fmt::Display::fmt(e, f),
            SimError::Policy { policy, size, what } => write!(f, "policy {policy} at size {size}: {what}"),
        }
    }
}

#[cfg(feature = "traces")]
impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the inner error's message is this one's.
            SimError::Trace(e) => std::error::Error::source(e),
            SimError::TooLong(_) | SimError::Policy { .. } => None,
        }
    }
}

#[cfg(feature = "traces")]
impl From<TraceError> for SimError {
    fn from(e: TraceError) -> Self {
        SimError::Trace(e)
    }
}

#[cfg(feature = "traces")]
impl From<TooLong> for SimError {
    fn from(e: TooLong) -> Self {
        SimError::TooLong(e)
    }
}

/// One policy at one size, with the owner's view of what is resident.
///
/// ```
/// use ttlkit_strategies::sim::Run;
/// use ttlkit_strategies::PolicyKind;
///
/// let mut run = Run::new(PolicyKind::Lru, 2);
/// for key in [1, 2, 1, 3, 1] {
///     run.access(key)?;
/// }
/// assert_eq!(run.counts(), (5, 2));
/// assert_eq!(run.policy().name(), "lru");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct Run {
    policy: Box<dyn EvictionPolicy>,
    resident: crate::IdMap<()>,
    size: usize,
    requests: u64,
    hits: u64,
}

impl Run {
    /// A cold cache of `size` entries run by `kind`.
    pub fn new(kind: PolicyKind, size: usize) -> Run {
        Run::with_policy(kind.build(size), size)
    }

    /// A cold cache of `size` entries run by `policy` (sized for it).
    pub fn with_policy(policy: Box<dyn EvictionPolicy>, size: usize) -> Run {
        Run { policy, resident: crate::IdMap::default(), size, requests: 0, hits: 0 }
    }

    /// Replays one request; `Err` if the policy broke the protocol.
    pub fn access(&mut self, key: u64) -> Result<bool, String> {
        self.requests += 1;
        if self.resident.contains_key(&key) {
            self.hits += 1;
            self.policy.on_hit(key);
            return Ok(true);
        }
        self.policy.on_insert(key, mix64(key));
        self.resident.insert(key, ());
        while self.resident.len() > self.size {
            match self.policy.evict() {
                Some(victim) if self.resident.remove(&victim).is_some() => {}
                Some(victim) => return Err(format!("evicted {victim}, which is not resident")),
                None => return Err(format!("no victim with {} resident", self.resident.len())),
            }
        }
        if self.policy.len() != self.resident.len() {
            return Err(format!("tracks {} entries, {} are resident", self.policy.len(), self.resident.len()));
        }
        Ok(false)
    }

    /// The policy being run.
    pub fn policy(&self) -> &dyn EvictionPolicy {
        self.policy.as_ref()
    }

    /// Requests and hits so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.requests, self.hits)
    }
}

/// How often `simulate` reports progress, in requests.
#[cfg(feature = "traces")]
#[cfg_attr(docsrs, doc(cfg(feature = "traces")))]
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// Replays `keys` against every `(policy, size)` pair in one pass and
/// returns the results in the same order. `progress` is called with the
/// number of requests read, every [`PROGRESS_EVERY`] requests and at the end.
#[cfg(feature = "traces")]
#[cfg_attr(docsrs, doc(cfg(feature = "traces")))]
pub fn simulate<I>(
    keys: I,
    runs: &[(SimPolicy, usize)],
    mut progress: impl FnMut(u64),
) -> Result<Vec<SimResult>, SimError>
where
    I: IntoIterator<Item = Result<u64, TraceError>>,
{
    let mut live: Vec<Run> = runs
        .iter()
        .filter_map(|&(p, size)| match p {
            SimPolicy::Policy(kind) => Some(Run::new(kind, size)),
            SimPolicy::Opt => None,
        })
        .collect();
    let mut next_use = runs.iter().any(|(p, _)| *p == SimPolicy::Opt).then(NextUse::default);
    let mut requests = 0u64;
    for key in keys {
        let key = key?;
        requests += 1;
        for run in &mut live {
            run.access(key).map_err(|what| SimError::Policy { policy: run.policy.name(), size: run.size, what })?;
        }
        if let Some(n) = &mut next_use {
            n.push(key)?;
        }
        if requests % PROGRESS_EVERY == 0 {
            progress(requests);
        }
    }
    progress(requests);
    let next = next_use.map(NextUse::finish);
    let mut live = live.into_iter();
    let mut results = Vec::with_capacity(runs.len());
    for &(policy, size) in runs {
        let hits = match policy {
            SimPolicy::Policy(_) => live.next().map_or(0, |r| r.hits),
            SimPolicy::Opt => next.as_deref().map_or(0, |n| belady_hits(n, size)),
        };
        results.push(SimResult { policy, size, requests, hits });
    }
    Ok(results)
}

#[cfg(all(test, feature = "traces"))]
mod tests {
    use super::*;

    #[test]
    fn every_policy_runs_and_opt_bounds_them() {
        let keys: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 97 + (i % 13) * 100).collect();
        let runs: Vec<(SimPolicy, usize)> = SimPolicy::all().into_iter().map(|p| (p, 20)).collect();
        let results = simulate(keys.iter().map(|&k| Ok(k)), &runs, |_| {});
        let results = results.map_err(|e| e.to_string());
        let Ok(results) = results else { panic!("{results:?}") };
        let opt = results.iter().find(|r| r.policy == SimPolicy::Opt).map(|r| r.hits).unwrap_or(0);
        for r in &results {
            assert_eq!(r.requests, 5000);
            assert!(r.hits <= opt, "{} beat OPT: {} > {opt}", r.policy, r.hits);
        }
    }
}
