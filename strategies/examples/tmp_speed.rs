//! temp
use ttlkit_strategies::sim::Run;
use ttlkit_strategies::trace::TraceReader;
use ttlkit_strategies::PolicyKind;
fn main() {
    let keys: Vec<u64> = TraceReader::open("../shared/traces/arc/OLTP.lis.zst", None).unwrap().collect::<Result<_,_>>().unwrap();
    let size: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let kind = PolicyKind::from_name(&std::env::args().nth(2).unwrap()).unwrap();
    for _ in 0..5 {
        let mut run = Run::new(kind, size);
        for &k in &keys { run.access(k).unwrap(); }
        eprintln!("{:?}", run.counts());
    }
}
