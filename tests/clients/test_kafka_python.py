"""Interoperability test: the kafka-python client against a running Myelin broker.

The broker address comes from the MYELIN_BOOTSTRAP environment variable
(host:port). The tests FAIL (never skip) when it is unset or unreachable.

The first tests use enable_idempotence=False (the plain producer path) and read with
manual partition assignment (assign + seek, no group_id); the test_group_* tests use
consumer groups (subscribe, commit, KafkaAdminClient group operations), each consumer
polled from its own thread. The last tests cover the idempotent producer and transactions
(transactional_id, isolation_level, send_offsets_to_transaction, admin transaction calls);
a failure there is reported with the duplicate transaction markers found in the topic, if
any, as evidence.
"""

import os
import queue
import socket
import threading
import time
import uuid
import zlib

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2

PARTITIONS = 3
NUM_MESSAGES = 300
NUM_KEYS = 37
CONSUME_DEADLINE_S = 30.0
REQUEST_TIMEOUT_MS = 15000


def _bootstrap():
    addr = os.environ.get("MYELIN_BOOTSTRAP")
    if not addr:
        pytest.fail("MYELIN_BOOTSTRAP is not set (expected host:port of a running Myelin broker)", pytrace=False)
    host, _, port = addr.rpartition(":")
    err = None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except (OSError, ValueError) as e:
        err = e
    if err is not None:
        pytest.fail(f"Myelin broker at MYELIN_BOOTSTRAP={addr!r} is unreachable: {err}", pytrace=False)
    return addr


@pytest.fixture(scope="session")
def bootstrap():
    return _bootstrap()


@pytest.fixture
def admin(bootstrap):
    client = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="myelin-interop-admin",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    yield client
    client.close()


def _unique_topic(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _wait_until(pred, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def _consume_all(consumer, expected_total):
    """Poll until expected_total records arrived or the deadline passes."""
    got = {}
    count = 0
    deadline = time.monotonic() + CONSUME_DEADLINE_S
    while count < expected_total and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        for tp, records in batch.items():
            got.setdefault(tp.partition, []).extend(records)
            count += len(records)
    if count < expected_total:
        per = {p: len(r) for p, r in got.items()}
        pytest.fail(
            f"consumed only {count}/{expected_total} records within {CONSUME_DEADLINE_S}s "
            f"(per partition: {per})"
        )
    return got


def test_admin_produce_consume_offsets_for_times_delete(bootstrap, admin):
    topic = _unique_topic("kpy-interop")

    # --- CreateTopics through the admin client --------------------------------
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    _wait_until(lambda: topic in admin.list_topics(), 10, f"topic {topic} in list_topics")
    # kafka-python 3.x names these fields name/partition_index, 2.x topic/partition
    described = [t for t in admin.describe_topics([topic]) if t.get("name", t.get("topic")) == topic]
    assert len(described) == 1, described
    assert described[0]["error_code"] == 0, described
    indexes = sorted(p.get("partition_index", p.get("partition")) for p in described[0]["partitions"])
    assert indexes == list(range(PARTITIONS)), described

    # --- Produce keyed records with headers and explicit timestamps -----------
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="myelin-interop-producer",
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    base_ts = int(time.time() * 1000) - 3_600_000  # an hour ago: clearly set by us
    sent = []  # (key, value, headers, ts, future)
    try:
        for i in range(NUM_MESSAGES):
            key = f"key-{i % NUM_KEYS:03d}".encode()
            value = f"value-{i:05d}-{'x' * (i % 50)}".encode()
            headers = [
                ("seq", str(i).encode()),
                ("crc", str(zlib.crc32(value)).encode()),
                ("client", b"kafka-python"),
            ]
            if i % 10 == 0:
                headers.append(("empty", b""))
            ts = base_ts + i * 10
            fut = producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=ts)
            sent.append((key, value, headers, ts, fut))
        producer.flush(timeout=30)
        metas = [s[4].get(timeout=30) for s in sent]
    finally:
        producer.close(timeout=10)

    # Default partitioner: murmur2(key) & 0x7fffffff % partitions, as in the Java client.
    expected = {p: [] for p in range(PARTITIONS)}
    for (key, value, headers, ts, _), md in zip(sent, metas):
        assert md.topic == topic
        assert md.partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS, (key, md)
        expected[md.partition].append((md.offset, key, value, headers, ts))
    for p, recs in expected.items():
        offsets = [r[0] for r in recs]
        assert offsets == list(range(len(recs))), f"partition {p}: non-contiguous offsets {offsets[:20]}"
        assert recs, f"partition {p} got no records (keys should spread over all partitions)"

    # --- Consume with manual assignment (no group) -----------------------------
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="myelin-interop-consumer",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=200,
    )
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)

        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert consumer.end_offsets(tps) == {tp: len(expected[tp.partition]) for tp in tps}

        got = _consume_all(consumer, NUM_MESSAGES)
        for p in range(PARTITIONS):
            recs = got.get(p, [])
            exp = expected[p]
            assert len(recs) == len(exp), f"partition {p}: got {len(recs)} records, expected {len(exp)}"
            for r, (off, key, value, headers, ts) in zip(recs, exp):
                assert r.topic == topic and r.partition == p
                assert r.offset == off, f"partition {p}: offset {r.offset} != {off}"
                assert r.key == key, f"p{p}@{off}: key {r.key!r} != {key!r}"
                assert r.value == value, f"p{p}@{off}: value {r.value!r} != {value!r}"
                assert [(k, bytes(v)) for k, v in r.headers] == headers, f"p{p}@{off}: headers {r.headers!r}"
                assert r.timestamp == ts, f"p{p}@{off}: timestamp {r.timestamp} != {ts}"
                assert r.timestamp_type == 0, f"p{p}@{off}: timestamp_type {r.timestamp_type} (want CreateTime)"

        # Nothing more arrives after the end.
        extra = consumer.poll(timeout_ms=500)
        assert not any(extra.values()), f"unexpected extra records: {extra}"

        # --- ListOffsets by timestamp ------------------------------------------
        for p in range(PARTITIONS):
            tp = TopicPartition(topic, p)
            exp = expected[p]
            # exact timestamp of a record in the middle of the partition
            mid = exp[len(exp) // 2]
            res = consumer.offsets_for_times({tp: mid[4]})
            assert res[tp] is not None, f"offsets_for_times({mid[4]}) returned None for {tp}"
            assert res[tp].offset == mid[0], f"{tp}: offsets_for_times({mid[4]}) -> {res[tp]}, want {mid[0]}"
            assert res[tp].timestamp == mid[4], f"{tp}: {res[tp]}"
            # a timestamp between two records -> the later record
            if len(exp) >= 2:
                a, b = exp[0], exp[1]
                between = a[4] + 1
                assert between <= b[4]
                res = consumer.offsets_for_times({tp: between})
                assert res[tp] is not None and res[tp].offset == b[0], f"{tp}: {between} -> {res[tp]}, want {b[0]}"
                assert res[tp].timestamp == b[4]
            # before everything -> first record
            res = consumer.offsets_for_times({tp: base_ts - 100_000})
            assert res[tp] is not None and res[tp].offset == 0, f"{tp}: early ts -> {res[tp]}"
            assert res[tp].timestamp == exp[0][4]
            # after everything -> None
            res = consumer.offsets_for_times({tp: base_ts + NUM_MESSAGES * 10 + 1_000_000})
            assert res[tp] is None, f"{tp}: future ts -> {res[tp]}, want None"

        # seek to an offset from offsets_for_times and re-read from there
        tp0 = TopicPartition(topic, 0)
        target = expected[0][len(expected[0]) // 2]
        off = consumer.offsets_for_times({tp0: target[4]})[tp0].offset
        consumer.assign([tp0])
        consumer.seek(tp0, off)
        rec = None
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        while rec is None and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500, max_records=1).values():
                if recs:
                    rec = recs[0]
        assert rec is not None, "no record after seek"
        assert (rec.offset, rec.key, rec.value) == (target[0], target[1], target[2])
    finally:
        consumer.close()

    # --- DeleteTopics ------------------------------------------------------------
    admin.delete_topics([topic])
    _wait_until(lambda: topic not in admin.list_topics(), 10, f"topic {topic} gone from list_topics")


def test_create_duplicate_topic_reports_error(bootstrap, admin):
    """Creating an existing topic is reported as TopicAlreadyExistsError."""
    from kafka.errors import TopicAlreadyExistsError

    topic = _unique_topic("kpy-dup")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    try:
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.delete_topics([topic])
    _wait_until(lambda: topic not in admin.list_topics(), 10, f"topic {topic} gone")


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip(bootstrap, admin, codec):
    """A compressed batch produced by kafka-python is stored as-is and read back intact,
    also when the fetch starts in the middle of the batch."""
    topic = _unique_topic(f"kpy-{codec}")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    tp = TopicPartition(topic, 0)
    n = 60
    base_ts = int(time.time() * 1000) - 600_000
    records = [
        (f"{codec}-k{i}".encode(), f"{codec} value {i} ".encode() + b"abcdefgh" * (20 + i),
         [("seq", str(i).encode())], base_ts + i)
        for i in range(n)
    ]
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        compression_type=codec,
        linger_ms=50,
        batch_size=1 << 20,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        futs = [producer.send(topic, key=k, value=v, headers=h, timestamp_ms=ts, partition=0)
                for k, v, h, ts in records]
        producer.flush(timeout=30)
        offsets = [f.get(timeout=30).offset for f in futs]
    finally:
        producer.close(timeout=10)
    assert offsets == list(range(n)), offsets

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=200,
    )
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = _consume_all(consumer, n).get(0, [])
        assert len(got) == n
        for r, (k, v, h, ts), off in zip(got, records, range(n)):
            assert (r.offset, r.key, r.value, r.timestamp) == (off, k, v, ts), f"{codec} @{off}: {r!r}"
            assert [(hk, bytes(hv)) for hk, hv in r.headers] == h

        # start in the middle of the (single, compressed) batch
        mid = n // 2 + 3
        consumer.seek(tp, mid)
        got = _consume_all(consumer, n - mid).get(0, [])
        assert [r.offset for r in got] == list(range(mid, n)), [r.offset for r in got][:10]
        assert got[0].value == records[mid][1]

        res = consumer.offsets_for_times({tp: records[mid][3]})
        assert res[tp] is not None and res[tp].offset == mid, f"{codec}: offsets_for_times -> {res[tp]}"
    finally:
        consumer.close()
        admin.delete_topics([topic])


def _kafka_python_major():
    import kafka

    return int(kafka.__version__.split(".")[0])


def test_describe_configs_and_create_partitions(bootstrap, admin):
    """DescribeConfigs shows a topic config set at creation; CreatePartitions adds
    partitions that can be produced to and consumed from."""
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions

    topic = _unique_topic("kpy-cfg")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                  topic_configs={"retention.ms": "86400000"})])
    try:
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        if isinstance(res, dict):  # kafka-python 3.x: {'topic': {name: {config: {...}}}}
            entry = res["topic"][topic]["retention.ms"]
            assert entry["value"] == "86400000", entry
            assert entry["config_source"] == "DYNAMIC_TOPIC_CONFIG", entry
        else:  # kafka-python 2.x: list of DescribeConfigsResponse
            (err, _msg, _rtype, rname, entries) = res[0].resources[0][:5]
            assert err == 0 and rname == topic
            values = {e[0]: e[1] for e in entries}
            assert values.get("retention.ms") == "86400000", values

        admin.create_partitions({topic: NewPartitions(total_count=5)})

        def partitions():
            t = [t for t in admin.describe_topics([topic]) if t.get("name", t.get("topic")) == topic]
            return t and len(t[0]["partitions"]) == 5

        _wait_until(partitions, 10, f"{topic} to have 5 partitions")

        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                                 request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
            md = producer.send(topic, key=b"k", value=b"on-new-partition", partition=4).get(timeout=30)
        finally:
            producer.close(timeout=10)
        assert (md.partition, md.offset) == (4, 0)

        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                 request_timeout_ms=REQUEST_TIMEOUT_MS, fetch_max_wait_ms=200)
        try:
            tp = TopicPartition(topic, 4)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            got = _consume_all(consumer, 1)[4]
            assert [(r.offset, r.key, r.value) for r in got] == [(0, b"k", b"on-new-partition")]
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic])


def test_describe_topics_by_id(bootstrap, admin):
    """Metadata v12 lookup by topic id (kafka-python 3.x sends the name as null)."""
    if _kafka_python_major() < 3:
        pytest.skip("describe_topics by uuid needs kafka-python 3.x")
    topic = _unique_topic("kpy-id")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    try:
        by_name = [t for t in admin.describe_topics([topic]) if t["name"] == topic][0]
        topic_id = uuid.UUID(str(by_name["topic_id"]))
        assert topic_id.int != 0
        by_id = admin.describe_topics([topic_id])
        assert len(by_id) == 1 and by_id[0]["error_code"] == 0, by_id
        assert by_id[0]["name"] == topic
        assert len(by_id[0]["partitions"]) == 2
    finally:
        admin.delete_topics([topic])


def test_topic_authorized_operations(bootstrap, admin):
    topic = _unique_topic("kpy-acl")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    try:
        t = [t for t in admin.describe_topics([topic]) if t.get("name", t.get("topic")) == topic][0]
        ops = t.get("authorized_operations")
        assert ops, f"authorized_operations={ops!r}, want the topic operations (READ, WRITE, DESCRIBE, ...)"
        assert {"READ", "WRITE", "DESCRIBE"} <= set(ops), ops
    finally:
        admin.delete_topics([topic])


# ------------------------------------------------------------------------------------------
# Consumer groups: subscribe, rebalance, commit, takeover, resume, admin group operations.

GROUP_SESSION_TIMEOUT_MS = 6000  # the broker's default group.min.session.timeout.ms
GROUP_HEARTBEAT_INTERVAL_MS = 500
GROUP_MAX_POLL_INTERVAL_MS = 15000  # also the rebalance timeout a member asks for
GROUP_DEADLINE_S = 30.0


class _Member:
    """A group consumer driven by a thread of its own: it polls all the time, keeps what it
    read and the rebalance callbacks it saw. Anything else (commit, committed, close) is
    handed to that thread, as a KafkaConsumer must be used from one thread only."""

    def __init__(self, bootstrap, group, topic, name, **config):
        self.name = name
        self.events = []  # ("revoked" | "assigned", sorted partitions)
        self.error = None
        self._records = []
        self._assignment = frozenset()
        self._lock = threading.Lock()
        self._cmds = queue.Queue()
        self._stopped = False
        member = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                member._event("revoked", revoked)

            def on_partitions_assigned(self, assigned):
                member._event("assigned", assigned)

        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=name,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=GROUP_SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=GROUP_HEARTBEAT_INTERVAL_MS,
            max_poll_interval_ms=GROUP_MAX_POLL_INTERVAL_MS,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            fetch_max_wait_ms=200,
            **config,
        )
        self.consumer.subscribe([topic], listener=Listener())
        # Have the topic's metadata before the first JoinGroup. Otherwise kafka-python 3.0.12,
        # as leader, first assigns nothing, then rejoins once the metadata arrives; and if a
        # poll() times out during that rejoin, it drops the finished JoinGroup/SyncGroup (the
        # assignment snapshot already matches, so need_rejoin() turns False): no assignment,
        # no heartbeats, evicted after session_timeout_ms. A client bug, seen here once in ~10
        # runs; the broker's JoinGroup/SyncGroup responses in it were right.
        assert self.consumer.partitions_for_topic(topic), f"{name}: no metadata for {topic}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _event(self, kind, partitions):
        with self._lock:
            self.events.append((kind, sorted(tp.partition for tp in partitions)))

    def _run(self):
        try:
            while not self._stopped:
                while not self._cmds.empty():
                    fn, done = self._cmds.get()
                    try:
                        done.put((True, fn(self.consumer)))
                    except Exception as e:  # handed back to the caller
                        done.put((False, e))
                if self._stopped:
                    break
                batch = self.consumer.poll(timeout_ms=100)
                with self._lock:
                    for recs in batch.values():
                        self._records.extend(recs)
                    self._assignment = frozenset(tp.partition for tp in self.consumer.assignment())
        except Exception as e:
            self.error = e

    def call(self, fn, timeout_s=GROUP_DEADLINE_S):
        """Runs fn(consumer) on the polling thread and returns its result."""
        if self.error is not None:
            pytest.fail(f"{self.name}: poll loop failed: {self.error!r}")
        done = queue.Queue()
        self._cmds.put((fn, done))
        try:
            ok, value = done.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"{self.name}: no answer from the polling thread within {timeout_s}s")
        if not ok:
            raise value
        return value

    def assignment(self):
        with self._lock:
            return set(self._assignment)

    def count(self):
        with self._lock:
            return len(self._records)

    def take(self):
        """The records read since the last take(), as (partition, offset, value)."""
        with self._lock:
            recs, self._records = self._records, []
        return [(r.partition, r.offset, r.value) for r in recs]

    def commit(self):
        self.call(lambda c: c.commit())

    def committed(self, topic, partitions):
        return self.call(lambda c: {p: c.committed(TopicPartition(topic, p)) for p in partitions})

    def close(self):
        """Closes the consumer (a dynamic member sends LeaveGroup); no auto-commit is on."""
        if self._stopped or not self._thread.is_alive():
            self._stopped = True
            return

        def close(c):
            c.close()
            self._stopped = True

        self.call(close)
        self._thread.join(timeout=10)


@pytest.fixture
def members(bootstrap):
    """Factory for _Member; every member still open at the end of the test is closed."""
    made = []

    def make(group, topic, name, **config):
        m = _Member(bootstrap, group, topic, name, **config)
        made.append(m)
        return m

    yield make
    for m in made:
        try:
            m.close()
        except BaseException:  # noqa: BLE001 - teardown must reach every member
            pass


def _wait_for(pred, what, members=(), timeout_s=GROUP_DEADLINE_S):
    """Waits for pred() to hold, failing early if a member's poll loop died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in members:
            if m.error is not None:
                pytest.fail(f"{m.name}: poll loop failed while waiting for {what}: {m.error!r}")
        if pred():
            return
        time.sleep(0.05)
    state = {m.name: {"assignment": sorted(m.assignment()), "read": m.count(), "events": m.events}
             for m in members}
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}; members: {state}")


def _produce_spread(bootstrap, topic, partitions, n, tag):
    """Sends n records round-robin over the partitions; returns {(partition, offset): value}."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                             linger_ms=5, request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        futs = [(f"{tag}-{i:04d}".encode(), producer.send(topic, value=f"{tag}-{i:04d}".encode(),
                                                          partition=i % partitions))
                for i in range(n)]
        producer.flush(timeout=30)
        return {(md.partition, md.offset): v for v, md in ((v, f.get(timeout=30)) for v, f in futs)}
    finally:
        producer.close(timeout=10)


def _read_exactly(members_, expected, what):
    """Waits until the members together read len(expected) records, lets a little more time
    pass for anything unexpected, then checks that exactly `expected` arrived, each record
    once, and each member only read partitions assigned to it. Returns {member name: read}."""
    _wait_for(lambda: sum(m.count() for m in members_) >= len(expected),
              f"{len(expected)} records of {what}", members_)
    time.sleep(0.5)
    got, per_member = {}, {}
    for m in members_:
        recs = m.take()
        per_member[m.name] = recs
        owned = m.assignment()
        for p, off, v in recs:
            assert p in owned, f"{what}: {m.name} read partition {p} but owns {sorted(owned)}"
            assert (p, off) not in got, f"{what}: p{p}@{off} delivered twice"
            got[(p, off)] = v
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing and not extra, f"{what}: missing {missing[:10]}, unexpected {extra[:10]}"
    assert got == expected, f"{what}: values differ"
    return per_member


def _unique_group(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_group_two_members_share_commit_takeover_resume(bootstrap, admin, members):
    """(a) two members of one group split a 4-partition topic and together read every
    record once; (b) after both commit and one closes, the other owns every partition and
    goes on from the committed offsets; (c) a fresh member resumes from the committed
    offsets: what was committed is not read again, what was read but not committed is."""
    topic = _unique_topic("kpy-grp")
    group = _unique_group("kpy-grp")
    parts = 4
    all_parts = set(range(parts))
    admin.create_topics([NewTopic(topic, num_partitions=parts, replication_factor=1)])
    try:
        m1 = members(group, topic, "kpy-member-1")
        _wait_for(lambda: m1.assignment() == all_parts, "the only member to own every partition", [m1])
        m2 = members(group, topic, "kpy-member-2")

        def shared():
            a1, a2 = m1.assignment(), m2.assignment()
            return a1 and a2 and not (a1 & a2) and (a1 | a2) == all_parts

        _wait_for(shared, "two members with disjoint non-empty assignments covering the topic", [m1, m2])
        a1, a2 = m1.assignment(), m2.assignment()

        # (a) every record exactly once, each member only from its own partitions
        batch1 = _produce_spread(bootstrap, topic, parts, 200, "b1")
        read = _read_exactly([m1, m2], batch1, "batch 1 over two members")
        assert read["kpy-member-1"] and read["kpy-member-2"], {k: len(v) for k, v in read.items()}
        assert (m1.assignment(), m2.assignment()) == (a1, a2), "assignment changed while reading"

        # (b) commit, one member leaves, the other takes over from the committed offsets
        m1.commit()
        m2.commit()
        per_part = 200 // parts
        assert m2.committed(topic, range(parts)) == {p: per_part for p in range(parts)}
        m1.close()
        _wait_for(lambda: m2.assignment() == all_parts, "the remaining member to own every partition", [m2])
        batch2 = _produce_spread(bootstrap, topic, parts, 100, "b2")
        _read_exactly([m2], batch2, "batch 2 after the takeover (batch 1 must not come back)")

        # (c) commit batch 2, read batch 3 without committing it, close; a new member
        # gets batch 3 again and nothing committed
        m2.commit()
        per_part += 100 // parts
        batch3 = _produce_spread(bootstrap, topic, parts, 40, "b3")
        _read_exactly([m2], batch3, "batch 3 before closing")
        m2.close()
        m3 = members(group, topic, "kpy-member-3")
        _read_exactly([m3], batch3, "batch 3 again by a new member (resumes at the committed offsets)")
        assert m3.assignment() == all_parts
        assert m3.committed(topic, range(parts)) == {p: per_part for p in range(parts)}
        m3.close()
    finally:
        admin.delete_topics([topic])


# KafkaAdminClient's group calls were renamed in kafka-python 3.0 (list_consumer_groups ->
# list_groups, ...) and return other shapes; these give both the same form.

def _admin_list_groups(admin):
    """{group_id: protocol_type}"""
    if hasattr(admin, "list_groups"):
        return {g["group_id"]: g["protocol_type"] for g in admin.list_groups()}
    return dict(admin.list_consumer_groups())


def _admin_describe_group(admin, group):
    """(state, protocol, [(client_id, sorted [(topic, partition)])])"""
    if hasattr(admin, "describe_groups"):
        d = admin.describe_groups([group])[group]
        assert d["error"] is None, d
        members = [(m["client_id"], sorted((a["topic"], p)
                                           for a in m["member_assignment"]["assigned_partitions"]
                                           for p in a["partitions"]))
                   for m in d["members"]]
        return d["group_state"], d["protocol_data"], members
    (d,) = admin.describe_consumer_groups([group])
    assert d.error_code == 0, d
    members = [(m.client_id, sorted((t, p) for t, ps in m.member_assignment.assignment for p in ps))
               for m in d.members]
    return d.state, d.protocol, members


def _admin_group_offsets(admin, group):
    """{TopicPartition: committed offset}"""
    if hasattr(admin, "list_group_offsets"):
        offsets = admin.list_group_offsets(group)[group]
    else:
        offsets = admin.list_consumer_group_offsets(group)
    return {tp: om.offset for tp, om in offsets.items()}


def _admin_delete_groups(admin, groups):
    """{group_id: None on success, else the Kafka error class name}"""
    if hasattr(admin, "delete_groups"):
        return {g: (None if r == "OK" else r) for g, r in admin.delete_groups(groups).items()}
    out = {}
    for g, err in admin.delete_consumer_groups(groups):
        name = type(err).__name__ if not isinstance(err, type) else err.__name__
        out[g] = None if name == "NoError" else name
    return out


def test_group_admin_list_describe_offsets_delete(bootstrap, admin, members):
    """KafkaAdminClient on a live group and after its member left: list, describe (state,
    members, assignment), committed offsets, and delete -- refused with NonEmptyGroupError
    (GROUP_NOT_EMPTY) while a member is in the group, accepted once it is empty."""
    topic = _unique_topic("kpy-grpadm")
    group = _unique_group("kpy-grpadm")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    try:
        m = members(group, topic, "kpy-admin-member")
        _wait_for(lambda: m.assignment() == {0, 1}, "the member to own both partitions", [m])
        produced = _produce_spread(bootstrap, topic, 2, 30, "adm")  # 15 per partition
        _read_exactly([m], produced, "records of the admin test")
        m.commit()
        tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

        groups = _admin_list_groups(admin)
        assert groups.get(group) == "consumer", f"{group} not listed as a consumer group: {groups}"
        state, protocol, described = _admin_describe_group(admin, group)
        assert state == "Stable", state
        assert protocol == "range", protocol
        assert described == [("kpy-admin-member", [(topic, 0), (topic, 1)])], described
        assert _admin_group_offsets(admin, group) == {tp0: 15, tp1: 15}

        # a group with a live member cannot be deleted, and is not harmed by trying
        assert _admin_delete_groups(admin, [group]) == {group: "NonEmptyGroupError"}
        if hasattr(admin, "delete_group_offsets"):  # kafka-python 3.x
            from kafka.errors import GroupSubscribedToTopicError

            res = admin.delete_group_offsets(group, [tp0])
            assert res == {tp0: GroupSubscribedToTopicError}, res
        assert _admin_describe_group(admin, group)[0] == "Stable"
        more = _produce_spread(bootstrap, topic, 2, 4, "adm2")
        _read_exactly([m], more, "records produced after the refused delete")

        m.close()
        state, _, described = _admin_describe_group(admin, group)
        assert (state, described) == ("Empty", []), (state, described)
        assert _admin_group_offsets(admin, group) == {tp0: 15, tp1: 15}, "offsets must outlive the members"

        assert _admin_delete_groups(admin, [group]) == {group: None}
        assert group not in _admin_list_groups(admin)
        assert _admin_group_offsets(admin, group) == {}
        assert _admin_describe_group(admin, group)[0] == "Dead"
        assert _admin_delete_groups(admin, [group]) == {group: "GroupIdNotFoundError"}
    finally:
        admin.delete_topics([topic])


# ------------------------------------------------------------------------------------------
# Idempotent producer and transactions (KIP-98, KIP-447). kafka-python 3.0.12 supports both:
# enable_idempotence (on by default), transactional_id with init/begin/commit/abort_transaction,
# send_offsets_to_transaction(offsets, consumer.group_metadata()), isolation_level on the
# consumer, and KafkaAdminClient list_transactions / describe_transactions.

TXN_TIMEOUT_MS = 45000  # not the client default (60000): describe_transactions must echo it


def _producer_id_and_epoch(producer):
    """(producer id, epoch) from InitProducerId; None when idempotence is off. Read from
    kafka-python's TransactionManager, which does not expose them otherwise."""
    tm = producer._transaction_manager
    if tm is None:
        return None
    return tm.producer_id_and_epoch.producer_id, tm.producer_id_and_epoch.epoch


def _txn_producer(bootstrap, transactional_id, client_id="kpy-txn-producer"):
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id,
                             transactional_id=transactional_id, transaction_timeout_ms=TXN_TIMEOUT_MS,
                             request_timeout_ms=REQUEST_TIMEOUT_MS, max_block_ms=30000)
    producer.init_transactions()
    return producer


def _isolated_consumer(bootstrap, isolation):
    return KafkaConsumer(bootstrap_servers=bootstrap, client_id=f"kpy-{isolation}", group_id=None,
                         isolation_level=isolation, enable_auto_commit=False, auto_offset_reset="earliest",
                         request_timeout_ms=REQUEST_TIMEOUT_MS, fetch_max_wait_ms=200)


def _read_topic(bootstrap, topic, partitions, isolation, expected_total, what):
    """Reads the whole topic from the beginning (assign, no group) with the given isolation
    level: exactly expected_total records, nothing more within half a second. Returns
    {(partition, offset): value}, plus the values of each partition in offset order."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer = _isolated_consumer(bootstrap, isolation)
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got = {}
        count = 0
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        while count < expected_total and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=500).items():
                got.setdefault(tp.partition, []).extend(recs)
                count += len(recs)
        extra = sum(len(r) for r in consumer.poll(timeout_ms=500).values())
    finally:
        consumer.close()
    assert count == expected_total and extra == 0, (
        f"{what} ({isolation}): read {count} records, then {extra} more; want exactly {expected_total} "
        f"(per partition: { {p: len(r) for p, r in got.items()} })")
    by_pos = {(r.partition, r.offset): r.value for recs in got.values() for r in recs}
    order = {p: [r.value for r in got.get(p, [])] for p in range(partitions)}
    return by_pos, order


def _end_offsets(bootstrap, topic, partitions, isolation):
    consumer = _isolated_consumer(bootstrap, isolation)
    try:
        res = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        consumer.close()
    return {tp.partition: o for tp, o in res.items()}


def _duplicate_markers(bootstrap, topic, partitions):
    """The race's fingerprint in a topic where one transactional producer writes at a time:
    two or more control records in a row (a transaction writes one marker to each partition
    it touched), found from the offsets the data records leave free. None if there is none."""
    found = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer = _isolated_consumer(bootstrap, "read_uncommitted")
        try:
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            offsets = {tp: [] for tp in tps}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
                for tp, recs in consumer.poll(timeout_ms=200).items():
                    offsets[tp].extend(r.offset for r in recs)
        finally:
            consumer.close()
        for tp in tps:
            prev = None
            for o in offsets[tp] + [end[tp]]:
                if prev is not None and o - prev - 1 >= 2:
                    found.append(f"{tp.topic}-{tp.partition}: {o - prev - 1} control records between offsets {prev} and {o}")
                prev = o
    except Exception:  # noqa: BLE001 - no evidence then
        return None
    return "; ".join(found[:5]) or None


class _ExplainedByTxnRace:
    """Context manager: a failure inside it that comes with the coordinator race's fingerprint
    in one of the given (topic, partitions) is reported with that evidence."""

    def __init__(self, bootstrap, *topics):
        self.bootstrap = bootstrap
        self.topics = topics

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, (Exception, pytest.fail.Exception)):
            return False
        evidence = [e for t, n in self.topics if (e := _duplicate_markers(self.bootstrap, t, n))]
        if evidence:
            raise AssertionError(f"duplicate transaction markers: {'; '.join(evidence)}") from exc
        return False


def test_idempotent_producer_round_trip(bootstrap, admin):
    """An idempotent producer (enable_idempotence=True, acks=all) gets a producer id and
    sends 600 keyed records; each partition holds them once, in send order, at contiguous
    offsets, read back alike with read_uncommitted and read_committed."""
    topic = _unique_topic("kpy-idem")
    n = 600
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="kpy-idem-producer",
                                 enable_idempotence=True, acks="all", linger_ms=5,
                                 request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
            futs = []
            for i in range(n):
                key = f"key-{i % NUM_KEYS:03d}".encode()
                value = f"idem-{i:05d}-{'q' * (i % 40)}".encode()
                futs.append((value, producer.send(topic, key=key, value=value)))
            producer.flush(timeout=30)
            metas = [(v, f.get(timeout=30)) for v, f in futs]
            pid = _producer_id_and_epoch(producer)
        finally:
            producer.close(timeout=10)
        assert pid is not None and pid[0] >= 0 and pid[1] >= 0, f"no producer id from InitProducerId: {pid}"
        expected = {(md.partition, md.offset): v for v, md in metas}
        assert len(expected) == n, "two records acknowledged at the same offset"
        sent_order = {p: [v for v, md in metas if md.partition == p] for p in range(PARTITIONS)}
        for p in range(PARTITIONS):
            offs = sorted(o for (pp, o) in expected if pp == p)
            assert offs == list(range(len(offs))), f"p{p}: offsets not contiguous from 0"
            assert [expected[(p, o)] for o in offs] == sent_order[p], f"p{p}: offsets do not follow the send order"
        assert _end_offsets(bootstrap, topic, PARTITIONS, "read_committed") == \
            _end_offsets(bootstrap, topic, PARTITIONS, "read_uncommitted"), \
            "without transactions the last stable offset must equal the high watermark"
        for iso in ("read_uncommitted", "read_committed"):
            by_pos, order = _read_topic(bootstrap, topic, PARTITIONS, iso, n, "idempotent records")
            assert by_pos == expected, f"{iso}: records differ from those acknowledged"
            assert order == sent_order, f"{iso}: not read in send order"
    finally:
        admin.delete_topics([topic])


def _raw_request(admin, request):
    """Sends one protocol request over the admin client's connection and returns the response."""

    async def send():
        return await admin._manager.send(request)

    return admin._manager.run(send)


def test_idempotent_duplicate_batches_are_deduplicated(bootstrap, admin):
    """Per-partition sequence dedupe, on the wire (a client only resends on a lost response,
    which cannot be arranged from outside): InitProducerId for an idempotent producer, then
    Produce batches with explicit sequence numbers. A resent batch -- the last one, or an
    earlier one of the last five -- is acknowledged with its original offset and not written
    again; a batch that skips sequence numbers gets OUT_OF_ORDER_SEQUENCE_NUMBER."""
    from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest
    from kafka.record.default_records import DefaultRecordBatchBuilder

    topic = _unique_topic("kpy-dedupe")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    try:
        _wait_until(lambda: topic in admin.list_topics(), 10, f"topic {topic} in list_topics")
        init = _raw_request(admin, InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60000))
        assert init.error_code == 0 and init.producer_id >= 0 and init.producer_epoch >= 0, init
        pid, epoch = init.producer_id, init.producer_epoch

        def batch(seq, values):
            b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=pid,
                                          producer_epoch=epoch, base_sequence=seq, batch_size=1 << 20)
            for i, v in enumerate(values):
                b.append(i, timestamp=None, key=None, value=v, headers=[])
            return bytes(b.build())

        def produce(records):
            Topic = ProduceRequest.TopicProduceData
            req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=REQUEST_TIMEOUT_MS,
                                 topic_data=[Topic(name=topic, partition_data=[
                                     Topic.PartitionProduceData(index=0, records=records)])],
                                 max_version=9)
            (part,) = _raw_request(admin, req).responses[0].partition_responses
            return part.error_code, part.base_offset

        a = batch(0, [b"a0", b"a1", b"a2"])
        b_ = batch(3, [b"b0", b"b1"])
        assert produce(a) == (0, 0), "first batch (sequence 0-2)"
        assert produce(b_) == (0, 3), "second batch (sequence 3-4)"
        assert produce(b_) == (0, 3), "the last batch sent again: want its original offset 3, no error"
        assert produce(a) == (0, 0), "an earlier batch (of the last five) sent again: want its original offset 0"
        err, _ = produce(batch(10, [b"gap"]))
        assert err == 45, f"a batch skipping sequences 5-9: error {err}, want 45 OUT_OF_ORDER_SEQUENCE_NUMBER"
        assert produce(batch(5, [b"c0"])) == (0, 5), "the next batch in sequence after the refused one"

        by_pos, _ = _read_topic(bootstrap, topic, 1, "read_uncommitted", 6, "deduplicated partition")
        assert by_pos == {(0, 0): b"a0", (0, 1): b"a1", (0, 2): b"a2", (0, 3): b"b0", (0, 4): b"b1",
                          (0, 5): b"c0"}, by_pos
    finally:
        admin.delete_topics([topic])


def test_transactions_commit_abort_read_committed(bootstrap, admin):
    """A transactional producer over 3 partitions: a committed transaction, an aborted one,
    and a third first left open -- read_committed stops before it (end_offsets is the last
    stable offset), read_uncommitted sees it -- then committed. read_committed reads only the
    committed records, read_uncommitted all; the markers are never returned and take one
    offset each."""
    topic = _unique_topic("kpy-txn")
    txn_id = _unique_group("kpy-txn-id")
    per_txn = 30
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    producer = _txn_producer(bootstrap, txn_id)
    try:
        with _ExplainedByTxnRace(bootstrap, (topic, PARTITIONS)):
            committed, aborted = {}, {}
            open_first, open_last = {}, {}
            for tag in ("commit-1", "abort-2", "commit-3"):
                producer.begin_transaction()
                futs = [(f"{tag}-{i:02d}".encode(),
                         producer.send(topic, key=f"k{i}".encode(), value=f"{tag}-{i:02d}".encode(),
                                       partition=i % PARTITIONS))
                        for i in range(per_txn)]
                producer.flush(timeout=30)
                for v, f in futs:
                    md = f.get(timeout=30)
                    (aborted if tag.startswith("abort") else committed)[(md.partition, md.offset)] = v
                    if tag == "commit-3":
                        open_first[md.partition] = min(open_first.get(md.partition, md.offset), md.offset)
                        open_last[md.partition] = max(open_last.get(md.partition, md.offset), md.offset)
                if tag == "commit-1":
                    producer.commit_transaction()
                elif tag == "abort-2":
                    producer.abort_transaction()

            # the third transaction is open
            lso = _end_offsets(bootstrap, topic, PARTITIONS, "read_committed")
            hw = _end_offsets(bootstrap, topic, PARTITIONS, "read_uncommitted")
            assert lso == open_first, f"read_committed end_offsets with a transaction open: {lso}, want {open_first}"
            assert hw == {p: o + 1 for p, o in open_last.items()}, f"read_uncommitted end_offsets: {hw}"
            before = {pos: v for pos, v in committed.items() if not v.startswith(b"commit-3")}
            got, _ = _read_topic(bootstrap, topic, PARTITIONS, "read_committed", len(before),
                                 "with the third transaction open")
            assert got == before, f"read_committed with the third transaction open: {sorted(got)}"
            producer.commit_transaction()

            got, _ = _read_topic(bootstrap, topic, PARTITIONS, "read_committed", len(committed), "committed records")
            assert got == committed, f"read_committed: {sorted(got)}, want {sorted(committed)}"
            everything = {**committed, **aborted}
            got, _ = _read_topic(bootstrap, topic, PARTITIONS, "read_uncommitted", len(everything), "all records")
            assert got == everything, f"read_uncommitted: {sorted(got)}, want {sorted(everything)}"
            end = {p: o + 2 for p, o in open_last.items()}  # + the commit marker
            assert _end_offsets(bootstrap, topic, PARTITIONS, "read_committed") == end, \
                "end offsets after the commit (one offset per marker)"
    finally:
        producer.close(timeout=10)
        admin.delete_topics([topic])


def _fenced(exc):
    """Whether exc says the producer was fenced. Once in that (fatal) state, kafka-python's
    transactional methods raise KafkaError("Cannot execute transactional method because we
    are in an error state: <the error>"), the error only in the message."""
    from kafka.errors import InvalidProducerEpochError, KafkaError, ProducerFencedError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ProducerFencedError, InvalidProducerEpochError)):
            return True
        if type(exc) is KafkaError and "in an error state" in str(exc) and (
                "ProducerFencedError" in str(exc) or "InvalidProducerEpochError" in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _expect_fenced(what, op):
    try:
        op()
    except Exception as e:  # noqa: BLE001 - checked below
        assert _fenced(e), f"{what}: {e!r}, want ProducerFencedError or InvalidProducerEpochError"
    else:
        pytest.fail(f"{what} succeeded, though another producer took its transactional id")


def test_transactions_zombie_fenced(bootstrap, admin):
    """Each newer producer with the same transactional_id fences the one before, which has a
    transaction open with a record written to p0. The zombie's next call fails with
    ProducerFencedError (or InvalidProducerEpochError): a send to a new partition
    (AddPartitionsToTxn) for the first zombie, commit_transaction (EndTxn) for the second;
    then anything it tries. None of their records is visible read_committed; the last
    producer commits normally. (A send to a partition already in the transaction is
    test_transactions_zombie_produce_cannot_fence_its_successor.)"""
    topic = _unique_topic("kpy-zombie")
    txn_id = _unique_group("kpy-zombie-id")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    producers = []
    try:
        with _ExplainedByTxnRace(bootstrap, (topic, 2)):
            ids = []
            for name in ("zombie-add-partitions", "zombie-end-txn", "survivor"):
                cur = _txn_producer(bootstrap, txn_id, f"kpy-{name}")  # fences the one before
                producers.append(cur)
                ids.append(_producer_id_and_epoch(cur))
                if len(producers) > 1:
                    zombie = producers[-2]
                    if name == "zombie-end-txn":  # the zombie is zombie-add-partitions
                        _expect_fenced("zombie send to a new partition (AddPartitionsToTxn)",
                                       lambda: zombie.send(topic, value=b"zombie-2", partition=1).get(timeout=30))
                    else:
                        _expect_fenced("zombie commit_transaction (EndTxn)", zombie.commit_transaction)
                    _expect_fenced("zombie commit_transaction after being fenced", zombie.commit_transaction)
                cur.begin_transaction()
                cur.send(topic, value=f"{name}-1".encode(), partition=0).get(timeout=30)
            producers[-1].commit_transaction()
            for a, b in zip(ids, ids[1:]):
                assert (b[0] == a[0] and b[1] > a[1]) or b[0] > a[0], f"{b} after {a}: want a higher epoch"
            got, _ = _read_topic(bootstrap, topic, 2, "read_committed", 1, "after the fencing")
            assert list(got.values()) == [b"survivor-1"], got
            _read_topic(bootstrap, topic, 2, "read_uncommitted", 3, "every record written, the zombies' too")
    finally:
        for p in producers:
            p.close(timeout=5)
        admin.delete_topics([topic])


def test_transactions_zombie_produce_cannot_fence_its_successor(bootstrap, admin):
    """A zombie whose send to a partition already in its transaction gets
    INVALID_PRODUCER_EPOCH: kafka-python then tries a KIP-360 epoch bump (InitProducerId with
    its producer id and old epoch), which the coordinator must refuse. The new producer keeps
    its epoch and commits."""
    topic = _unique_topic("kpy-zombie-bump")
    txn_id = _unique_group("kpy-zombie-bump-id")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    zombie = _txn_producer(bootstrap, txn_id, "kpy-zombie")
    fresh = None
    try:
        zombie.begin_transaction()
        zombie.send(topic, value=b"zombie-1", partition=0).get(timeout=30)
        old = _producer_id_and_epoch(zombie)
        fresh = _txn_producer(bootstrap, txn_id, "kpy-fresh")
        mine = _producer_id_and_epoch(fresh)
        _expect_fenced("zombie send to p0 (Produce)",
                       lambda: zombie.send(topic, value=b"zombie-2", partition=0).get(timeout=30))
        # the bump is refused (a fatal ProducerFencedError) or, wrongly, granted (a new epoch)
        tm = zombie._transaction_manager
        _wait_until(lambda: tm.has_fatal_error() or _producer_id_and_epoch(zombie) != old, 10,
                    "the zombie's epoch bump attempt (InitProducerId) to be answered")
        d = admin.describe_transactions([txn_id])[txn_id]
        assert (d.producer_id, d.producer_epoch) == mine, (
            f"after the zombie's InitProducerId bump the coordinator has producer {d.producer_id} epoch "
            f"{d.producer_epoch}; the current producer holds {mine}")
        fresh.begin_transaction()
        fresh.send(topic, value=b"fresh-1", partition=0).get(timeout=30)
        fresh.commit_transaction()
        got, _ = _read_topic(bootstrap, topic, 1, "read_committed", 1, "after the fencing")
        assert list(got.values()) == [b"fresh-1"], got
    finally:
        zombie.close(timeout=5)
        if fresh is not None:
            fresh.close(timeout=5)
        admin.delete_topics([topic])


def test_init_producer_id_with_a_stale_epoch_is_fenced(admin):
    """On the wire: InitProducerId for a transactional id twice (epochs e, e+1), then once
    more carrying the first answer's producer id and epoch (a KIP-360 bump by the fenced
    producer): Kafka answers PRODUCER_FENCED (90; INVALID_PRODUCER_EPOCH 47 before v4) and
    leaves the epoch at e+1."""
    from kafka.protocol.producer import InitProducerIdRequest

    txn_id = _unique_group("kpy-stale-bump")
    first = _raw_request(admin, InitProducerIdRequest(transactional_id=txn_id, transaction_timeout_ms=60000))
    second = _raw_request(admin, InitProducerIdRequest(transactional_id=txn_id, transaction_timeout_ms=60000))
    assert first.error_code == 0 and second.error_code == 0, (first, second)
    stale = _raw_request(admin, InitProducerIdRequest(
        transactional_id=txn_id, transaction_timeout_ms=60000, producer_id=first.producer_id,
        producer_epoch=first.producer_epoch, min_version=3))
    assert stale.error_code in (90, 47), f"InitProducerId with the stale epoch {first.producer_epoch}: {stale}"
    d = admin.describe_transactions([txn_id])[txn_id]
    assert (d.producer_id, d.producer_epoch) == (second.producer_id, second.producer_epoch), d


def _in_thread(fn, timeout_s, name):
    """Runs fn() on a thread of its own (its clients live and die there); returns its
    result, fails the test if it raised or did not finish in time."""
    out = queue.Queue()

    def run():
        try:
            out.put((True, fn()))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            out.put((False, e))

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        ok, value = out.get(timeout=timeout_s)
    except queue.Empty:
        pytest.fail(f"{name}: did not finish within {timeout_s}s")
    if not ok:
        raise value
    return value


class _Transformer:
    """One instance of a consume-transform-produce application: a group consumer
    (read_committed) and a transactional producer; each input record becomes one output
    record in the same partition, written with the consumer's offsets in one transaction."""

    def __init__(self, bootstrap, name, group, txn_id, input_topic, output_topic):
        self.name = name
        self.output = output_topic
        self.producer = _txn_producer(bootstrap, txn_id, f"{name}-producer")  # aborts a crashed predecessor
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id=f"{name}-consumer", group_id=group,
            isolation_level="read_committed", enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=25, session_timeout_ms=GROUP_SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=GROUP_HEARTBEAT_INTERVAL_MS, max_poll_interval_ms=GROUP_MAX_POLL_INTERVAL_MS,
            request_timeout_ms=REQUEST_TIMEOUT_MS, fetch_max_wait_ms=200)
        self.consumer.subscribe([input_topic])
        self.committed = []  # input (partition, offset) of each record of a committed transaction

    def poll_some(self):
        deadline = time.monotonic() + GROUP_DEADLINE_S
        while time.monotonic() < deadline:
            recs = [r for rs in self.consumer.poll(timeout_ms=200).values() for r in rs]
            if recs:
                return recs
        raise AssertionError(f"{self.name}: no input within {GROUP_DEADLINE_S}s "
                             f"(assignment {self.consumer.assignment()})")

    def transform(self, recs, commit=True):
        from kafka.structs import OffsetAndMetadata

        self.producer.begin_transaction()
        futs, nxt = [], {}
        for r in recs:
            futs.append(self.producer.send(self.output, key=r.key, value=b"T(" + r.value + b")",
                                           partition=r.partition,
                                           headers=[("src", f"{r.partition}@{r.offset}".encode())]))
            nxt[TopicPartition(r.topic, r.partition)] = OffsetAndMetadata(r.offset + 1, "", -1)
        self.producer.flush(timeout=30)
        for f in futs:
            f.get(timeout=30)
        self.producer.send_offsets_to_transaction(nxt, self.consumer.group_metadata())
        inputs = [(r.partition, r.offset) for r in recs]
        if commit:
            self.producer.commit_transaction()
            self.committed.extend(inputs)
        return inputs

    def crash(self):
        """Goes away mid-transaction: kafka-python's close() does not abort it."""
        self.producer.close(timeout=0)
        self.consumer.close()

    def close(self):
        self.consumer.close()
        self.producer.close(timeout=10)



def test_transactions_consume_transform_produce_crash_restart(bootstrap, admin):
    """Consume-transform-produce with send_offsets_to_transaction(offsets, group_metadata()):
    the first instance commits a few transactions, then "crashes" with one open (records
    written, offsets sent); a second instance with the same transactional_id and group
    aborts it, resumes at the committed offsets and finishes. The output (read_committed)
    holds each input transformed exactly once; the group's offsets end at the input's end."""
    inp, out = _unique_topic("kpy-ctp-in"), _unique_topic("kpy-ctp-out")
    group, txn_id = _unique_group("kpy-ctp"), _unique_group("kpy-ctp-id")
    n = 150
    admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in (inp, out)])
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                 request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
            futs = [(f"in-{i:04d}".encode(), producer.send(inp, key=f"k{i}".encode(), value=f"in-{i:04d}".encode(),
                                                          partition=i % PARTITIONS)) for i in range(n)]
            producer.flush(timeout=30)
            inputs = {(md.partition, md.offset): v for v, md in ((v, f.get(timeout=30)) for v, f in futs)}
        finally:
            producer.close(timeout=10)

        def first_instance():
            t = _Transformer(bootstrap, "kpy-ctp-1", group, txn_id, inp, out)
            while len(t.committed) < 60:
                t.transform(t.poll_some())
            crashed = t.transform(t.poll_some(), commit=False)
            t.crash()
            return t.committed, crashed

        def second_instance():
            t = _Transformer(bootstrap, "kpy-ctp-2", group, txn_id, inp, out)
            try:
                deadline = time.monotonic() + GROUP_DEADLINE_S
                while len(first) + len(t.committed) < n and time.monotonic() < deadline:
                    t.transform(t.poll_some())
                extra = sum(len(r) for r in t.consumer.poll(timeout_ms=500).values())
                return t.committed, extra
            finally:
                t.close()

        with _ExplainedByTxnRace(bootstrap, (out, PARTITIONS)):
            first, crashed = _in_thread(first_instance, 60, "kpy-ctp-1")
            second, extra = _in_thread(second_instance, 60, "kpy-ctp-2")
            assert not set(first) & set(second), \
                f"instance 2 redid committed inputs {sorted(set(first) & set(second))[:10]}"
            assert len(second) == len(set(second)), "instance 2 handled an input twice"
            assert set(crashed) <= set(second), "instance 2 did not redo the crashed transaction's inputs"
            assert sorted(first + second) == sorted(inputs), \
                f"inputs handled: {len(first)} + {len(second)}, want {len(inputs)}"
            assert extra == 0, f"instance 2 got {extra} inputs beyond the end"

            consumer = _isolated_consumer(bootstrap, "read_committed")
            try:
                tps = [TopicPartition(out, p) for p in range(PARTITIONS)]
                consumer.assign(tps)
                consumer.seek_to_beginning(*tps)
                recs = [r for rs in _consume_all(consumer, n).values() for r in rs]
            finally:
                consumer.close()
            by_src = {}
            for r in recs:
                src = dict(r.headers)["src"].decode()
                assert src not in by_src, f"input {src} transformed twice in the output"
                assert src.startswith(f"{r.partition}@"), f"input {src} landed in output partition {r.partition}"
                by_src[src] = r.value
            assert by_src == {f"{p}@{o}": b"T(" + v + b")" for (p, o), v in inputs.items()}
            _read_topic(bootstrap, out, PARTITIONS, "read_uncommitted", n + len(crashed),
                        "the output with the crashed transaction's aborted records")
            assert _admin_group_offsets(admin, group) == {TopicPartition(inp, p): n // PARTITIONS
                                                          for p in range(PARTITIONS)}
    finally:
        admin.delete_topics([inp, out])


def test_admin_list_describe_transactions(bootstrap, admin):
    """KafkaAdminClient list_transactions / describe_transactions: an open transaction
    (Ongoing, its partitions, start time, timeout), a committed one and a fresh id (Empty);
    filters by state and producer id; an unknown id raises TransactionalIdNotFoundError."""
    from kafka.errors import TransactionalIdNotFoundError

    topic = _unique_topic("kpy-txnadm")
    prefix = _unique_group("kpy-txnadm")
    ids = {s: f"{prefix}-{s}" for s in ("ongoing", "commit", "empty")}
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    producers = {}
    try:
        for s, txn_id in ids.items():
            producers[s] = _txn_producer(bootstrap, txn_id, f"kpy-txnadm-{s}")
        start = int(time.time() * 1000)
        for s in ("ongoing", "commit"):
            p = producers[s]
            p.begin_transaction()
            p.send(topic, value=s.encode(), partition=0).get(timeout=30)
            p.send(topic, value=s.encode(), partition=1).get(timeout=30)
        producers["commit"].commit_transaction()
        pids = {s: _producer_id_and_epoch(p) for s, p in producers.items()}

        def listed(**filters):
            rows = [t for ts in admin.list_transactions(**filters).values() for t in ts
                    if t.transactional_id.startswith(prefix)]
            return {t.transactional_id: (t.state, t.producer_id) for t in rows}

        want = {ids["ongoing"]: "Ongoing", ids["commit"]: "CompleteCommit", ids["empty"]: "Empty"}
        assert listed() == {ids[s]: (want[ids[s]], pids[s][0]) for s in ids}
        assert set(listed(state_filters=["Ongoing"])) == {ids["ongoing"]}
        assert set(listed(producer_id_filters=[pids["commit"][0]])) == {ids["commit"]}

        d = admin.describe_transactions(list(ids.values()))
        for s, txn_id in ids.items():
            td = d[txn_id]
            assert (td.state, td.producer_id, td.producer_epoch) == (want[txn_id], *pids[s]), td
            assert td.coordinator_id == 0 and td.transaction_timeout_ms == TXN_TIMEOUT_MS, td
        td = d[ids["ongoing"]]
        assert td.topic_partitions == {TopicPartition(topic, 0), TopicPartition(topic, 1)}, td
        assert start - 1000 <= td.transaction_start_time_ms <= int(time.time() * 1000), td
        assert d[ids["empty"]].topic_partitions == set(), d[ids["empty"]]
        with pytest.raises(TransactionalIdNotFoundError):
            admin.describe_transactions([f"{prefix}-unknown"])
        producers["ongoing"].commit_transaction()
        assert admin.describe_transactions([ids["ongoing"]])[ids["ongoing"]].state == "CompleteCommit"
    finally:
        for p in producers.values():
            p.close(timeout=10)
        admin.delete_topics([topic])


def test_admin_describe_completed_transaction_has_no_partitions(bootstrap, admin):
    topic = _unique_topic("kpy-txndone")
    prefix = _unique_group("kpy-txndone")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    try:
        for end in ("commit", "abort"):
            p = _txn_producer(bootstrap, f"{prefix}-{end}", f"kpy-txndone-{end}")
            try:
                p.begin_transaction()
                p.send(topic, value=b"x", partition=0).get(timeout=30)
                p.send(topic, value=b"x", partition=1).get(timeout=30)
                p.commit_transaction() if end == "commit" else p.abort_transaction()
            finally:
                p.close(timeout=10)
        d = admin.describe_transactions([f"{prefix}-commit", f"{prefix}-abort"])
        assert (d[f"{prefix}-commit"].state, d[f"{prefix}-commit"].topic_partitions) == ("CompleteCommit", set()), d
        assert (d[f"{prefix}-abort"].state, d[f"{prefix}-abort"].topic_partitions) == ("CompleteAbort", set()), d
    finally:
        admin.delete_topics([topic])


def test_transactions_back_to_back_commit_abort(bootstrap, admin):
    """Back-to-back transactions over 3 partitions, alternately committed and aborted, one
    record per partition each: every commit and abort succeeds, read_committed sees exactly
    the committed records, and each partition holds one marker per transaction."""
    topic = _unique_topic("kpy-txn-b2b")
    n = 300
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    producer = _txn_producer(bootstrap, _unique_group("kpy-txn-b2b-id"))
    try:
        committed = {}
        for i in range(n):
            producer.begin_transaction()
            futs = [producer.send(topic, value=f"t{i}-p{p}".encode(), partition=p) for p in range(PARTITIONS)]
            sent = {(md.partition, md.offset): f"t{i}-p{md.partition}".encode()
                    for md in (f.get(timeout=30) for f in futs)}
            try:
                if i % 2 == 0:
                    producer.commit_transaction()
                    committed.update(sent)
                else:
                    producer.abort_transaction()
            except Exception as e:  # noqa: BLE001 - reported with the evidence
                pytest.fail(f"transaction {i} ({'commit' if i % 2 == 0 else 'abort'}) failed: {e!r}; "
                            f"{_duplicate_markers(bootstrap, topic, PARTITIONS)}")
        got, _ = _read_topic(bootstrap, topic, PARTITIONS, "read_committed", len(committed), "committed records")
        assert got == committed, (f"read_committed: missing {sorted(set(committed) - set(got))[:10]}, "
                                  f"aborted but visible {sorted(set(got) - set(committed))[:10]}")
        end = _end_offsets(bootstrap, topic, PARTITIONS, "read_uncommitted")
        assert end == {p: 2 * n for p in range(PARTITIONS)}, \
            f"end offsets {end}, want {2 * n}: {_duplicate_markers(bootstrap, topic, PARTITIONS)}"
    finally:
        producer.close(timeout=5)
        admin.delete_topics([topic])
