use super::*;
use crate::quorum::sim_storage::{SimDisk, SimStorage};

type Node = QuorumNode<SimStorage>;

fn config(node: i32, voters: &[i32]) -> QuorumConfig {
    let mut c = QuorumConfig::new(NodeId(node), voters.iter().map(|&v| NodeId(v)).collect());
    c.jitter_seed = node as u64;
    c.snapshot_interval_entries = 5;
    c.snapshot_trailing_entries = 1;
    c
}

/// Nodes on a perfect network; records what each applied.
struct Cluster {
    nodes: BTreeMap<i32, Node>,
    disks: BTreeMap<i32, SimDisk>,
    voters: Vec<i32>,
    applied: BTreeMap<i32, Vec<(u64, Bytes)>>,
    down: Vec<i32>,
}

impl Cluster {
    fn new(voters: &[i32]) -> Cluster {
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            voters: voters.to_vec(),
            applied: BTreeMap::new(),
            down: Vec::new(),
        };
        for &v in voters {
            c.disks.insert(v, SimDisk::new());
            c.start(v);
        }
        c
    }

    fn start(&mut self, v: i32) {
        let disk = self.disks[&v].storage();
        let (node, out) = QuorumNode::open(config(v, &self.voters), disk).unwrap();
        self.nodes.insert(v, node);
        self.applied.insert(v, Vec::new());
        self.handle(v, out);
    }

    fn handle(&mut self, v: i32, out: Vec<QuorumOutput>) {
        let mut queue = vec![(v, out)];
        while let Some((from, out)) = queue.pop() {
            for o in out {
                match o {
                    QuorumOutput::Send { to, message } => {
                        if self.down.contains(&to.0) || self.down.contains(&from) {
                            continue;
                        }
                        let node = self.nodes.get_mut(&to.0).unwrap();
                        let more = node.step(QuorumInput::Message(message)).unwrap();
                        queue.push((to.0, more));
                    }
                    QuorumOutput::Committed { index, data, .. } => {
                        self.applied.get_mut(&from).unwrap().push((index, data));
                    }
                    QuorumOutput::RestoreSnapshot { index, data, .. } => {
                        let log = self.applied.get_mut(&from).unwrap();
                        log.clear();
                        log.push((index, data));
                    }
                    QuorumOutput::SnapshotDue { index } => {
                        let data = format!("state@{index}").into_bytes();
                        let node = self.nodes.get_mut(&from).unwrap();
                        let more = node
                            .step(QuorumInput::SnapshotTaken { index, data })
                            .unwrap();
                        queue.push((from, more));
                    }
                    _ => {}
                }
            }
        }
    }

    fn tick(&mut self, rounds: usize) {
        for _ in 0..rounds {
            for v in self.voters.clone() {
                if self.down.contains(&v) {
                    continue;
                }
                let out = self
                    .nodes
                    .get_mut(&v)
                    .unwrap()
                    .step(QuorumInput::Tick { now_ms: 0 })
                    .unwrap();
                self.handle(v, out);
            }
        }
    }

    fn leader(&self) -> Option<i32> {
        self.nodes
            .iter()
            .find(|(v, n)| n.is_leader() && !self.down.contains(v))
            .map(|(v, _)| *v)
    }

    fn propose(&mut self, id: u64, payload: &str) -> Vec<QuorumOutput> {
        let l = self.leader().unwrap();
        let out = self
            .nodes
            .get_mut(&l)
            .unwrap()
            .step(QuorumInput::Propose {
                id: ProposalId(id),
                payload: payload.as_bytes().to_vec(),
            })
            .unwrap();
        let copy = out.clone();
        self.handle(l, out);
        copy
    }

    fn data(&self, v: i32) -> Vec<Vec<u8>> {
        self.applied[&v]
            .iter()
            .filter(|(_, d)| !d.is_empty())
            .map(|(_, d)| d.to_vec())
            .collect()
    }
}

#[test]
fn a_single_voter_leads_and_commits_alone() {
    let disk = SimDisk::new();
    let (mut node, out) = QuorumNode::open(config(0, &[0]), disk.storage()).unwrap();
    assert!(node.is_leader());
    assert!(out.iter().any(|o| matches!(
        o,
        QuorumOutput::LeaderChanged {
            leader: NodeId(0),
            term_start_index: Some(_),
            ..
        }
    )));
    let out = node
        .step(QuorumInput::Propose {
            id: ProposalId(1),
            payload: b"x".to_vec(),
        })
        .unwrap();
    assert!(out.iter().any(|o| matches!(
        o,
        QuorumOutput::Committed {
            proposal: Some(ProposalId(1)),
            ..
        }
    )));
    assert_eq!(node.status().high_watermark, 2);
}

#[test]
fn three_voters_elect_replicate_and_survive_a_restart() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.tick(40);
    let leader = c.leader().expect("a leader");
    let out = c.propose(7, "hello");
    assert!(out
        .iter()
        .any(|o| matches!(o, QuorumOutput::Proposed { .. })));
    for v in [1, 2, 3] {
        assert_eq!(c.data(v), vec![b"hello".to_vec()], "node {v}");
    }
    let status = c.nodes[&leader].status();
    assert_eq!(status.voters.len(), 3);
    assert!(status
        .voters
        .iter()
        .all(|v| v.log_end == status.high_watermark));

    // A follower restarts and replays the committed entries.
    let follower = [1, 2, 3].into_iter().find(|&v| v != leader).unwrap();
    c.start(follower);
    c.tick(5);
    assert_eq!(c.data(follower), vec![b"hello".to_vec()]);
}

#[test]
fn a_lagging_follower_catches_up_from_a_snapshot() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.tick(40);
    let leader = c.leader().unwrap();
    let lagging = [1, 2, 3].into_iter().find(|&v| v != leader).unwrap();
    c.down.push(lagging);
    for i in 0..20 {
        c.propose(i, &format!("p{i}"));
    }
    assert!(c.nodes[&leader].store().first() > 2, "the leader compacted");
    c.down.clear();
    c.tick(20);
    let (index, data) = c.applied[&lagging][0].clone();
    assert!(data.starts_with(b"state@"), "restored from a snapshot");
    assert!(index > 1);
    assert_eq!(
        c.nodes[&lagging].applied(),
        c.nodes[&leader].applied(),
        "caught up"
    );
    // Reads for a broker: compacted → snapshot; recent → entries.
    let n = &c.nodes[&leader];
    assert!(matches!(
        n.read_committed(1, 1 << 20),
        CommittedRead::Snapshot { .. }
    ));
    let CommittedRead::Entries(tail) = n.read_committed(n.applied(), 1 << 20) else {
        panic!("recent entries are in the log")
    };
    assert_eq!(tail.len(), 1);
}

#[test]
fn proposals_on_a_follower_are_dropped_and_bad_messages_rejected() {
    let mut c = Cluster::new(&[1, 2, 3]);
    c.tick(40);
    let leader = c.leader().unwrap();
    let follower = [1, 2, 3].into_iter().find(|&v| v != leader).unwrap();
    let node = c.nodes.get_mut(&follower).unwrap();
    let out = node
        .step(QuorumInput::Propose {
            id: ProposalId(9),
            payload: b"x".to_vec(),
        })
        .unwrap();
    assert_eq!(
        out,
        vec![QuorumOutput::ProposalDropped {
            id: ProposalId(9),
            leader: NodeId(leader)
        }]
    );
    let err = node
        .step(QuorumInput::Message(vec![0xff, 0xff, 0xff]))
        .unwrap_err();
    assert!(!err.is_fatal());
    let m = Message {
        msg_type: MessageType::MsgHeartbeat,
        from: 99,
        to: NodeId(follower).to_raft().unwrap(),
        ..Message::default()
    };
    let err = node
        .step(QuorumInput::Message(m.write_to_bytes().unwrap()))
        .unwrap_err();
    assert!(matches!(err, QuorumError::BadMessage(_)));
}

#[test]
fn the_voter_set_is_fixed_by_the_storage() {
    let disk = SimDisk::new();
    QuorumNode::open(config(1, &[1, 2, 3]), disk.storage()).unwrap();
    let err = QuorumNode::open(config(1, &[1, 2]), disk.storage()).unwrap_err();
    assert!(matches!(err, QuorumError::Config(_)));
    assert!(QuorumNode::open(config(4, &[1, 2, 3]), SimDisk::new().storage()).is_err());
    assert!(QuorumNode::open(config(1, &[1, 1]), SimDisk::new().storage()).is_err());
}
