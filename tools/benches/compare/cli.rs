//! Flags, and the plan they resolve to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ttlkit::PolicyKind;

/// Every backend and policy side by side with moka, quick_cache, TinyUFO,
/// mini-moka and foyer (used directly) and the original Mutex<HashMap>
/// design, on the same workloads, in one run.
#[derive(Debug, Parser)]
#[command(name = "compare", bin_name = "cargo bench --bench compare --", after_help = AFTER_HELP)]
pub struct Args {
    /// Finish in about a minute (CI): 40 ms cells, lru only, 1 and 2×cores
    /// threads, heap and purge figures at 250,000 entries, one purge run.
    #[arg(long)]
    pub quick: bool,

    /// What stdout gets: the table, or CSV rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Policies for our backends: `default` (fifo, lru, sieve, s3-fifo,
    /// w-tinylfu-v2, w-tinylfu-auto; `--quick`: lru), `all`, or a
    /// comma-separated list.
    /// moka rows run only those of them moka has (lru, w-tinylfu); foyer
    /// rows those foyer has (all but clock and arc).
    #[arg(long, default_value = "default")]
    pub policy: String,

    /// Replay this trace (ARC .lis, LIRS, cache2k, scarab/corda; .zst/.gz/.xz).
    /// Default: ../shared/traces/arc/OLTP.lis.zst beside the repo, if present.
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,

    /// Skip the trace replay.
    #[arg(long, conflicts_with = "trace")]
    pub no_trace: bool,

    /// Thread counts, comma-separated (default: 1, 2 and 2×cores; e.g.
    /// `1,2,4,8,16,32` to see how far each cache scales on a bigger machine).
    #[arg(long, value_name = "N,N,..")]
    pub threads: Option<String>,

    /// Measured time per cell in milliseconds (default 250; --quick 40).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub cell_ms: Option<u64>,

    /// Where compare.md and compare.svg go (default: <target dir>/ttlkit).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Only these workloads (comma-separated names as in the table, e.g.
    /// `zipf-1.1,trace`; a name matches by prefix).
    #[arg(long, value_name = "NAME,..")]
    pub workload: Option<String>,

    /// Only these rows (comma-separated backend names as in the table, e.g.
    /// `sharded,quick_cache-direct,foyer-direct`). A ratio column needs its anchor's row.
    #[arg(long, value_name = "NAME,..")]
    pub backend: Option<String>,

    /// Skip the expiry figures.
    #[arg(long)]
    pub no_expiry: bool,

    /// Passed by `cargo bench` to every bench binary; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

const AFTER_HELP: &str = "\
Run through cargo: `cargo bench --bench compare -- --quick` (flags go after `--`).
Every cache has capacity 100,000 over 1,000,000 keys; idle timeout 1 h (nothing
expires during the runs, but every hit pays for sliding expiry).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
}

/// Everything a run does, resolved from the flags.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub keys: u64,
    pub capacity: u64,
    pub stream_len: usize,
    pub warmup_ops: usize,
    pub cell: Duration,
    pub threads: Vec<usize>,
    pub policies: Vec<PolicyKind>,
    /// How the policies were chosen, for the output.
    pub policy_note: String,
    pub trace: Option<PathBuf>,
    /// Entries for the heap-bytes figure.
    pub mem_entries: u64,
    pub purge_reps: usize,
    /// How long one `purge_expired()` may take before it is abandoned.
    pub purge_limit: Duration,
    pub expiry: bool,
    /// Workload name prefixes to run (all when empty).
    pub workloads: Vec<String>,
    /// Row backend names to run (all when empty).
    pub backends: Vec<String>,
    pub out_dir: PathBuf,
    pub format: Format,
}

/// Every policy foyer ships has its twin here (w-tinylfu-v2 for its LFU),
/// and the candidate default, `w-tinylfu-auto`, is judged against `lru`.
pub const DEFAULT_POLICIES: &[PolicyKind] = &[
    PolicyKind::Fifo,
    PolicyKind::Lru,
    PolicyKind::Sieve,
    PolicyKind::S3Fifo,
    PolicyKind::WTinyLfuV2,
    PolicyKind::WTinyLfuAuto,
];

fn parse_threads(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: usize = part.parse().map_err(|_| format!("--threads: {part:?} is not a whole number"))?;
        if n == 0 || n > 1024 {
            return Err(format!("--threads: {n} is out of range 1..=1024"));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err("--threads: give at least one thread count".into());
    }
    Ok(out)
}

fn parse_policies(s: &str, quick: bool) -> Result<(Vec<PolicyKind>, String), String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "default" if quick => Ok((vec![PolicyKind::Lru], "lru only (--quick; --policy all for every policy)".into())),
        "default" => {
            let names: Vec<_> = DEFAULT_POLICIES.iter().map(|p| p.name()).collect();
            Ok((
                DEFAULT_POLICIES.to_vec(),
                format!("{} (default subset; --policy all for every policy)", names.join(", ")),
            ))
        }
        "all" => Ok((PolicyKind::ALL.to_vec(), "all".into())),
        list => {
            let mut out = Vec::new();
            for name in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let p = PolicyKind::from_name(name).map_err(|e| format!("--policy: {e}"))?;
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            if out.is_empty() {
                return Err("--policy: give `default`, `all` or policy names".into());
            }
            let names: Vec<_> = out.iter().map(|p| p.name()).collect();
            Ok((out, names.join(", ")))
        }
    }
}

fn list(s: Option<&str>) -> Vec<String> {
    s.map(|s| s.split(',').map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default()
}

/// The default trace, if it is where CI and the developers keep it.
fn default_trace() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/arc/OLTP.lis.zst");
    p.is_file().then_some(p)
}

/// `$CARGO_TARGET_DIR/ttlkit`, else `<repo>/target/ttlkit`.
fn default_out_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("ttlkit"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("ttlkit"),
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Plan {
    /// Whether `--backend` lets the rows named `backend` run.
    pub fn wants_backend(&self, backend: &str) -> bool {
        self.backends.is_empty() || self.backends.iter().any(|b| b == backend)
    }
}

impl Args {
    pub fn plan(self) -> Result<Plan, String> {
        let quick = self.quick;
        let threads = match &self.threads {
            Some(s) => parse_threads(s)?,
            None if quick => parse_threads(&format!("1,{}", 2 * cores()))?,
            None => parse_threads(&format!("1,2,{}", 2 * cores()))?,
        };
        let (policies, policy_note) = parse_policies(&self.policy, quick)?;
        let trace = match (self.no_trace, self.trace) {
            (true, _) => None,
            (false, Some(p)) => {
                if !p.is_file() {
                    return Err(format!("--trace: cannot read {}: no such file", p.display()));
                }
                Some(p)
            }
            (false, None) => default_trace(),
        };
        let cell = Duration::from_millis(self.cell_ms.unwrap_or(if quick { 40 } else { 250 }));
        Ok(Plan {
            quick,
            keys: 1_000_000,
            capacity: 100_000,
            stream_len: if quick { 1 << 20 } else { 1 << 22 },
            warmup_ops: if quick { 100_000 } else { 500_000 },
            cell,
            threads,
            policies,
            policy_note,
            trace,
            mem_entries: if quick { 250_000 } else { 1_000_000 },
            purge_reps: if quick { 1 } else { 3 },
            purge_limit: Duration::from_secs(if quick { 2 } else { 10 }),
            expiry: !self.no_expiry,
            workloads: list(self.workload.as_deref()),
            backends: list(self.backend.as_deref()),
            out_dir: self.out_dir.unwrap_or_else(default_out_dir),
            format: self.format,
        })
    }
}
