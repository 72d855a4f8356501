//! Consumer groups with librdkafka against the real broker: shares, takeover, resume,
//! independent groups, offsets across a broker restart, eviction of a silent member, and
//! cooperative-sticky rebalancing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;

fn broker() -> Broker {
    Broker::start(&[
        "--shards",
        "2",
        "--group-initial-rebalance-delay-ms",
        "0",
        "--group-min-session-timeout-ms",
        "1000",
    ])
}

fn produce(bs: &str, topic: &str, from: usize, n: usize) {
    let p: ThreadedProducer<_> = kafka::config(bs)
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for i in from..from + n {
        let key = format!("k{}", i % 31);
        let value = format!("m{i}");
        p.send(BaseRecord::to(topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

fn group_consumer(bs: &str, group: &str, topic: &str, strategy: &str) -> BaseConsumer {
    let c: BaseConsumer = kafka::config(bs)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .set("partition.assignment.strategy", strategy)
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// Polls until `want` messages in total arrived or the time is up; returns values per
/// consumer (all consumers are polled round-robin from this thread).
fn drain(consumers: &[&BaseConsumer], want: usize, limit: Duration) -> Vec<Vec<String>> {
    let mut got: Vec<Vec<String>> = vec![Vec::new(); consumers.len()];
    let deadline = Instant::now() + limit;
    while got.iter().map(Vec::len).sum::<usize>() < want && Instant::now() < deadline {
        for (i, c) in consumers.iter().enumerate() {
            if let Some(m) = c.poll(Duration::from_millis(20)) {
                let m = m.expect("consume error");
                got[i].push(m.payload_view::<str>().unwrap().unwrap().to_string());
            }
        }
    }
    got
}

/// Polls every consumer until `until` holds, so rebalances can complete; returns the
/// values consumed meanwhile.
fn settle(consumers: &[&BaseConsumer], until: impl Fn() -> bool, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while !until() && Instant::now() < deadline {
        for c in consumers {
            if let Some(m) = c.poll(Duration::from_millis(20)) {
                let m = m.expect("consume error");
                seen.push(m.payload_view::<str>().unwrap().unwrap().to_string());
            }
        }
    }
    seen
}

fn assigned(c: &BaseConsumer) -> HashSet<i32> {
    c.assignment()
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_then_one_takes_over_and_offsets_survive() {
    let mut b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "orders", PARTITIONS).await;
    produce(&bs, "orders", 0, 600);

    let a = group_consumer(&bs, "billing", "orders", "range");
    let c = group_consumer(&bs, "billing", "orders", "range");
    let both = || {
        let (x, y) = (assigned(&a), assigned(&c));
        x.len() + y.len() == PARTITIONS as usize && !x.is_empty() && !y.is_empty()
    };
    let early = settle(&[&a, &c], both, Duration::from_secs(30));
    let (sa, sc) = (assigned(&a), assigned(&c));
    assert!(
        !sa.is_empty() && !sc.is_empty(),
        "both members get a share: {sa:?} {sc:?}"
    );
    assert!(sa.is_disjoint(&sc), "shares overlap: {sa:?} {sc:?}");
    assert_eq!(sa.len() + sc.len(), PARTITIONS as usize);

    // Partitions that moved while nothing was committed yet are read again: at least once.
    let mut all: HashSet<String> = early.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while all.len() < 600 && Instant::now() < deadline {
        let got = drain(&[&a, &c], 1, Duration::from_millis(200));
        all.extend(got.into_iter().flatten());
    }
    assert_eq!(all.len(), 600, "together they see every message");
    a.commit_consumer_state(CommitMode::Sync).unwrap();
    c.commit_consumer_state(CommitMode::Sync).unwrap();

    // A leaves; C takes over every partition and sees what is produced next, nothing lost.
    drop(a);
    settle(
        &[&c],
        || assigned(&c).len() == PARTITIONS as usize,
        Duration::from_secs(30),
    );
    assert_eq!(
        assigned(&c).len(),
        PARTITIONS as usize,
        "the survivor holds every partition"
    );
    produce(&bs, "orders", 600, 300);
    // Records read again around the takeover (at least once) do not count towards the 300:
    // read until every new one is seen or the time is up.
    let mut seen: HashSet<String> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(600..900).all(|i| seen.contains(&format!("m{i}"))) && Instant::now() < deadline {
        let got = drain(&[&c], 1, Duration::from_millis(200));
        seen.extend(got.into_iter().flatten());
    }
    let missing: Vec<i32> = (600..900)
        .filter(|i| !seen.contains(&format!("m{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "messages lost after takeover: {missing:?}"
    );
    c.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(c);

    // Offsets survive a broker restart: a new member of the group starts where C stopped.
    b.stop();
    b.restart();
    produce(&bs, "orders", 900, 60);
    let d = group_consumer(&bs, "billing", "orders", "range");
    let got = drain(&[&d], 60, Duration::from_secs(30));
    let mut values: Vec<&String> = got[0].iter().collect();
    values.sort();
    values.dedup();
    assert_eq!(
        values.len(),
        60,
        "resumed exactly after the committed offsets: {:?}",
        &got[0][..got[0].len().min(5)]
    );
    assert!(got[0]
        .iter()
        .all(|v| v[1..].parse::<usize>().unwrap() >= 900));

    // A second group is independent and sees everything from the beginning.
    let other = group_consumer(&bs, "audit", "orders", "roundrobin");
    let got = drain(&[&other], 960, Duration::from_secs(30));
    assert_eq!(got[0].iter().collect::<HashSet<_>>().len(), 960);

    // ListGroups and DescribeGroups through librdkafka.
    let groups = d.fetch_group_list(None, Duration::from_secs(5)).unwrap();
    let names: HashSet<&str> = groups.groups().iter().map(|g| g.name()).collect();
    assert!(
        names.contains("billing") && names.contains("audit"),
        "{names:?}"
    );
    let billing = groups
        .groups()
        .iter()
        .find(|g| g.name() == "billing")
        .unwrap();
    assert_eq!(billing.state(), "Stable");
    assert_eq!(billing.members().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_is_evicted_and_cooperative_sticky_rebalances() {
    let b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "events", PARTITIONS).await;
    produce(&bs, "events", 0, 120);

    // kcat joins and is then killed: it never leaves, so only its session timeout (2 s)
    // removes it.
    let mut silent = std::process::Command::new("kcat")
        .args([
            "-b",
            &bs,
            "-G",
            "watchers",
            "-X",
            "session.timeout.ms=2000",
            "-X",
            "heartbeat.interval.ms=200",
            "events",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kcat must be installed");
    let probe: BaseConsumer = kafka::config(&bs).create().unwrap();
    let members = |p: &BaseConsumer| {
        p.fetch_group_list(Some("watchers"), Duration::from_secs(5))
            .ok()
            .and_then(|l| l.groups().first().map(|g| g.members().len()))
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while members(&probe) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(members(&probe), 1, "kcat joined");
    silent.kill().unwrap();
    silent.wait().unwrap();
    let killed = Instant::now();
    while members(&probe) == 1 && killed.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone_after = killed.elapsed();
    assert_eq!(members(&probe), 0, "the silent member was not evicted");
    assert!(
        gone_after >= Duration::from_millis(1500),
        "evicted before its session timeout: {gone_after:?}"
    );

    // Cooperative-sticky: a second member takes some partitions, the first keeps the rest.
    let a = group_consumer(&bs, "sticky", "events", "cooperative-sticky");
    let mut early = settle(
        &[&a],
        || assigned(&a).len() == PARTITIONS as usize,
        Duration::from_secs(30),
    );
    let before = assigned(&a);
    let c = group_consumer(&bs, "sticky", "events", "cooperative-sticky");
    early.extend(settle(
        &[&a, &c],
        || {
            !assigned(&c).is_empty()
                && assigned(&a).len() + assigned(&c).len() == PARTITIONS as usize
        },
        Duration::from_secs(40),
    ));
    let (sa, sc) = (assigned(&a), assigned(&c));
    assert!(!sc.is_empty(), "the newcomer got nothing");
    assert!(sa.is_disjoint(&sc));
    assert!(
        sa.is_subset(&before),
        "cooperative rebalancing kept the first member's partitions"
    );
    // Partitions that moved are read again from the last commit (none here): at least once.
    let mut unique: HashSet<String> = early.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while unique.len() < 120 && Instant::now() < deadline {
        for v in drain(&[&a, &c], 1, Duration::from_millis(200))
            .into_iter()
            .flatten()
        {
            unique.insert(v);
        }
    }
    assert_eq!(unique.len(), 120, "every message was consumed");
}

fn admin(bs: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(["groups", "--bootstrap", bs])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn total_lag(text: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix("TOTAL LAG\t"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_groups_subcommand_reports_lag_resets_and_deletes() {
    let b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "ledger", 3).await;
    produce(&bs, "ledger", 0, 90);
    let c = group_consumer(&bs, "reporting", "ledger", "range");
    let got = drain(&[&c], 90, Duration::from_secs(30));
    assert_eq!(got[0].len(), 90);
    c.commit_consumer_state(CommitMode::Sync).unwrap();

    let (ok, text) = admin(&bs, &["describe", "--group", "reporting"]);
    assert!(
        ok && text.contains("state Stable") && text.contains("member "),
        "{text}"
    );
    let (ok, text) = admin(&bs, &["delete", "--group", "reporting"]);
    assert!(
        !ok && text.contains("error 68"),
        "a group with members is not deleted: {text}"
    );
    let (ok, text) = admin(
        &bs,
        &[
            "reset-offsets",
            "--group",
            "reporting",
            "--topic",
            "ledger",
            "--to-earliest",
        ],
    );
    assert!(!ok, "a group with members is not reset: {text}");
    drop(c);

    let (ok, text) = admin(&bs, &["lag", "--group", "reporting"]);
    assert!(ok, "{text}");
    assert_eq!(total_lag(&text), 0);
    produce(&bs, "ledger", 90, 10);
    assert_eq!(
        total_lag(&admin(&bs, &["lag", "--group", "reporting"]).1),
        10
    );

    let (ok, text) = admin(
        &bs,
        &[
            "reset-offsets",
            "--group",
            "reporting",
            "--topic",
            "ledger",
            "--to-earliest",
        ],
    );
    assert!(ok, "{text}");
    assert_eq!(
        total_lag(&admin(&bs, &["lag", "--group", "reporting"]).1),
        100
    );
    // A new member starts from the reset offsets.
    let c = group_consumer(&bs, "reporting", "ledger", "range");
    let got = drain(&[&c], 100, Duration::from_secs(30));
    assert_eq!(got[0].iter().collect::<HashSet<_>>().len(), 100);
    drop(c);

    let (ok, text) = admin(&bs, &["list"]);
    assert!(ok && text.contains("reporting"), "{text}");
    let (ok, text) = admin(&bs, &["delete", "--group", "reporting"]);
    assert!(ok, "{text}");
    let (_, text) = admin(&bs, &["list"]);
    assert!(!text.contains("reporting"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_an_empty_group_expire_after_the_retention() {
    let b = Broker::start(&[
        "--group-initial-rebalance-delay-ms",
        "0",
        "--offsets-retention-ms",
        "2000",
    ]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "short", 1).await;
    produce(&bs, "short", 0, 10);
    let c = group_consumer(&bs, "forgetful", "short", "range");
    assert_eq!(drain(&[&c], 10, Duration::from_secs(30))[0].len(), 10);
    c.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(c);
    let (ok, text) = admin(&bs, &["lag", "--group", "forgetful"]);
    assert!(ok && text.contains("short\t0\t10"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while admin(&bs, &["list"]).1.contains("forgetful") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, listed) = admin(&bs, &["list"]);
    assert!(
        !listed.contains("forgetful"),
        "the group's offsets did not expire: {listed}"
    );
    let (_, text) = admin(&bs, &["lag", "--group", "forgetful"]);
    assert!(!text.contains("short\t0"), "{text}");
}
