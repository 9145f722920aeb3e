//! Per-request hits of w-tinylfu on a trace (a tuning aid; prints 0/1 per request).
use ttlkit_strategies::sim::Run;
use ttlkit_strategies::trace::TraceReader;
use ttlkit_strategies::{PolicyKind, WTinyLfu, WTinyLfuConfig};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: Vec<u64> = TraceReader::open(&args[1], None).and_then(|r| r.collect::<Result<_, _>>()).expect("trace");
    let size: usize = args[2].parse().expect("size");
    let mut run = if args[3] == "exp" {
        let mut c = WTinyLfuConfig::default();
        c.mini_shares = &[];
        c.stale_age = args[4].parse().expect("stale");
        c.victim_scan = args[5].parse().expect("scan");
        Run::with_policy(Box::new(WTinyLfu::with_config(size, c)), size)
    } else {
        Run::new(PolicyKind::from_name(&args[3]).expect("policy"), size)
    };
    for &k in &keys {
        let h = run.access(k).expect("protocol");
        println!("{}", u8::from(h));
    }
}
