//! A cluster of the test's own (three masters, a replica of the first),
//! changed under a running writer and readers: one slot migrated to another
//! master, then the first master killed and replaced by its replica. The
//! caches report errors, serve nothing stale and recover on their own. Runs
//! in the cluster run (`REDIS_CLUSTER_URLS`).

use std::time::Duration;

use ttlkit::{CacheBuilder, InvalidationMode, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

use crate::common::{prefix, wait_for};
use crate::need_redis;
use crate::spawn::{Cluster, Proc};
use crate::staleness::Race;

const WAIT: Duration = Duration::from_secs(30);

fn id(node: &Proc) -> String {
    redis::cmd("CLUSTER").arg("MYID").query(&mut node.connection()).unwrap()
}

/// The node that serves `slot`, by `CLUSTER SLOTS` as `asked` sees it.
fn owner(asked: &Proc, slot: i64) -> u16 {
    let ranges: Vec<(i64, i64, (String, u16))> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query::<Vec<redis::Value>>(&mut asked.connection())
        .unwrap()
        .into_iter()
        .map(|range| {
            let redis::Value::Array(parts) = range else { panic!("CLUSTER SLOTS: {range:?}") };
            let node = match &parts[2] {
                redis::Value::Array(n) => {
                    (redis::from_redis_value(n[0].clone()).unwrap(), redis::from_redis_value(n[1].clone()).unwrap())
                }
                other => panic!("CLUSTER SLOTS node: {other:?}"),
            };
            (
                redis::from_redis_value(parts[0].clone()).unwrap(),
                redis::from_redis_value(parts[1].clone()).unwrap(),
                node,
            )
        })
        .collect();
    ranges.into_iter().find(|(a, b, _)| (*a..=*b).contains(&slot)).map(|(_, _, (_, port))| port).unwrap()
}

/// Moves `slot` from its master to another master, key by key
/// (`SETSLOT IMPORTING/MIGRATING`, `MIGRATE`, `SETSLOT NODE`), as
/// `redis-cli --cluster reshard` does.
fn migrate(cluster: &Cluster, slot: i64) {
    let masters = &cluster.nodes[..3];
    let from = masters.iter().find(|n| n.port == owner(&masters[0], slot)).unwrap();
    let to = masters.iter().find(|n| n.port != from.port).unwrap();
    let (from_id, to_id) = (id(from), id(to));
    let setslot = |node: &Proc, how: &str, whose: &str| {
        redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg(how).arg(whose).query::<()>(&mut node.connection()).unwrap();
    };
    setslot(to, "IMPORTING", &from_id);
    setslot(from, "MIGRATING", &to_id);
    loop {
        let keys: Vec<String> =
            redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(100).query(&mut from.connection()).unwrap();
        if keys.is_empty() {
            break;
        }
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(to.port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query::<()>(&mut from.connection())
            .unwrap();
    }
    for node in masters {
        setslot(node, "NODE", &to_id);
    }
    eprintln!("slot {slot} moved from :{} to :{}", from.port, to.port);
}

#[test]
fn slot_migration_and_failover_mid_run() {
    let server = need_redis!("slot_migration_and_failover_mid_run");
    if !server.is_cluster() {
        eprintln!("note: slot_migration_and_failover_mid_run runs in the cluster run (REDIS_CLUSTER_URLS): skipped");
        return;
    }
    let Some(mut cluster) = Cluster::start(3) else { return };
    let opts = RedisOptions::cluster(cluster.seeds())
        .prefix(prefix("cluster-faults"))
        .connect_timeout(Duration::from_millis(50));
    let writer: RedisCache<u64, u64> =
        opts.clone().build(CacheBuilder::new().time_to_idle(Duration::from_secs(60))).unwrap();
    let l2 = opts.build(CacheBuilder::new().time_to_idle(Duration::from_secs(60))).unwrap();
    let reader: TieredCache<u64, u64> =
        TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(30)), l2).unwrap();
    wait_for("live invalidation", WAIT, || reader.is_live());
    let stats = reader.invalidation_stats();
    assert_eq!((stats.mode, stats.connections), (Some(InvalidationMode::Tracking), 3), "{stats:?}");

    let race = Race::start(writer.clone(), reader.clone());
    race.wait_writes(50, WAIT);
    let name = writer.redis_key(&0u64);
    let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&name).query(&mut cluster.nodes[1].connection()).unwrap();
    migrate(&cluster, slot);
    race.wait_writes(50, WAIT);

    // No acknowledged write may be lost with the master (replication is
    // asynchronous), or a correct cache would read an older value.
    race.pause_writes();
    cluster.replica_caught_up();
    let established = reader.invalidation_stats().established;
    cluster.nodes[0].kill();
    race.resume_writes();
    wait_for("the replica to take over", WAIT, || cluster.settled());
    race.wait_writes(50, WAIT);
    wait_for("tracking on the new master", WAIT, || {
        let s = reader.invalidation_stats();
        s.is_live() && s.connections == 3 && s.established > established
    });
    race.wait_writes(50, WAIT);
    let seen = race.finish();
    eprintln!(
        "cluster faults: {seen:?}; reader errors {} (last {:?}); {:?}",
        reader.l2().errors(),
        reader.l2().last_error(),
        reader.invalidation_stats()
    );
    assert!(seen.failed_writes > 0, "the failover made writes fail for a while");
    assert!(reader.l2().errors() > 0, "and reads, counted");
    writer.try_insert(0, 0).unwrap();
    wait_for("the reader to see a write after recovery", WAIT, || reader.get(&0) == Some(0));
}
