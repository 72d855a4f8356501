use super::*;
use crate::cluster::records::MetadataBatch;

/// A controller with its image, applying every decision at once (as if committed).
struct Harness {
    image: MetadataImage,
    controller: Controller,
    index: u64,
    now_ms: u64,
}

const CLUSTER: [u8; 16] = [5; 16];

impl Harness {
    fn new() -> Harness {
        let mut h = Harness {
            image: MetadataImage::new(),
            controller: Controller::new(ControllerConfig::new(CLUSTER), 7),
            index: 0,
            now_ms: 1_000,
        };
        let records = h.controller.activate(&h.image, h.now_ms);
        h.commit(records);
        h
    }

    fn commit(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        self.index += 1;
        let skipped = self
            .image
            .apply_batch(self.index, &MetadataBatch { records });
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    fn run(&mut self, request: ControllerRequest) -> Result<ControllerResponse, ControllerError> {
        let d = self
            .controller
            .handle(&self.image, self.index + 1, self.now_ms, &request)?;
        self.commit(d.records);
        Ok(d.response)
    }

    fn tick(&mut self, advance_ms: u64) -> usize {
        self.now_ms += advance_ms;
        let records = self.controller.tick(&self.image, self.now_ms);
        let n = records.len();
        self.commit(records);
        n
    }

    fn register(&mut self, id: i32, rack: Option<&str>) -> BrokerEpoch {
        self.register_as(id, [id as u8; 16], rack).unwrap()
    }

    fn register_as(
        &mut self,
        id: i32,
        incarnation: [u8; 16],
        rack: Option<&str>,
    ) -> Result<BrokerEpoch, ControllerError> {
        match self.run(ControllerRequest::RegisterBroker {
            id: NodeId(id),
            incarnation,
            cluster_id: CLUSTER,
            listeners: vec![],
            rack: rack.map(str::to_string),
        })? {
            ControllerResponse::Registered { epoch } => Ok(epoch),
            other => panic!("{other:?}"),
        }
    }

    fn heartbeat(&mut self, id: i32, epoch: BrokerEpoch) -> Result<bool, ControllerError> {
        let offset = self.index;
        self.heartbeat_at(id, epoch, offset, false)
    }

    fn heartbeat_at(
        &mut self,
        id: i32,
        epoch: BrokerEpoch,
        metadata_offset: u64,
        want_shutdown: bool,
    ) -> Result<bool, ControllerError> {
        match self.run(ControllerRequest::BrokerHeartbeat {
            id: NodeId(id),
            epoch,
            metadata_offset,
            want_shutdown,
        })? {
            ControllerResponse::Heartbeat { fenced, .. } => Ok(fenced),
            other => panic!("{other:?}"),
        }
    }

    /// Registers and unfences brokers 0..n.
    fn live_brokers(&mut self, n: i32) -> Vec<BrokerEpoch> {
        let epochs: Vec<_> = (0..n).map(|i| self.register(i, None)).collect();
        for (i, e) in epochs.iter().enumerate() {
            assert!(!self.heartbeat(i as i32, *e).unwrap());
        }
        epochs
    }

    fn create(&mut self, name: &str, partitions: i32, rf: i16) -> Result<TopicId, ControllerError> {
        match self.run(ControllerRequest::CreateTopics {
            topics: vec![NewTopic {
                name: name.into(),
                partitions,
                replication_factor: rf,
                configs: BTreeMap::new(),
            }],
            validate_only: false,
        })? {
            ControllerResponse::CreateTopics(mut r) => r.remove(0).1,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_first_leader_writes_the_cluster_id() {
    let h = Harness::new();
    assert_eq!(h.image.cluster_id(), Some(CLUSTER));
    let mut again = h.controller.clone();
    assert!(again.activate(&h.image, 0).is_empty());
}

#[test]
fn registration_epochs_follow_incarnations() {
    let mut h = Harness::new();
    let e1 = h.register(1, None);
    assert_eq!(
        e1,
        BrokerEpoch(h.index as i64),
        "the epoch is the record's index"
    );
    assert_eq!(h.register(1, None), e1, "a retry gets the same answer");
    assert!(!h.heartbeat(1, e1).unwrap());
    assert_eq!(
        h.register_as(1, [99; 16], None),
        Err(ControllerError::DuplicateBrokerRegistration(NodeId(1)))
    );
    h.tick(10_000);
    assert!(h.image.broker(NodeId(1)).unwrap().fenced);
    let e2 = h.register_as(1, [99; 16], None).unwrap();
    assert!(e2 > e1);
    assert_eq!(
        h.heartbeat(1, e1),
        Err(ControllerError::StaleBrokerEpoch {
            id: NodeId(1),
            epoch: e1
        })
    );
    assert_eq!(
        h.heartbeat(7, e1),
        Err(ControllerError::BrokerIdNotRegistered(NodeId(7)))
    );
    let wrong_cluster = ControllerRequest::RegisterBroker {
        id: NodeId(2),
        incarnation: [2; 16],
        cluster_id: [0; 16],
        listeners: vec![],
        rack: None,
    };
    assert_eq!(
        h.run(wrong_cluster),
        Err(ControllerError::InconsistentClusterId)
    );
}

#[test]
fn brokers_are_unfenced_once_caught_up_with_their_registration() {
    let mut h = Harness::new();
    let e = h.register(1, None);
    let behind = u64::try_from(e.0).unwrap() - 1;
    assert!(h.heartbeat_at(1, e, behind, false).unwrap(), "still fenced");
    assert!(!h.image.is_live(NodeId(1)));
    assert!(!h.heartbeat_at(1, e, behind + 1, false).unwrap());
    assert!(h.image.is_live(NodeId(1)));
}

#[test]
fn lapsed_sessions_fence_and_move_leadership_then_come_back() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(3);
    let t = h.create("t", 3, 2).unwrap();
    let single = h.create("single", 1, 1).unwrap();
    let lone_leader = h.image.leader(single, 0).unwrap();
    let before: Vec<_> = (0..3)
        .map(|p| h.image.partition(t, p).unwrap().clone())
        .collect();

    // Everyone but the lone partition's leader keeps heartbeating.
    for _ in 0..10 {
        h.now_ms += 1_000;
        for (i, e) in epochs.iter().enumerate() {
            if NodeId(i as i32) != lone_leader {
                h.heartbeat(i as i32, *e).unwrap();
            }
        }
        h.tick(0);
    }
    assert!(h.image.broker(lone_leader).unwrap().fenced);
    assert_eq!(
        h.image.leader(single, 0),
        Some(NodeId::NONE),
        "no other replica: offline"
    );
    // As Kafka 4 keeps it (KIP-966): the fenced last ISR member leaves the ISR for the ELR.
    let offline = h.image.partition(single, 0).unwrap();
    assert!(offline.isr.is_empty(), "{offline:?}");
    assert_eq!(offline.elr, vec![lone_leader]);
    assert_eq!(offline.last_known_elr, vec![lone_leader]);
    for p in 0..3 {
        let now = h.image.partition(t, p).unwrap();
        assert_ne!(now.leader, lone_leader);
        assert!(!now.isr.contains(&lone_leader));
        if before[p as usize].leader == lone_leader {
            assert_eq!(now.leader_epoch, before[p as usize].leader_epoch.next());
        }
        assert!(now.partition_epoch >= before[p as usize].partition_epoch);
    }

    // It comes back: unfenced, and the offline partition gets it as leader at a new epoch.
    let offline_epoch = h.image.partition(single, 0).unwrap().leader_epoch;
    let e = epochs[lone_leader.0 as usize];
    assert!(!h.heartbeat(lone_leader.0, e).unwrap());
    assert_eq!(h.image.leader(single, 0), Some(lone_leader));
    let back = h.image.partition(single, 0).unwrap();
    assert_eq!(back.leader_epoch, offline_epoch.next());
    assert_eq!(back.isr, vec![lone_leader]);
    assert!(back.elr.is_empty() && back.last_known_elr.is_empty());
}

#[test]
fn a_new_controller_gives_every_broker_a_fresh_session() {
    let mut h = Harness::new();
    h.live_brokers(2);
    h.now_ms += 60_000;
    let mut successor = Controller::new(ControllerConfig::new(CLUSTER), 8);
    assert!(successor.activate(&h.image, h.now_ms).is_empty());
    assert!(successor.tick(&h.image, h.now_ms + 1).is_empty());
    assert!(!successor.tick(&h.image, h.now_ms + 9_001).is_empty());
}

#[test]
fn controlled_shutdown_moves_leadership_then_fences() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(2);
    let t = h.create("t", 4, 2).unwrap();
    assert!(!h.image.partitions_led_by(NodeId(0)).is_empty());
    let offset = h.index;
    let r = h
        .run(ControllerRequest::BrokerHeartbeat {
            id: NodeId(0),
            epoch: epochs[0],
            metadata_offset: offset,
            want_shutdown: true,
        })
        .unwrap();
    assert_eq!(
        r,
        ControllerResponse::Heartbeat {
            fenced: true,
            should_shut_down: true
        }
    );
    assert!(h.image.partitions_led_by(NodeId(0)).is_empty());
    assert!(h.image.broker(NodeId(0)).unwrap().fenced);
    for p in 0..4 {
        assert_eq!(h.image.leader(t, p), Some(NodeId(1)));
    }
    // Still shutting down: later heartbeats do not unfence it.
    assert!(h.heartbeat(0, epochs[0]).unwrap());
}

#[test]
fn create_topics_validates_and_places() {
    let mut h = Harness::new();
    assert!(matches!(
        h.create("t", 1, 1),
        Err(ControllerError::InvalidReplicationFactor(_))
    ));
    h.live_brokers(3);
    assert!(matches!(
        h.create("t", 1, 4),
        Err(ControllerError::InvalidReplicationFactor(_))
    ));
    assert!(matches!(
        h.create("a/b", 1, 1),
        Err(ControllerError::InvalidTopic(_))
    ));
    assert!(matches!(
        h.create("t", 0, 1),
        Err(ControllerError::InvalidPartitions(_))
    ));
    let id = h.create("t", -1, -1).unwrap();
    assert_eq!(h.image.topic_by_id(id).unwrap().partitions.len(), 1);
    assert!(matches!(
        h.create("t", 1, 1),
        Err(ControllerError::TopicAlreadyExists(_))
    ));
    let check = ControllerRequest::CreateTopics {
        topics: vec![NewTopic {
            name: "dry".into(),
            partitions: 3,
            replication_factor: 3,
            configs: BTreeMap::new(),
        }],
        validate_only: true,
    };
    let d = h
        .controller
        .handle(&h.image, h.index + 1, h.now_ms, &check)
        .unwrap();
    assert!(d.records.is_empty());
    assert!(matches!(&d.response, ControllerResponse::CreateTopics(r) if r[0].1.is_ok()));
    let t = h.create("wide", 6, 3).unwrap();
    let mut leads = BTreeMap::new();
    for p in 0..6 {
        let part = h.image.partition(t, p).unwrap();
        assert_eq!(part.replicas.len(), 3);
        *leads.entry(part.leader).or_insert(0) += 1;
    }
    assert!(leads.values().all(|&n| n == 2), "{leads:?}");
}

#[test]
fn create_partitions_and_delete_topics() {
    let mut h = Harness::new();
    h.live_brokers(2);
    h.create("t", 2, 2).unwrap();
    let grow = |count| ControllerRequest::CreatePartitions {
        topics: vec![NewPartitions {
            name: "t".into(),
            count,
        }],
        validate_only: false,
    };
    assert!(matches!(
        h.run(grow(2)).unwrap(),
        ControllerResponse::CreatePartitions(r) if r[0].1.is_err()
    ));
    h.run(grow(5)).unwrap();
    let t = h.image.topic("t").unwrap();
    assert_eq!(t.partitions.len(), 5);
    assert!(t.partitions.iter().all(|p| p.replicas.len() == 2));
    let r = h
        .run(ControllerRequest::DeleteTopics {
            names: vec!["t".into(), "nope".into()],
        })
        .unwrap();
    let ControllerResponse::DeleteTopics(r) = r else {
        panic!()
    };
    assert!(r[0].1.is_ok());
    assert!(matches!(
        r[1].1,
        Err(ControllerError::UnknownTopicOrPartition(_))
    ));
    assert!(h.image.topic("t").is_none());
}

#[test]
fn producer_id_blocks_never_overlap() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(2);
    let mut blocks = Vec::new();
    for i in 0..10 {
        let b = i % 2;
        let r = h
            .run(ControllerRequest::AllocateProducerIds {
                broker: NodeId(b),
                epoch: epochs[b as usize],
            })
            .unwrap();
        let ControllerResponse::ProducerIds { start, len } = r else {
            panic!("{r:?}")
        };
        assert_eq!(len, 1000);
        blocks.push(start..start + len);
    }
    for (i, a) in blocks.iter().enumerate() {
        for b in blocks.iter().skip(i + 1) {
            assert!(a.end <= b.start || b.end <= a.start, "{a:?} overlaps {b:?}");
        }
    }
    assert!(h
        .run(ControllerRequest::AllocateProducerIds {
            broker: NodeId(0),
            epoch: BrokerEpoch(12345),
        })
        .is_err());
}

#[test]
fn alter_configs_sets_and_deletes() {
    let mut h = Harness::new();
    h.live_brokers(1);
    h.create("t", 1, 1).unwrap();
    let alter = |value: Option<&str>| ControllerRequest::AlterConfigs {
        resource: ConfigResource::Topic("t".into()),
        entries: vec![("retention.ms".into(), value.map(str::to_string))],
        validate_only: false,
    };
    h.run(alter(Some("100"))).unwrap();
    assert_eq!(
        h.image
            .topic("t")
            .unwrap()
            .configs
            .get("retention.ms")
            .unwrap(),
        "100"
    );
    h.run(alter(None)).unwrap();
    assert!(h.image.topic("t").unwrap().configs.is_empty());
    let unknown = ControllerRequest::AlterConfigs {
        resource: ConfigResource::Topic("nope".into()),
        entries: vec![],
        validate_only: false,
    };
    assert!(matches!(
        h.run(unknown),
        Err(ControllerError::UnknownTopicOrPartition(_))
    ));
}

impl Harness {
    /// The leader of `topic`-`partition` changes its ISR to `isr`.
    fn alter_isr(&mut self, epochs: &[BrokerEpoch], topic: TopicId, partition: i32, isr: &[i32]) {
        let p = self.image.partition(topic, partition).unwrap().clone();
        let r = self.run(ControllerRequest::AlterPartition {
            broker: p.leader,
            broker_epoch: epochs[p.leader.0 as usize],
            topic,
            partition,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: isr.iter().map(|n| NodeId(*n)).collect(),
        });
        assert!(r.is_ok(), "{r:?}");
    }

    fn elect(
        &mut self,
        election: ElectionType,
        partitions: Option<Vec<(&str, i32)>>,
    ) -> Vec<(String, i32, Result<(), ControllerError>)> {
        let partitions =
            partitions.map(|ps| ps.into_iter().map(|(t, p)| (t.to_string(), p)).collect());
        match self.run(ControllerRequest::ElectLeaders {
            election,
            partitions,
        }) {
            Ok(ControllerResponse::ElectLeaders(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Broker `id` misses heartbeats until fenced while the others keep theirs.
    fn lapse(&mut self, epochs: &[BrokerEpoch], id: i32) {
        for _ in 0..10 {
            self.now_ms += 1_000;
            for (i, e) in epochs.iter().enumerate() {
                if i as i32 != id {
                    self.heartbeat(i as i32, *e).unwrap();
                }
            }
            self.tick(0);
        }
        assert!(self.image.broker(NodeId(id)).unwrap().fenced);
    }
}

#[test]
fn preferred_elections_wait_for_the_preferred_replica_to_be_in_sync() {
    let mut h = Harness::new();
    h.controller.config.auto_leader_rebalance = false;
    let epochs = h.live_brokers(3);
    let t = h.create("t", 3, 3).unwrap();
    let p = (0..3)
        .find(|p| h.image.replicas(t, *p).unwrap()[0] == NodeId(0))
        .unwrap();
    assert_eq!(
        h.elect(ElectionType::Preferred, Some(vec![("t", p)])),
        vec![("t".to_string(), p, Err(ControllerError::ElectionNotNeeded))]
    );
    h.lapse(&epochs, 0);
    assert_ne!(h.image.leader(t, p), Some(NodeId(0)));
    assert!(!h.heartbeat(0, epochs[0]).unwrap(), "unfenced again");
    // Back, but not in sync: it may not lead yet.
    assert_eq!(
        h.elect(
            ElectionType::Preferred,
            Some(vec![("t", p), ("nope", 0), ("t", 9)])
        ),
        vec![
            (
                "t".to_string(),
                p,
                Err(ControllerError::PreferredLeaderNotAvailable)
            ),
            (
                "nope".to_string(),
                0,
                Err(ControllerError::UnknownTopicOrPartition("nope-0".into()))
            ),
            (
                "t".to_string(),
                9,
                Err(ControllerError::UnknownTopicOrPartition("t-9".into()))
            ),
        ]
    );
    // Caught up: the leader adds it back, and the election moves leadership to it.
    let isr: Vec<i32> = h
        .image
        .replicas(t, p)
        .unwrap()
        .iter()
        .map(|n| n.0)
        .collect();
    h.alter_isr(&epochs, t, p, &isr);
    let before = h.image.partition(t, p).unwrap().leader_epoch;
    let all = h.elect(ElectionType::Preferred, None);
    assert!(all.contains(&("t".to_string(), p, Ok(()))), "{all:?}");
    assert!(
        all.iter().all(|r| r.2.is_ok()),
        "not-needed ones are left out: {all:?}"
    );
    assert_eq!(h.image.leader(t, p), Some(NodeId(0)));
    assert_eq!(h.image.partition(t, p).unwrap().leader_epoch, before.next());
}

#[test]
fn the_periodic_rebalance_moves_leadership_back_to_preferred_replicas() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(3);
    let t = h.create("t", 3, 3).unwrap();
    let preferred = |h: &Harness, p: i32| h.image.replicas(t, p).unwrap()[0];
    h.lapse(&epochs, 1);
    assert!(!h.heartbeat(1, epochs[1]).unwrap());
    for p in 0..3 {
        let isr: Vec<i32> = h
            .image
            .replicas(t, p)
            .unwrap()
            .iter()
            .map(|n| n.0)
            .collect();
        h.alter_isr(&epochs, t, p, &isr);
    }
    let moved = (0..3).filter(|p| h.image.leader(t, *p) != Some(preferred(&h, *p)));
    assert_eq!(moved.count(), 1, "broker 1's partition moved away");
    h.controller.config.leader_imbalance_check_interval_ms = 5_000;
    h.controller.last_rebalance_ms = h.now_ms;
    h.tick(0);
    assert!(
        (0..3).any(|p| h.image.leader(t, p) != Some(preferred(&h, p))),
        "not yet due"
    );
    h.now_ms += 5_000;
    for (i, e) in epochs.iter().enumerate() {
        h.heartbeat(i as i32, *e).unwrap();
    }
    h.tick(0);
    for p in 0..3 {
        assert_eq!(
            h.image.leader(t, p),
            Some(preferred(&h, p)),
            "partition {p}"
        );
    }
}

#[test]
fn unclean_elections_only_where_allowed() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(2);
    let t = h.create("t", 1, 2).unwrap();
    let leader = h.image.leader(t, 0).unwrap();
    let other = 1 - leader.0;
    // The follower falls out of the ISR, then the leader is fenced.
    h.alter_isr(&epochs, t, 0, &[leader.0]);
    h.lapse(&epochs, leader.0);
    assert_eq!(
        h.image.leader(t, 0),
        Some(NodeId::NONE),
        "no clean candidate"
    );
    assert_eq!(
        h.elect(ElectionType::Preferred, Some(vec![("t", 0)])),
        vec![(
            "t".to_string(),
            0,
            Err(ControllerError::PreferredLeaderNotAvailable)
        )]
    );
    // An unclean election asked for: the out-of-sync replica leads, alone in the ISR.
    let offline_epoch = h.image.partition(t, 0).unwrap().leader_epoch;
    assert_eq!(
        h.elect(ElectionType::Unclean, Some(vec![("t", 0)])),
        vec![("t".to_string(), 0, Ok(()))]
    );
    let now = h.image.partition(t, 0).unwrap().clone();
    assert_eq!(
        (now.leader, now.isr.clone()),
        (NodeId(other), vec![NodeId(other)])
    );
    assert_eq!(now.leader_epoch, offline_epoch.next());
    assert_eq!(
        h.elect(ElectionType::Unclean, Some(vec![("t", 0)])),
        vec![("t".to_string(), 0, Err(ControllerError::ElectionNotNeeded))]
    );

    // With the topic's unclean.leader.election.enable, the controller does it by itself.
    let mut h = Harness::new();
    let epochs = h.live_brokers(2);
    let t = h.create("u", 1, 2).unwrap();
    h.run(ControllerRequest::AlterConfigs {
        resource: ConfigResource::Topic("u".into()),
        entries: vec![("unclean.leader.election.enable".into(), Some("true".into()))],
        validate_only: false,
    })
    .unwrap();
    let leader = h.image.leader(t, 0).unwrap();
    h.alter_isr(&epochs, t, 0, &[leader.0]);
    h.lapse(&epochs, leader.0);
    assert_eq!(h.image.leader(t, 0), Some(NodeId(1 - leader.0)));
}

impl Harness {
    fn reassign(
        &mut self,
        asked: Vec<(&str, i32, Option<Vec<i32>>)>,
    ) -> Vec<(String, i32, Result<(), ControllerError>)> {
        let reassignments = asked
            .into_iter()
            .map(|(t, p, r)| {
                let r = r.map(|ids| ids.into_iter().map(NodeId).collect());
                (t.to_string(), p, r)
            })
            .collect();
        match self.run(ControllerRequest::AlterReassignments { reassignments }) {
            Ok(ControllerResponse::AlterReassignments(r)) => r,
            other => panic!("{other:?}"),
        }
    }
}

fn ids(v: &[i32]) -> Vec<NodeId> {
    v.iter().map(|n| NodeId(*n)).collect()
}

#[test]
fn a_reassignment_adds_catches_up_then_drops() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(4);
    let t = h.create("t", 1, 3).unwrap();
    let before = h.image.partition(t, 0).unwrap().clone();
    let old: Vec<i32> = before.replicas.iter().map(|n| n.0).collect();
    let newcomer = (0..4).find(|b| !old.contains(b)).unwrap();
    let leaving = before.leader.0;
    // Move off the leader onto the fourth broker.
    let mut target: Vec<i32> = old.iter().copied().filter(|r| *r != leaving).collect();
    target.push(newcomer);
    let ok = h.reassign(vec![("t", 0, Some(target.clone()))]);
    assert_eq!(ok, vec![("t".to_string(), 0, Ok(()))]);
    let moving = h.image.partition(t, 0).unwrap().clone();
    let mut union = target.clone();
    union.push(leaving);
    assert_eq!(
        moving.replicas,
        ids(&union),
        "target first, then what leaves"
    );
    assert_eq!(
        (moving.adding.clone(), moving.removing.clone()),
        (ids(&[newcomer]), ids(&[leaving]))
    );
    assert_eq!(moving.isr, before.isr, "nobody in sync changes yet");
    assert_eq!(moving.leader, before.leader);

    // The newcomer catches up: the leader's ISR change completes the move.
    let mut isr: Vec<i32> = moving.isr.iter().map(|n| n.0).collect();
    isr.push(newcomer);
    h.alter_isr(&epochs, t, 0, &isr);
    let done = h.image.partition(t, 0).unwrap().clone();
    assert_eq!(done.replicas, ids(&target));
    assert!(!done.reassigning());
    assert!(!done.isr.contains(&NodeId(leaving)), "{done:?}");
    assert!(done.isr.contains(&NodeId(newcomer)));
    assert_ne!(done.leader, NodeId(leaving));
    assert_eq!(
        done.leader_epoch,
        before.leader_epoch.next(),
        "leadership moved"
    );
}

#[test]
fn reassignments_are_validated_replaced_and_cancelled() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(4);
    let t = h.create("t", 1, 2).unwrap();
    let before = h.image.partition(t, 0).unwrap().clone();
    let old: Vec<i32> = before.replicas.iter().map(|n| n.0).collect();
    for bad in [vec![], vec![old[0], old[0]], vec![old[0], 9]] {
        let r = h.reassign(vec![("t", 0, Some(bad))]);
        assert!(
            matches!(r[0].2, Err(ControllerError::InvalidReplicaAssignment(_))),
            "{r:?}"
        );
    }
    let r = h.reassign(vec![
        ("nope", 0, Some(vec![0])),
        ("t", 0, None),
        ("t", 0, None),
    ]);
    assert!(matches!(
        r[0].2,
        Err(ControllerError::UnknownTopicOrPartition(_))
    ));
    assert!(
        matches!(r[2].2, Err(ControllerError::InvalidRequest(_))),
        "named twice"
    );
    assert_eq!(
        h.reassign(vec![("t", 0, None)]),
        vec![(
            "t".to_string(),
            0,
            Err(ControllerError::NoReassignmentInProgress)
        )]
    );
    assert_eq!(h.image.partition(t, 0).unwrap(), &before, "nothing changed");

    // Reordering only completes at once, the leader staying.
    let reordered = vec![old[1], old[0]];
    h.reassign(vec![("t", 0, Some(reordered.clone()))]);
    let now = h.image.partition(t, 0).unwrap().clone();
    assert_eq!(now.replicas, ids(&reordered));
    assert!(!now.reassigning());
    assert_eq!(now.leader, before.leader);

    // A move, replaced by another, then cancelled: back to the replicas it started from.
    let spare: Vec<i32> = (0..4).filter(|b| !old.contains(b)).collect();
    h.reassign(vec![("t", 0, Some(vec![old[0], spare[0]]))]);
    h.reassign(vec![("t", 0, Some(vec![old[0], spare[1]]))]);
    let replaced = h.image.partition(t, 0).unwrap().clone();
    assert_eq!(replaced.adding, ids(&[spare[1]]), "{replaced:?}");
    assert!(!replaced.replicas.contains(&NodeId(spare[0])));
    assert_eq!(
        h.reassign(vec![("t", 0, None)]),
        vec![("t".to_string(), 0, Ok(()))]
    );
    let back = h.image.partition(t, 0).unwrap().clone();
    let mut replicas = back.replicas.clone();
    replicas.sort();
    let mut want = ids(&old);
    want.sort();
    assert_eq!(
        replicas, want,
        "the replicas it started from (in Kafka's order)"
    );
    assert!(!back.reassigning());
    let _ = epochs;
}

#[test]
fn an_isr_back_at_min_insync_replicas_clears_the_eligible_leader_replicas() {
    let mut h = Harness::new();
    let epochs = h.live_brokers(3);
    let t = h.create("t", 1, 3).unwrap();
    h.run(ControllerRequest::AlterConfigs {
        resource: ConfigResource::Topic("t".into()),
        entries: vec![("min.insync.replicas".into(), Some("2".into()))],
        validate_only: false,
    })
    .unwrap();
    let leader = h.image.leader(t, 0).unwrap().0;
    let others: Vec<i32> = (0..3).filter(|n| *n != leader).collect();
    let (fenced, back) = (others[0], others[1]);
    h.alter_isr(&epochs, t, 0, &[leader, fenced]);
    // Fenced out of an ISR that falls below the minimum, it holds everything committed.
    h.lapse(&epochs, fenced);
    let p = h.image.partition(t, 0).unwrap();
    assert_eq!(p.elr, vec![NodeId(fenced)]);
    // Another follower catches up: the high watermark moves again, past what the fenced
    // one holds, so it is no longer eligible.
    h.alter_isr(&epochs, t, 0, &[leader, back]);
    let p = h.image.partition(t, 0).unwrap();
    assert_eq!(p.isr, vec![NodeId(leader), NodeId(back)]);
    assert!(p.elr.is_empty() && p.last_known_elr.is_empty(), "{p:?}");
}
