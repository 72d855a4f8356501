use super::*;
use proptest::prelude::*;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: format!("entry {index} of term {term}").into_bytes().into(),
        ..Entry::default()
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| entry(i, term)).collect()
}

fn open(dir: &Path) -> (FileStorage, Recovered) {
    let mut s = FileStorage::open(dir).unwrap();
    let r = s.recover().unwrap();
    (s, r)
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..HardState::default()
    }
}

fn snapshot(index: u64, term: u64, data: &[u8]) -> Snapshot {
    let mut meta = SnapshotMetadata {
        index,
        term,
        ..SnapshotMetadata::default()
    };
    meta.set_conf_state(ConfState {
        voters: vec![1, 2, 3],
        ..ConfState::default()
    });
    let mut s = Snapshot {
        data: data.to_vec().into(),
        ..Snapshot::default()
    };
    s.set_metadata(meta);
    s
}

#[test]
fn entries_and_hard_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, r) = open(dir.path());
    assert_eq!(r, Recovered::default());
    s.append(&entries(1..=10, 1)).unwrap();
    s.save_hard_state(&hard_state(1, 2, 7), &[1, 2, 3]).unwrap();
    drop(s);
    let (_, r) = open(dir.path());
    assert_eq!(r.entries, entries(1..=10, 1));
    assert_eq!(r.hard_state, hard_state(1, 2, 7));
    assert_eq!(r.voters, vec![1, 2, 3]);
}

#[test]
fn a_conflicting_append_cuts_the_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=5, 1)).unwrap();
    s.append(&entries(3..=4, 2)).unwrap();
    s.append(&entries(5..=5, 2)).unwrap();
    assert!(s.append(&entries(9..=9, 2)).is_err(), "a gap is refused");
    drop(s);
    let (_, r) = open(dir.path());
    let mut want = entries(1..=2, 1);
    want.extend(entries(3..=5, 2));
    assert_eq!(r.entries, want);
}

#[test]
fn compaction_keeps_the_snapshot_and_the_entries_after_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=10, 1)).unwrap();
    s.save_snapshot(&snapshot(6, 1, b"image@6"), (4, 1), &entries(5..=10, 1))
        .unwrap();
    s.append(&entries(11..=12, 2)).unwrap();
    drop(s);
    let (_, r) = open(dir.path());
    assert_eq!(r.offset, (4, 1));
    assert_eq!(r.snapshot, snapshot(6, 1, b"image@6"));
    let mut want = entries(5..=10, 1);
    want.extend(entries(11..=12, 2));
    assert_eq!(r.entries, want);
}

#[test]
fn an_installed_snapshot_replaces_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=3, 1)).unwrap();
    s.save_snapshot(&snapshot(20, 4, b"leader's"), (20, 4), &[])
        .unwrap();
    s.append(&entries(21..=21, 4)).unwrap();
    drop(s);
    let (_, r) = open(dir.path());
    assert_eq!(r.offset, (20, 4));
    assert_eq!(r.entries, entries(21..=21, 4));
}

/// A crash after the snapshot's rename but before the log's: the old log is back.
fn crash_between_snapshot_and_log(installed: bool) -> Recovered {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=8, 1)).unwrap();
    let old_log = fs::read(dir.path().join(LOG_FILE)).unwrap();
    if installed {
        s.save_snapshot(&snapshot(20, 3, b"x"), (20, 3), &[])
            .unwrap();
    } else {
        s.save_snapshot(&snapshot(6, 1, b"x"), (6, 1), &entries(7..=8, 1))
            .unwrap();
    }
    drop(s);
    fs::write(dir.path().join(LOG_FILE), old_log).unwrap();
    let (mut s, r) = open(dir.path());
    // The repaired log takes appends again.
    let next = r.offset.0 + r.entries.len() as u64 + 1;
    s.append(&entries(next..=next, 5)).unwrap();
    drop(s);
    let (_, again) = open(dir.path());
    assert_eq!(again.entries.last().unwrap().index, next);
    r
}

#[test]
fn a_crash_between_snapshot_and_log_rewrite_recovers() {
    let r = crash_between_snapshot_and_log(true);
    assert_eq!(r.offset, (20, 3));
    assert!(
        r.entries.is_empty(),
        "the stale log before an install is dropped"
    );
    let r = crash_between_snapshot_and_log(false);
    assert_eq!(r.offset, (0, 0));
    assert_eq!(
        r.entries,
        entries(1..=8, 1),
        "a compaction's old log stays valid"
    );
    assert_eq!(r.snapshot.get_metadata().index, 6);
}

#[test]
fn every_torn_tail_is_cut_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=4, 1)).unwrap();
    let four = s.end;
    s.append(&entries(5..=5, 1)).unwrap();
    let full = s.end;
    drop(s);
    let log = dir.path().join(LOG_FILE);
    let original = fs::read(&log).unwrap();
    for cut in four..full {
        fs::write(&log, &original[..cut as usize]).unwrap();
        let (mut s, r) = open(dir.path());
        assert_eq!(r.entries, entries(1..=4, 1), "cut at {cut}");
        assert_eq!(fs::metadata(&log).unwrap().len(), four);
        s.append(&entries(5..=6, 2)).unwrap();
        drop(s);
        let (_, r) = open(dir.path());
        assert_eq!(r.entries.len(), 6);
    }
}

#[test]
fn garbage_and_flipped_bits_in_the_tail_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=3, 1)).unwrap();
    let three = s.end as usize;
    s.append(&entries(4..=4, 1)).unwrap();
    drop(s);
    let log = dir.path().join(LOG_FILE);
    let original = fs::read(&log).unwrap();
    for at in three..original.len() {
        let mut bytes = original.clone();
        bytes[at] ^= 0x5a;
        fs::write(&log, &bytes).unwrap();
        let (_, r) = open(dir.path());
        assert_eq!(r.entries, entries(1..=3, 1), "flip at {at}");
    }
    let mut bytes = original.clone();
    bytes.extend_from_slice(&[0xff; 100]);
    fs::write(&log, &bytes).unwrap();
    let (_, r) = open(dir.path());
    assert_eq!(r.entries, entries(1..=4, 1));
}

#[test]
fn corrupt_state_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path());
    s.append(&entries(1..=2, 1)).unwrap();
    s.save_hard_state(&hard_state(1, 1, 1), &[1]).unwrap();
    s.save_snapshot(&snapshot(1, 1, b"x"), (1, 1), &entries(2..=2, 1))
        .unwrap();
    drop(s);
    for name in [HARD_STATE_FILE, SNAPSHOT_FILE, LOG_FILE] {
        let path = dir.path().join(name);
        let good = fs::read(&path).unwrap();
        fs::write(&path, b"not a file of ours").unwrap();
        let mut s = FileStorage::open(dir.path()).unwrap();
        assert!(
            matches!(s.recover(), Err(QuorumError::Corrupt(_))),
            "{name}"
        );
        fs::write(&path, &good).unwrap();
    }
    let (_, r) = open(dir.path());
    assert_eq!(r.entries, entries(2..=2, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever happens to the bytes after the header, recovery keeps a prefix of what was
    /// written and never panics.
    #[test]
    fn recovery_keeps_a_prefix_of_the_log(
        cut in 0usize..2000,
        flip in proptest::option::of((0usize..2000, 1u8..=255)),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        let written = entries(1..=12, 3);
        s.append(&written).unwrap();
        drop(s);
        let log = dir.path().join(LOG_FILE);
        let mut bytes = fs::read(&log).unwrap();
        let keep = LOG_HEADER_BYTES + cut % (bytes.len() - LOG_HEADER_BYTES + 1);
        bytes.truncate(keep);
        if let Some((at, x)) = flip {
            let span = bytes.len() - LOG_HEADER_BYTES;
            if span > 0 {
                bytes[LOG_HEADER_BYTES + at % span] ^= x;
            }
        }
        bytes.extend_from_slice(&tail);
        fs::write(&log, &bytes).unwrap();
        let (_, r) = open(dir.path());
        prop_assert!(r.entries.len() <= written.len());
        prop_assert_eq!(&r.entries[..], &written[..r.entries.len()]);
    }
}
