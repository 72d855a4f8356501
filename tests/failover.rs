//! Failover of a three-node cluster with replication factor 3 (tests/cluster/README.md,
//! "Failover"): the same property files as tests/cluster.rs, with topics of three replicas and
//! `min.insync.replicas=2`, start Apache Kafka 4.4 or Myelin, and the same scenarios run
//! against either, under continuous idempotent `acks=all` produce:
//!
//! 1. the leader of a partition is killed (SIGKILL): another replica leads, the producer goes
//!    on, nothing acknowledged is lost; the killed node restarts and rejoins every ISR;
//! 2. all three nodes restart one after the other (SIGTERM, exit, start, back in every ISR)
//!    while a consumer group consumes: nothing lost, nothing duplicated; the longest produce
//!    stall of each restart is printed;
//! 3. the broker that coordinates both a consumer group (with committed offsets) and an open
//!    transaction is killed: the group resumes from its offsets on the new coordinator, and
//!    the transaction commits or aborts as a whole;
//! 4. a partition's leader is cut off the network (its own network namespace, link down;
//!    SIGSTOP where namespaces are not available): another leader, the old one fenced, its
//!    unreplicated suffix truncated when it returns, all three replicas' logs identical;
//! 5. a topic config change (AlterConfigs) shows on every broker, and the log start a
//!    DeleteRecords moved is the new leader's earliest offset once the old one is killed.
//!
//! Every scenario starts its own cluster on the fixed addresses, so they run one at a time (a
//! lock), each under a watchdog. `MYELIN_CLUSTER_TARGET=kafka` runs them against Kafka
//! (`scripts/cluster-tests failover`), `myelin` (the default) against `target/debug/myelin`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
#[path = "cluster/harness.rs"]
mod harness;
#[path = "failover/load.rs"]
mod load;

use harness::{describe_quorum_at, find_coordinator_at, metadata_at, Cluster, Metadata, Options};
use harness::{Target, NODE_IDS};
use load::{check, idempotent, read_back, read_replica_log, Deliveries, GroupMember, ProduceRun};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Partitions of every failover topic: one led by each broker.
const PARTITIONS: i32 = 3;
/// Kafka's NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE: FindCoordinator answers to retry.
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// How long one scenario may run, cluster start and stop included, before the watchdog ends
/// the test process (Kafka's slowest scenario, the rolling restart, takes about 90 s here).
const WATCHDOG: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Scenario 1: SIGKILL the leader of partition 0 while a producer writes to every partition.
#[test]
fn kill_leader_under_produce() {
    let (_serial, _watchdog, mut c, _) = scenario("1: kill -9 a partition leader");
    let topic = "failover-kill";
    create_topic(&c, topic);
    let healthy = wait_full_isr(&c, &NODE_IDS, &[topic]);
    let before = healthy[&1].topic(topic).partitions[0].clone();
    let dead = before.leader;
    let survivors = others(dead);
    note(format!("partition 0 before: {before:?}"));

    let run = ProduceRun::start(
        idempotent(common::kafka::config(&c.bootstrap())),
        topic,
        &all_partitions(),
        "kill",
    );
    let t_start = Instant::now();
    for p in all_partitions() {
        run.wait_acks(p, t_start, 200, Duration::from_secs(30));
    }

    c.kill9(dead);
    let t_kill = Instant::now();
    note(format!("killed node {dead}, the leader of partition 0"));
    let elected = wait_md(&c, &survivors, &[topic], Duration::from_secs(40), |md| {
        let p = &md.topic(topic).partitions[0];
        survivors.contains(&p.leader) && p.leader_epoch > before.leader_epoch
    });
    let election = t_kill.elapsed();
    let after = elected[&survivors[0]].topic(topic).partitions[0].clone();
    note(format!(
        "new leader of partition 0 {election:?} after the kill: {after:?}"
    ));
    // Fenced: gone from the broker list and from every ISR (ISR = the survivors).
    let fenced = wait_md(&c, &survivors, &[topic], Duration::from_secs(40), |md| {
        md.broker_ids() == survivors
            && md.topic(topic).partitions.iter().all(|p| {
                sorted(&p.isr) == survivors && survivors.contains(&p.leader) && p.error == 0
            })
    });
    note(format!(
        "node {dead} fenced, ISR shrunk {:?} after the kill: {}",
        t_kill.elapsed(),
        show(&fenced[&survivors[0]], topic)
    ));
    // The producer goes on, on every partition.
    let t_fenced = Instant::now();
    for p in all_partitions() {
        run.wait_acks(p, t_fenced, 200, Duration::from_secs(60));
    }

    let t_restart = Instant::now();
    c.restart(dead);
    let back = wait_full_isr(&c, &NODE_IDS, &[topic]);
    let rejoin = t_restart.elapsed();
    note(format!(
        "node {dead} back in every ISR {rejoin:?} after its start: {}",
        show(&back[&dead], topic)
    ));
    let t_back = Instant::now();
    for p in all_partitions() {
        run.wait_acks(p, t_back, 100, Duration::from_secs(60));
    }
    let delivered = run.finish();
    let stall = delivered.longest_stall(Some(0), t_kill, t_fenced);
    let stall_all = max_stall(&delivered, t_kill, t_back);
    note(format!(
        "TIMING kill: election {election:?}, longest stall partition 0 {stall:?}, any \
         partition {stall_all:?}, rejoin {rejoin:?}"
    ));
    verify(&c, topic, &delivered, "kill");
}

/// Scenario 2: rolling restart of all three nodes under produce, a consumer group consuming.
#[test]
fn rolling_restart() {
    let (_serial, _watchdog, mut c, _) = scenario("2: rolling restart");
    let topic = "failover-rolling";
    let group = "failover-rolling-group";
    create_topic(&c, topic);
    wait_full_isr(&c, &NODE_IDS, &[topic]);
    let run = ProduceRun::start(
        idempotent(common::kafka::config(&c.bootstrap())),
        topic,
        &all_partitions(),
        "roll",
    );
    let member = GroupMember::start(common::kafka::config(&c.bootstrap()), topic, group);
    let t0 = Instant::now();
    wait_until(Duration::from_secs(60), "the group member consumes", || {
        member.count() >= 300
    });
    note(format!("group member consuming after {:?}", t0.elapsed()));
    // The group's coordinator partition must be fully replicated before the first restart.
    wait_full_isr(&c, &NODE_IDS, &[topic, "__consumer_offsets"]);

    let mut stalls = Vec::new();
    for id in NODE_IDS {
        c.sigterm(id);
        let t_term = Instant::now();
        let exited = c.wait_exit(id, Duration::from_secs(60));
        let (took, status) =
            exited.unwrap_or_else(|| panic!("node {id} still runs 60 s after SIGTERM"));
        note(format!(
            "node {id} exited {took:?} after SIGTERM ({status})"
        ));
        c.restart(id);
        let back = wait_full_isr(&c, &NODE_IDS, &[topic, "__consumer_offsets"]);
        let t_back = Instant::now();
        note(format!(
            "node {id} back in every ISR {:?} after SIGTERM: {}",
            t_term.elapsed(),
            show(&back[&id], topic)
        ));
        for p in all_partitions() {
            run.wait_acks(p, t_back, 100, Duration::from_secs(60));
        }
        let stall = max_stall(&run.snapshot(), t_term, Instant::now());
        note(format!(
            "TIMING restart of node {id}: longest produce stall {stall:?} (exit {took:?}, \
             back in ISR {:?})",
            t_back - t_term
        ));
        stalls.push((id, stall));
    }
    let delivered = run.finish();
    wait_until(
        Duration::from_secs(60),
        "the group member consumes everything acknowledged",
        || member.has_all(&delivered.acks),
    );
    let membership = member.finish();
    let consumed = &membership.consumed;
    let errors = &membership.errors;
    note(format!(
        "group member: {} records consumed, {} commits acknowledged; {} errors, first: {:?}",
        consumed.len(),
        membership.commits.len(),
        errors.len(),
        &errors[..errors.len().min(8)]
    ));
    note(format!("TIMING rolling restart stalls: {stalls:?}"));
    verify(&c, topic, &delivered, "roll");
    // What the member consumed is what was acknowledged at that offset.
    let acked: BTreeMap<(i32, i64), &str> = delivered
        .acks
        .iter()
        .map(|a| ((a.partition, a.offset), a.key.as_str()))
        .collect();
    let wrong: Vec<_> = consumed
        .iter()
        .filter(|r| {
            acked
                .get(&(r.partition, r.offset))
                .is_some_and(|k| *k != r.key)
        })
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "consumed other records than acknowledged: {wrong:?}"
    );
    // Each offset once per assignment; replays after a new assignment are at-least-once.
    let mut seen: BTreeMap<(i32, i64), Vec<u32>> = BTreeMap::new();
    for r in consumed {
        seen.entry((r.partition, r.offset))
            .or_default()
            .push(r.assignment);
    }
    let twice_in_one: Vec<_> = seen
        .iter()
        .filter(|(_, a)| a.iter().collect::<BTreeSet<_>>().len() < a.len())
        .take(10)
        .collect();
    assert!(
        twice_in_one.is_empty(),
        "consumed twice within one assignment: {twice_in_one:?}"
    );
    let replayed = seen.values().filter(|a| a.len() > 1).count();
    // A new assignment starts where the last acknowledged commit of the earlier ones left
    // off: earlier means replaying (at-least-once), acknowledged commits are never lost.
    let mut high: BTreeMap<i32, i64> = BTreeMap::new();
    let mut current = 0;
    for r in consumed {
        if r.assignment != current {
            current = r.assignment;
            let starts: BTreeMap<i32, i64> = consumed
                .iter()
                .filter(|x| x.assignment == current)
                .fold(BTreeMap::new(), |mut m, x| {
                    m.entry(x.partition).or_insert(x.offset);
                    m
                });
            let last_commit = membership
                .commits
                .iter()
                .rev()
                .find(|k| k.assignment < current && !k.positions.is_empty());
            note(format!(
                "assignment {current}: starts at {starts:?}; consumed up to {high:?} before; \
                 last acknowledged commit before {last_commit:?}"
            ));
            if let Some(k) = last_commit {
                for (p, start) in &starts {
                    if let Some(&committed) = k.positions.get(p) {
                        assert!(
                            *start >= committed,
                            "assignment {current} starts partition {p} at {start}, before the \
                             acknowledged commit of {committed}: a committed offset was lost"
                        );
                    }
                }
            }
        }
        let h = high.entry(r.partition).or_insert(r.offset);
        *h = (*h).max(r.offset);
    }
    let assignments = consumed.iter().map(|r| r.assignment).max().unwrap_or(0);
    note(format!(
        "consumer: {} distinct offsets, {replayed} replayed after a new assignment \
         (at-least-once), {assignments} assignments",
        seen.len()
    ));
}

/// Scenario 3: SIGKILL the broker that coordinates a group with committed offsets and an open
/// transaction.
#[test]
fn coordinator_failover() {
    let (_serial, _watchdog, mut c, _) = scenario("3: coordinator failover");
    let topic = "failover-txn";
    let group = "failover-txn-group";
    create_topic(&c, topic);
    wait_full_isr(&c, &NODE_IDS, &[topic]);
    let t_start = Instant::now();
    let run = ProduceRun::start(
        idempotent(common::kafka::config(&c.bootstrap())),
        topic,
        &all_partitions(),
        "plain",
    );
    for p in all_partitions() {
        run.wait_acks(p, t_start, 60, Duration::from_secs(30));
    }
    let plain = run.finish();
    // The group commits offset 25 on every partition.
    let committed = 25;
    commit_in_group(&c.bootstrap(), topic, group, committed);
    let coordinator = wait_coordinator(&c, &NODE_IDS, group, 0, None);
    wait_full_isr(&c, &NODE_IDS, &["__consumer_offsets"]);
    // A transactional id whose coordinator is the group's coordinator too.
    let txn_id = (0..64)
        .map(|i| format!("failover-txn-{i}"))
        .find(|id| wait_coordinator(&c, &NODE_IDS, id, 1, None) == coordinator)
        .expect("no transactional id of 64 lands on the group's coordinator");
    wait_full_isr(&c, &NODE_IDS, &["__transaction_state"]);
    note(format!(
        "node {coordinator} coordinates group {group} and transactional id {txn_id}"
    ));

    let producer: BaseProducer = idempotent(common::kafka::config(&c.bootstrap()))
        .set("transactional.id", &txn_id)
        .set("transaction.timeout.ms", "120000")
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    producer.begin_transaction().unwrap();
    let per_partition = 20;
    for p in all_partitions() {
        for i in 0..per_partition {
            let key = format!("txn-{p}-{i}");
            producer
                .send(BaseRecord::to(topic).partition(p).key(&key).payload(&key))
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(
        wait_coordinator(&c, &NODE_IDS, &txn_id, 1, None),
        coordinator,
        "the transaction coordinator moved before the kill"
    );
    note(format!(
        "transaction open with {} records on {PARTITIONS} partitions; killing node {coordinator}",
        per_partition * PARTITIONS
    ));

    c.kill9(coordinator);
    let t_kill = Instant::now();
    let survivors = others(coordinator);
    let outcome = finish_transaction(&producer);
    let t_done = t_kill.elapsed();
    let group_to = wait_coordinator(&c, &survivors, group, 0, Some(coordinator));
    let txn_to = wait_coordinator(&c, &survivors, &txn_id, 1, Some(coordinator));
    note(format!(
        "TIMING coordinator: transaction {outcome:?} {t_done:?} after the kill; group \
         coordinator now {group_to}, transaction coordinator now {txn_to}"
    ));
    drop(producer);

    // The group resumes from its committed offsets on the new coordinator.
    let survivors_bs = bootstrap_of(&c, &survivors);
    let resumed = resume_in_group(&survivors_bs, topic, group);
    note(format!(
        "group resumed at (first offset, committed offset from the coordinator): {resumed:?}"
    ));
    let first: BTreeMap<i32, i64> = resumed.iter().map(|(p, (o, _))| (*p, *o)).collect();
    let want: BTreeMap<i32, i64> = all_partitions()
        .into_iter()
        .map(|p| (p, committed))
        .collect();
    assert_eq!(
        first, want,
        "the group did not resume at its committed offsets on the new coordinator"
    );

    // All or nothing: a read_committed consumer reads to a record written after the
    // transaction ended (it is visible only once the transaction is decided).
    let sentinels = ProduceRun::start(
        idempotent(common::kafka::config(&survivors_bs)),
        topic,
        &all_partitions(),
        "sentinel",
    );
    for p in all_partitions() {
        sentinels.wait_acks(p, t_kill, 1, Duration::from_secs(60));
    }
    let sentinels = sentinels.finish();
    let seen = read_committed_until(&survivors_bs, topic, &sentinels);
    let txn_seen: Vec<&String> = seen.iter().filter(|k| k.starts_with("txn-")).collect();
    note(format!(
        "read_committed sees {} of {} transactional records",
        txn_seen.len(),
        per_partition * PARTITIONS
    ));
    match outcome {
        TxnOutcome::Committed => assert_eq!(
            txn_seen.len(),
            (per_partition * PARTITIONS) as usize,
            "committed, yet read_committed misses records"
        ),
        TxnOutcome::Aborted => assert!(txn_seen.is_empty(), "aborted, yet visible: {txn_seen:?}"),
    }
    let distinct: BTreeSet<&String> = txn_seen.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        txn_seen.len(),
        "transactional records twice"
    );
    // What was acknowledged before the kill is all there.
    verify(&c, topic, &plain, "plain");
}

/// Scenario 4: cut the leader of a partition off the network while producers write.
#[test]
fn isolated_leader() {
    let (_serial, _watchdog, mut c, netns) = scenario("4: isolate a partition leader");
    if !netns {
        note("network namespaces are not available here: SIGSTOP stands in for the cut");
    }
    let topic = "failover-isolated";
    create_topic(&c, topic);
    let healthy = wait_full_isr(&c, &NODE_IDS, &[topic]);
    // A partition led by a node that is not the quorum leader: the data path fails over, the
    // metadata quorum keeps its leader (tests/cluster.rs kills the quorum leader).
    let quorum = describe_quorum_at(&c.addr(1)).unwrap();
    let md = &healthy[&1];
    let part = md
        .topic(topic)
        .partitions
        .iter()
        .find(|p| p.leader != quorum.leader)
        .unwrap()
        .clone();
    let (p, old) = (part.partition, part.leader);
    let survivors = others(old);
    note(format!(
        "quorum leader {}; isolating node {old}, leader of partition {p}: {part:?}",
        quorum.leader
    ));
    let run = ProduceRun::start(
        idempotent(common::kafka::config(&c.bootstrap())),
        topic,
        &all_partitions(),
        "iso",
    );
    run.wait_acks(p, Instant::now(), 200, Duration::from_secs(30));

    if netns {
        c.cut_link(old);
    } else {
        c.sigstop(old);
    }
    let t_cut = Instant::now();
    // On the isolated side, a producer with acks=1 keeps writing to the old leader: what it
    // gets acknowledged there is the unreplicated suffix that must go when it returns.
    let side = netns.then(|| {
        let mut config = common::kafka::config(&c.addr(old));
        config
            .set("acks", "1")
            .set("enable.idempotence", "false")
            .set("message.timeout.ms", "20000");
        ProduceRun::start_on(|f| c.on_node_side(old, f), config, topic, &[p], "suffix")
    });
    let elected = wait_md(&c, &survivors, &[topic], Duration::from_secs(40), |md| {
        let q = &md.topic(topic).partitions[p as usize];
        md.broker_ids() == survivors
            && survivors.contains(&q.leader)
            && q.leader_epoch > part.leader_epoch
            && sorted(&q.isr) == survivors
    });
    let election = t_cut.elapsed();
    note(format!(
        "node {old} fenced, partition {p} led by a survivor {election:?} after the cut: {}",
        show(&elected[&survivors[0]], topic)
    ));
    let t_elected = Instant::now();
    run.wait_acks(p, t_elected, 200, Duration::from_secs(60));
    let side = side.map(ProduceRun::finish);
    if let Some(s) = &side {
        // Kafka 4.4 keeps leading in its own view while cut off, and acknowledges acks=1.
        assert!(
            !s.acks.is_empty(),
            "the isolated leader acknowledged no acks=1 record: no suffix to truncate"
        );
        note(format!(
            "the isolated leader acknowledged {} records with acks=1 (offsets {:?}..{:?}); {} \
             failed",
            s.acks.len(),
            s.acks.iter().map(|a| a.offset).min(),
            s.acks.iter().map(|a| a.offset).max(),
            s.failed.len()
        ));
    }

    if netns {
        c.heal_link(old);
    } else {
        c.sigcont(old);
    }
    let t_heal = Instant::now();
    let back = wait_full_isr(&c, &NODE_IDS, &[topic]);
    let rejoin = t_heal.elapsed();
    note(format!(
        "node {old} back in every ISR {rejoin:?} after the heal: {}",
        show(&back[&old], topic)
    ));
    let t_back = Instant::now();
    for q in all_partitions() {
        run.wait_acks(q, t_back, 100, Duration::from_secs(60));
    }
    let delivered = run.finish();
    let stall = delivered.longest_stall(Some(p), t_cut, t_back);
    note(format!(
        "TIMING isolation: new leader {election:?} after the cut, longest stall partition {p} \
         {stall:?}, rejoin {rejoin:?} after the heal"
    ));
    let read = verify(&c, topic, &delivered, "iso");
    // The old leader's suffix is gone: no record the isolated side wrote survives.
    let suffix_left: Vec<_> = read
        .values()
        .flat_map(|r| r.values())
        .filter(|(k, _)| k.starts_with("suffix-"))
        .take(10)
        .collect();
    assert!(
        suffix_left.is_empty(),
        "the isolated leader's unreplicated records survived: {suffix_left:?}"
    );

    // Every replica holds the same log: the nodes stop, and each one's log files are read.
    let committed_end = read[&p].keys().next_back().map_or(0, |o| o + 1);
    for (id, exited) in c.stop_all(Duration::from_secs(30)) {
        note(format!("node {id} stop: {exited:?}"));
    }
    let mut logs = BTreeMap::new();
    for id in NODE_IDS {
        let (records, notes) = read_replica_log(&c.data_dir(id), topic, p);
        note(format!(
            "node {id}: {} records of partition {p} on disk, epochs {:?}; {notes:?}",
            records.len(),
            records
                .iter()
                .map(|r| r.leader_epoch)
                .collect::<BTreeSet<_>>()
        ));
        logs.insert(id, records);
    }
    let reference = &logs[&survivors[0]];
    for (id, records) in &logs {
        assert!(
            records.len() as i64 >= committed_end,
            "node {id}: {} records on disk, {committed_end} committed",
            records.len()
        );
        let n = committed_end as usize;
        if let Some(i) = (0..n).find(|&i| records[i] != reference[i]) {
            panic!(
                "node {id} diverges from node {} at offset {}: {:?} vs {:?}",
                survivors[0], i, records[i], reference[i]
            );
        }
        assert!(
            records.iter().all(|r| !r.key.starts_with("suffix-")),
            "node {id} still holds the isolated leader's suffix"
        );
    }
    note(format!(
        "the committed prefix ({committed_end} records) is identical on all three replicas"
    ));
}

/// Scenario 5: a topic config change reaches every broker's DescribeConfigs, and a
/// DeleteRecords' new log start reaches the followers: once the leader is killed, the new
/// leader answers ListOffsets earliest with it.
#[test]
fn admin_changes_reach_every_replica() {
    let (_serial, _watchdog, mut c, _) = scenario("5: config change and DeleteRecords");
    let topic = "failover-admin";
    create_topic(&c, topic);
    let healthy = wait_full_isr(&c, &NODE_IDS, &[topic]);
    let leader = healthy[&1].topic(topic).partitions[0].leader;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = common::kafka::admin(&c.bootstrap());
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(20)));
    let change = rdkafka::admin::AlterConfig::new(rdkafka::admin::ResourceSpecifier::Topic(topic))
        .set("min.insync.replicas", "2")
        .set("retention.ms", "7654321");
    let r = rt.block_on(admin.alter_configs(&[change], &opts)).unwrap();
    r[0].as_ref().unwrap();
    for id in NODE_IDS {
        wait_until(
            Duration::from_secs(20),
            "the config on every broker",
            || {
                topic_config_at(&c.addr(id), topic, "retention.ms")
                    == Some(("7654321".to_string(), DYNAMIC_TOPIC_CONFIG))
            },
        );
    }
    note("retention.ms=7654321 is a dynamic topic config on every broker");

    let producer: BaseProducer = common::kafka::config(&c.bootstrap())
        .set("acks", "all")
        .create()
        .unwrap();
    for i in 0..100 {
        let v = format!("r{i}");
        producer
            .send(BaseRecord::<(), _>::to(topic).partition(0).payload(&v))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(30))
        .unwrap();
    let done = rt.block_on(admin.delete_records(&tpl, &opts)).unwrap();
    let e = done.find_partition(topic, 0).unwrap();
    assert_eq!(e.error(), Ok(()));
    assert_eq!(e.offset(), Offset::Offset(30));
    note("records below 30 of partition 0 deleted");
    drop(admin);
    // The answer waited for the in-sync followers' logs to start there: the leader may go
    // at once.
    c.kill9(leader);
    let survivors = others(leader);
    wait_md(&c, &survivors, &[topic], Duration::from_secs(40), |md| {
        survivors.contains(&md.topic(topic).partitions[0].leader)
    });
    let consumer: BaseConsumer = common::kafka::config(&bootstrap_of(&c, &survivors))
        .set("group.id", "admin-check")
        .create()
        .unwrap();
    let mut earliest = -1;
    wait_until(
        Duration::from_secs(30),
        "earliest offset on the new leader",
        || {
            earliest = consumer
                .fetch_watermarks(topic, 0, Duration::from_secs(5))
                .map_or(-1, |(low, _)| low);
            earliest == 30
        },
    );
    note(format!("the new leader's earliest offset is {earliest}"));
    c.restart(leader);
    wait_full_isr(&c, &NODE_IDS, &[topic]);
}

/// Kafka's config source of a topic override.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;

/// One topic config as the broker at `at` describes it: (value, source).
fn topic_config_at(at: &str, topic: &str, name: &str) -> Option<(String, i8)> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
    use kafka_protocol::protocol::StrBytes;
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(Some(vec![StrBytes::from_string(name.to_string())]))]);
    let resp: DescribeConfigsResponse =
        harness::request_at(at, ApiKey::DescribeConfigs, 4, &req, Duration::from_secs(5)).ok()?;
    let c = resp.results.first()?.configs.first()?;
    Some((c.value.as_ref()?.to_string(), c.config_source))
}

// ---------------------------------------------------------------------------------------------
// Scenario plumbing

/// Scenarios run one at a time: the addresses are fixed.
static SERIAL: Mutex<()> = Mutex::new(());

/// The property overrides: replication factor 3 for every topic, the internal ones included,
/// and `min.insync.replicas=2`.
fn options(netns: bool) -> Options {
    Options {
        overrides: vec![
            ("default.replication.factor", "3".into()),
            ("min.insync.replicas", "2".into()),
            ("offsets.topic.replication.factor", "3".into()),
            ("transaction.state.log.replication.factor", "3".into()),
            ("transaction.state.log.min.isr", "2".into()),
        ],
        netns,
    }
}

/// Ends the test process if the scenario outlives [`WATCHDOG`] (the nodes die with it,
/// through `PR_SET_PDEATHSIG`); dropping it disarms it.
struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

fn watchdog(name: &str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let name = name.to_string();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG) {
            eprintln!("[failover] watchdog: {name} runs longer than {WATCHDOG:?}; exiting");
            std::process::exit(101);
        }
    });
    Watchdog(tx)
}

/// Takes the lock, arms the watchdog and starts a cluster: in network namespaces where the
/// machine allows them (root), which also keeps these tests off the loopback addresses that
/// tests/cluster.rs and scripts/dev-cluster use; on 127.0.0.11–13 otherwise.
fn scenario(name: &str) -> (MutexGuard<'static, ()>, Watchdog, Cluster, bool) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dog = watchdog(name);
    let target = Target::from_env();
    let netns = harness::netns_available();
    eprintln!(
        "[failover] === {name} against {target:?} ({})",
        if netns {
            "one network namespace per node"
        } else {
            "on loopback: no network namespaces here"
        }
    );
    let cluster = Cluster::start_with(target, &options(netns));
    (serial, dog, cluster, netns)
}

fn note(msg: impl AsRef<str>) {
    eprintln!("[failover]   {}", msg.as_ref());
}

fn all_partitions() -> Vec<i32> {
    (0..PARTITIONS).collect()
}

fn others(id: i32) -> Vec<i32> {
    NODE_IDS.iter().copied().filter(|&n| n != id).collect()
}

fn sorted(ids: &[i32]) -> Vec<i32> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

fn bootstrap_of(c: &Cluster, ids: &[i32]) -> String {
    ids.iter()
        .map(|&id| c.addr(id))
        .collect::<Vec<_>>()
        .join(",")
}

fn wait_until(timeout: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The longest stall of acknowledgements on any partition within `from..to`.
fn max_stall(d: &Deliveries, from: Instant, to: Instant) -> Duration {
    all_partitions()
        .into_iter()
        .map(|p| d.longest_stall(Some(p), from, to))
        .max()
        .unwrap_or_default()
}

/// Creates `topic` (3 partitions, 3 replicas, `min.insync.replicas=2`) through librdkafka.
fn create_topic(c: &Cluster, topic: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = common::kafka::admin(&c.bootstrap());
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(20)))
        .request_timeout(Some(Duration::from_secs(20)));
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    let res = rt
        .block_on(admin.create_topics(&[new], &opts))
        .unwrap_or_else(|e| panic!("create {topic}: {e}"));
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
}

/// Polls Metadata for `topics` from every node in `ask` until `ready` holds for all.
fn wait_md(
    c: &Cluster,
    ask: &[i32],
    topics: &[&str],
    timeout: Duration,
    ready: impl Fn(&Metadata) -> bool,
) -> BTreeMap<i32, Metadata> {
    let t0 = Instant::now();
    loop {
        let mut got = BTreeMap::new();
        let mut all = true;
        for &id in ask {
            match metadata_at(&c.addr(id), topics) {
                Ok(md) => {
                    all &= topics.iter().all(|t| md.topics.contains_key(*t)) && ready(&md);
                    got.insert(id, Ok(md));
                }
                Err(e) => {
                    all = false;
                    got.insert(id, Err(e.to_string()));
                }
            }
        }
        if all {
            return got.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        }
        assert!(
            t0.elapsed() < timeout,
            "Metadata from {ask:?} not as expected after {timeout:?}: {}\n{}",
            got.iter()
                .map(|(id, md)| match md {
                    Ok(md) => topics
                        .iter()
                        .map(|t| format!("node {id}: {}", show(md, t)))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    Err(e) => format!("node {id}: {e}"),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            c.log_tails(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every node in `ask` lists all three brokers and shows every partition of
/// `topics` led, error 0, ISR = replicas = all three.
fn wait_full_isr(c: &Cluster, ask: &[i32], topics: &[&str]) -> BTreeMap<i32, Metadata> {
    wait_md(c, ask, topics, Duration::from_secs(60), |md| {
        md.broker_ids() == NODE_IDS
            && topics.iter().all(|t| {
                let t = md.topic(t);
                t.error == 0
                    && !t.partitions.is_empty()
                    && t.partitions.iter().all(|p| {
                        p.error == 0
                            && p.leader >= 0
                            && sorted(&p.replicas) == NODE_IDS
                            && sorted(&p.isr) == NODE_IDS
                    })
            })
    })
}

/// One line per partition: leader, epoch, replicas, ISR, error.
fn show(md: &Metadata, topic: &str) -> String {
    let mut s = format!("brokers {:?}; {topic}:", md.broker_ids());
    match md.topics.get(topic) {
        None => s.push_str(" absent"),
        Some(t) => {
            for p in t.partitions.iter().take(6) {
                s.push_str(&format!(
                    " [p{} leader {} epoch {} isr {:?} error {}]",
                    p.partition, p.leader, p.leader_epoch, p.isr, p.error
                ));
            }
            if t.partitions.len() > 6 {
                s.push_str(&format!(" … {} partitions", t.partitions.len()));
            }
        }
    }
    s
}

/// Reads `topic` back from the cluster and holds it against `delivered`: nothing
/// acknowledged lost, no key twice, no delivery failed. Returns what was read.
fn verify(
    c: &Cluster,
    topic: &str,
    delivered: &Deliveries,
    tag: &str,
) -> BTreeMap<i32, load::Records> {
    let read = read_back(
        common::kafka::config(&c.bootstrap()),
        topic,
        &all_partitions(),
        Duration::from_secs(60),
    );
    let verdict = check(delivered, &read, tag);
    note(format!("checker ({tag}): {}", verdict.summary()));
    verdict.assert_clean(topic);
    assert!(
        delivered.failed.is_empty(),
        "{} deliveries failed (first 5): {:?}",
        delivered.failed.len(),
        &delivered.failed[..delivered.failed.len().min(5)]
    );
    read
}

// ---------------------------------------------------------------------------------------------
// Coordinators

/// FindCoordinator for `key` from the nodes in `ask` until one answers with a coordinator
/// (other than `not`, when given) and all that answer agree.
fn wait_coordinator(c: &Cluster, ask: &[i32], key: &str, key_type: i8, not: Option<i32>) -> i32 {
    let t0 = Instant::now();
    let timeout = Duration::from_secs(60);
    loop {
        let answers: Vec<_> = ask
            .iter()
            .map(|&id| find_coordinator_at(&c.addr(id), key, key_type))
            .collect();
        let nodes: BTreeSet<i32> = answers
            .iter()
            .filter_map(|a| a.as_ref().ok())
            .filter(|(e, _)| *e == 0)
            .map(|(_, n)| *n)
            .collect();
        let oks = answers
            .iter()
            .filter(|a| a.as_ref().is_ok_and(|(e, _)| *e == 0))
            .count();
        if oks == ask.len() && nodes.len() == 1 {
            let n = *nodes.first().unwrap();
            if Some(n) != not {
                return n;
            }
        }
        for a in answers.iter().flatten() {
            assert!(
                [0, COORDINATOR_NOT_AVAILABLE].contains(&a.0),
                "FindCoordinator {key}: error {}",
                a.0
            );
        }
        assert!(
            t0.elapsed() < timeout,
            "no coordinator for {key} (type {key_type}) within {timeout:?}: {answers:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Joins `group`, consumes a little, commits `offset` on every partition and leaves.
fn commit_in_group(bootstrap: &str, topic: &str, group: &str, offset: i64) {
    let consumer: BaseConsumer = common::kafka::config(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the group assigns partitions",
        || {
            let _ = consumer.poll(Duration::from_millis(100));
            consumer
                .assignment()
                .is_ok_and(|a| a.count() == PARTITIONS as usize)
        },
    );
    let mut tpl = TopicPartitionList::new();
    for p in all_partitions() {
        tpl.add_partition_offset(topic, p, Offset::Offset(offset))
            .unwrap();
    }
    consumer
        .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    let back = consumer.committed(Duration::from_secs(10)).unwrap();
    for p in all_partitions() {
        assert_eq!(
            back.find_partition(topic, p).map(|e| e.offset()),
            Some(Offset::Offset(offset)),
            "committed offsets read back"
        );
    }
    consumer.unsubscribe();
}

/// Joins `group` again and returns, per partition, the first offset it consumes and the
/// committed offset the coordinator gives it. Without a committed offset it starts at the
/// beginning, so a lost commit shows as offset 0, not as a silent wait.
fn resume_in_group(bootstrap: &str, topic: &str, group: &str) -> BTreeMap<i32, (i64, String)> {
    let consumer: BaseConsumer = common::kafka::config(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut first = BTreeMap::new();
    let t0 = Instant::now();
    while first.len() < PARTITIONS as usize {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "group {group} resumed only on {first:?} within 60 s"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            match m {
                Ok(m) => {
                    first.entry(m.partition()).or_insert(m.offset());
                }
                Err(e) => note(format!("group {group}: {e}")),
            }
        }
    }
    let committed = consumer.committed(Duration::from_secs(10)).unwrap();
    first
        .into_iter()
        .map(|(p, o)| {
            let c = committed.find_partition(topic, p).map(|e| e.offset());
            (p, (o, format!("{c:?}")))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnOutcome {
    Committed,
    Aborted,
}

/// Commits the open transaction, retrying what librdkafka calls retriable and aborting when
/// it says the transaction must abort.
fn finish_transaction(producer: &BaseProducer) -> TxnOutcome {
    let t0 = Instant::now();
    let deadline = Duration::from_secs(90);
    loop {
        match producer.commit_transaction(Duration::from_secs(30)) {
            Ok(()) => return TxnOutcome::Committed,
            Err(rdkafka::error::KafkaError::Transaction(e)) if e.txn_requires_abort() => {
                note(format!(
                    "commit {:?} after the kill: {e}; aborting",
                    t0.elapsed()
                ));
                loop {
                    match producer.abort_transaction(Duration::from_secs(30)) {
                        Ok(()) => return TxnOutcome::Aborted,
                        Err(rdkafka::error::KafkaError::Transaction(e))
                            if e.is_retriable() && t0.elapsed() < deadline =>
                        {
                            note(format!("abort: {e}; retrying"))
                        }
                        Err(e) => panic!("abort after the coordinator's death: {e}"),
                    }
                }
            }
            Err(rdkafka::error::KafkaError::Transaction(e))
                if e.is_retriable() && t0.elapsed() < deadline =>
            {
                note(format!(
                    "commit {:?} after the kill: {e}; retrying",
                    t0.elapsed()
                ))
            }
            Err(e) => panic!("commit after the coordinator's death: {e}"),
        }
    }
}

/// Reads `topic` with isolation.level=read_committed from the beginning until every record in
/// `sentinels` has been seen; returns the keys read.
fn read_committed_until(bootstrap: &str, topic: &str, sentinels: &Deliveries) -> Vec<String> {
    let consumer: BaseConsumer = common::kafka::config(bootstrap)
        .set("group.id", "failover-read-committed")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in all_partitions() {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut want: BTreeSet<String> = sentinels.acks.iter().map(|a| a.key.clone()).collect();
    let mut keys = Vec::new();
    let t0 = Instant::now();
    while !want.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "read_committed: {} records read, {} written after the transaction not visible \
             within 60 s (is the transaction still open?)",
            keys.len(),
            want.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap_or_else(|e| panic!("read_committed: {e}"));
            let k = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            want.remove(&k);
            keys.push(k);
        }
    }
    keys
}
