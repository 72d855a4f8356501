"""The admin HTTP listener seen from outside: `/metrics` parsed by the Prometheus client
library's own text-format parser, its values moving as kafka-python's produce, consume and
commit say they should, and the lag it reports equal to ListOffsets latest minus the committed
offset. MYELIN_ADMIN is the listener's host:port (scripts/client-tests sets it)."""

import json
import os
import time
import urllib.request
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from prometheus_client.parser import text_string_to_metric_families

ADMIN = os.environ.get("MYELIN_ADMIN")
BOOTSTRAP = os.environ.get("MYELIN_BOOTSTRAP", "127.0.0.1:9092")
pytestmark = [
    pytest.mark.skipif(not ADMIN, reason="MYELIN_ADMIN is not set"),
    pytest.mark.timeout(120),
]


def get(path):
    try:
        with urllib.request.urlopen(f"http://{ADMIN}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def scrape():
    status, content_type, text = get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    samples = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.append((s.name, s.labels, s.value))
    return samples


def total(samples, name, **labels):
    return sum(
        v
        for n, l, v in samples
        if n == name and all(l.get(k) == str(want) for k, want in labels.items())
    )


def one(samples, name, **labels):
    found = [
        v
        for n, l, v in samples
        if n == name and all(l.get(k) == str(want) for k, want in labels.items())
    ]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def wait_for(pred, what, timeout_s=20):
    deadline = time.time() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_health_is_ready():
    status, content_type, body = get("/v1/health")
    assert status == 200 and content_type == "application/json"
    doc = json.loads(body)
    assert doc["live"] is True and doc["ready"] is True and doc["fenced"] is False
    assert get("/v1/health/live")[0] == 200


def test_unknown_paths_and_methods_are_refused():
    assert get("/nope")[0] == 404
    req = urllib.request.Request(f"http://{ADMIN}/metrics", method="POST", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405


def test_metrics_follow_produce_consume_and_commit():
    topic = f"admin-http-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()

    before = scrape()
    produces_before = total(before, "myelin_requests_total", api="Produce")
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=0)
    for i in range(100):
        producer.send(topic, key=str(i).encode(), value=b"v" * 1000)
    producer.flush()

    after = wait_for(
        lambda: (s := scrape())
        and total(s, "myelin_partition_high_watermark", topic=topic) == 100
        and s,
        "the high watermark at 100",
    )
    assert one(after, "myelin_partition_log_end_offset", topic=topic, partition=0) == 100
    assert one(after, "myelin_partition_log_start_offset", topic=topic, partition=0) == 0
    assert one(after, "myelin_partition_leader", topic=topic, partition=0) == 1
    assert one(after, "myelin_partition_size_bytes", topic=topic, partition=0) >= 100 * 1000
    assert one(after, "myelin_topic_records_in_total", topic=topic) == 100
    assert one(after, "myelin_topic_bytes_in_total", topic=topic) >= 100 * 1000
    assert total(after, "myelin_requests_total", api="Produce") > produces_before
    # The produce latency histogram counted every produce answered.
    assert total(after, "myelin_request_latency_seconds_count", api="Produce") == total(
        after, "myelin_requests_total", api="Produce"
    )
    assert total(after, "myelin_log_bytes_written_total") >= 100 * 1000
    assert total(after, "myelin_append_to_durable_seconds_count") > 0
    assert total(after, "myelin_connections") >= 1
    assert one(after, "myelin_disk_free_bytes") > 0

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10000,
    )
    seen = 0
    for _ in consumer:
        seen += 1
        if seen == 100:
            break
    assert seen == 100
    consumer.commit()

    read = wait_for(
        lambda: (s := scrape())
        and total(s, "myelin_consumer_group_committed_offset", group=group) == 100
        and s,
        "the committed offset at 100",
    )
    assert one(read, "myelin_topic_bytes_out_total", topic=topic) >= 100 * 1000
    assert one(read, "myelin_consumer_group_lag_offsets", group=group, topic=topic) == 0
    assert one(read, "myelin_consumer_group_lag_seconds", group=group, topic=topic) == 0
    assert total(read, "myelin_durable_to_fetch_seconds_count") > 0

    for i in range(30):
        producer.send(topic, value=b"w" * 10)
    producer.flush()
    producer.close()
    tp = TopicPartition(topic, 0)
    latest = consumer.end_offsets([tp])[tp]
    committed = consumer.committed(tp)
    consumer.close()
    assert (latest, committed) == (130, 100)
    lagging = wait_for(
        lambda: (s := scrape())
        and one(s, "myelin_consumer_group_lag_offsets", group=group, topic=topic) == 30
        and s,
        "a lag of 30",
    )
    assert one(lagging, "myelin_consumer_group_lag_offsets", group=group, topic=topic) == (
        latest - committed
    )
    # The first unread record was produced moments ago.
    assert 0 <= one(lagging, "myelin_consumer_group_lag_seconds", group=group, topic=topic) < 60

    status, _, body = get("/v1/groups")
    assert status == 200
    doc = json.loads(body)
    mine = [g for g in doc["groups"] if g["group"] == group]
    assert mine and mine[0]["offsets"][0]["lag"] == 30
    status, _, body = get("/v1/partitions")
    parts = [p for p in json.loads(body)["partitions"] if p["topic"] == topic]
    assert parts and parts[0]["high_watermark"] == 130

    # A deleted topic leaves the per-topic counters.
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.delete_topics([topic])
    admin.close()
    wait_for(
        lambda: total(scrape(), "myelin_topic_bytes_in_total", topic=topic) == 0
        and all(l.get("topic") != topic for n, l, v in scrape() if n.startswith("myelin_topic_")),
        "the deleted topic's counters to go",
    )
