"""The web console on the admin listener, driven in headless Chromium by Playwright.

kafka-python produces records with known keys, values (text and binary), headers and
timestamps, gzip-compressed, and commits a group's offsets; the browser must then show the
topic with its partition count and high watermarks, those records at the right offsets when
browsing by offset and by time, the group's lag equal to ListOffsets latest minus the
committed offset (and following new records without a reload), the broker in the broker
list, live charts, and the broker's reason for bad input.

MYELIN_ADMIN is the listener's host:port and MYELIN_BOOTSTRAP the Kafka listener
(scripts/client-tests sets both). The browser is the system's Chromium (Debian's `chromium`,
which .ci/run installs; MYELIN_CHROMIUM names another); Playwright's own browser downloads
are never used. Without a Chromium the tests skip locally and fail under CI."""

import datetime
import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from playwright.sync_api import expect, sync_playwright

ADMIN = os.environ.get("MYELIN_ADMIN")
BOOTSTRAP = os.environ.get("MYELIN_BOOTSTRAP", "127.0.0.1:9092")
# The console polls every 2 s by default; the tests ask for 300 ms so they wait less.
POLL_MS = 300


def find_chromium():
    named = os.environ.get("MYELIN_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("no Chromium on the CI machine: .ci/run must install Debian's chromium")

pytestmark = [
    pytest.mark.skipif(not ADMIN, reason="MYELIN_ADMIN is not set"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium here (apt-get install chromium, or set MYELIN_CHROMIUM)",
    ),
    pytest.mark.timeout(180),
]

# Records produced to partition 1 of the browsed topic: ten text records, then a binary one.
TEXT_RECORDS = 10
BASE_MS = (int(time.time() * 1000) // 1000 - 3600) * 1000


def text_record(i):
    return {
        "key": f"key-{i}".encode(),
        "value": f"value-{i} ✓".encode(),
        "headers": [("trace", f"t{i}".encode()), ("n", str(i).encode())],
        "timestamp_ms": BASE_MS + i * 1000,
    }


BINARY_VALUE = bytes([0x00, 0xFF, 0x10, 0x20])


def get_json(path):
    try:
        with urllib.request.urlopen(f"http://{ADMIN}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), json.loads(e.read())


def create_topic(partitions, configs=None):
    name = f"console-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics(
        [
            NewTopic(
                name, num_partitions=partitions, replication_factor=1, topic_configs=configs or {}
            )
        ]
    )
    admin.close()
    return name


@pytest.fixture(scope="module")
def browsed():
    """A topic of three partitions: partition 1 holds the known records at offsets 0..10,
    partition 0 five plain ones, partition 2 none."""
    topic = create_topic(3, {"retention.ms": "3600000"})
    producer = KafkaProducer(
        bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=50, compression_type="gzip"
    )
    sent = [producer.send(topic, partition=1, **text_record(i)) for i in range(TEXT_RECORDS)]
    sent.append(
        producer.send(
            topic,
            partition=1,
            key=None,
            value=BINARY_VALUE,
            headers=[("bin", b"\x00\x01")],
            timestamp_ms=BASE_MS + TEXT_RECORDS * 1000,
        )
    )
    for i in range(5):
        producer.send(topic, partition=0, value=f"p0-{i}".encode())
    producer.flush()
    producer.close()
    offsets = [f.get(timeout=10).offset for f in sent]
    assert offsets == list(range(TEXT_RECORDS + 1))
    return topic


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Root in a container has no user namespaces for Chromium's sandbox.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"the console threw: {errors}"


def open_view(page, hash_):
    page.goto(f"http://{ADMIN}/?poll={POLL_MS}#{hash_}")


def node_id():
    status, _, doc = get_json("/v1/health")
    assert status == 200
    return doc["node_id"]


def test_the_page_and_its_files_are_served(page):
    open_view(page, "/overview")
    expect(page).to_have_title("Myelin console")
    expect(page.locator("#health")).to_contain_text(f"node {node_id()} · ready")
    assert page.evaluate("() => typeof uPlot") == "function"


def test_broker_list_shows_the_node(page):
    me = node_id()
    port = BOOTSTRAP.rsplit(":", 1)[1]
    open_view(page, "/brokers")
    row = page.locator(f'#brokers tr[data-node="{me}"]')
    expect(row.locator('[data-field="status"]')).to_have_text("active")
    expect(row.locator('[data-field="role"]')).to_contain_text("this broker")
    expect(row.locator('[data-field="listeners"]')).to_contain_text(f":{port}")


def test_topic_shows_partitions_and_high_watermarks(page, browsed):
    me = str(node_id())
    open_view(page, "/topics")
    row = page.locator(f'#topics tr[data-topic="{browsed}"]')
    expect(row.locator('[data-field="partitions"]')).to_have_text("3")
    expect(row.locator('[data-field="high-watermark"]')).to_have_text(str(TEXT_RECORDS + 1 + 5))
    row.locator("a").click()
    expect(page.locator("h1")).to_have_text(f"Topic {browsed}")
    parts = page.locator("#partitions")
    for partition, hw in [(0, 5), (1, TEXT_RECORDS + 1), (2, 0)]:
        p = parts.locator(f'tr[data-partition="{partition}"]')
        expect(p.locator('[data-field="high-watermark"]')).to_have_text(str(hw))
        expect(p.locator('[data-field="log-start-offset"]')).to_have_text("0")
        expect(p.locator('[data-field="leader"]')).to_have_text(me)
        expect(p.locator('[data-field="replicas"]')).to_have_text(me)
        expect(p.locator('[data-field="isr"]')).to_have_text(me)
    retention = page.locator('#configs tr[data-config="retention.ms"]')
    expect(retention.locator('[data-field="value"]')).to_have_text("3600000")
    expect(retention.locator('[data-field="source"]')).to_have_text("topic")
    expect(
        page.locator('#configs tr[data-config="cleanup.policy"] [data-field="source"]')
    ).to_have_text("default")


def read_in_form(page, topic, partition, mode, limit, offset=None, timestamp=None, hex_=False):
    """Fills the message browser's form and reads; the page then shows the new result."""
    form = page.locator("#browse")
    form.locator("#topic").fill(topic)
    form.locator("#partition").fill(str(partition))
    form.locator("#mode").select_option(mode)
    if offset is not None:
        form.locator("#offset").fill(str(offset))
    if timestamp is not None:
        form.locator("#timestamp").fill(str(timestamp))
    form.locator("#limit").fill(str(limit))
    form.locator("#hex").set_checked(hex_)
    form.locator("#read").click()


def expect_first(page, offset):
    """Waits until the first record shown is at `offset` (the previous page is gone)."""
    expect(page.locator("#messages tbody tr").first).to_have_attribute("data-offset", str(offset))


def shown_offsets(page):
    rows = page.locator("#messages tbody tr")
    return [int(r.get_attribute("data-offset")) for r in rows.all()]


def test_message_browser_by_offset(page, browsed):
    open_view(page, "/messages")
    read_in_form(page, browsed, 1, "offset", 4, offset=3)
    expect_first(page, 3)
    expect(page.locator("#messages tbody tr")).to_have_count(4)
    assert shown_offsets(page) == [3, 4, 5, 6]
    for i in range(3, 7):
        row = page.locator(f'#messages tr[data-offset="{i}"]')
        expect(row.locator("td.key")).to_have_text(f"key-{i}")
        expect(row.locator("td.value")).to_have_text(f"value-{i} ✓")
        expect(row.locator('td.headers .header[data-key="trace"]')).to_have_text(f"trace: t{i}")
        expect(row.locator('td.headers .header[data-key="n"]')).to_have_text(f"n: {i}")
        ts = row.locator('[data-field="timestamp"]')
        assert ts.get_attribute("data-ms") == str(BASE_MS + i * 1000)
    expect(page.locator("#messages-summary")).to_contain_text(
        f"high watermark {TEXT_RECORDS + 1}"
    )

    # The binary record: no key, the value in hex, a binary header value in hex.
    read_in_form(page, browsed, 1, "offset", 5, offset=TEXT_RECORDS)
    expect_first(page, TEXT_RECORDS)
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    row = page.locator(f'#messages tr[data-offset="{TEXT_RECORDS}"]')
    expect(row.locator("td.key")).to_have_text("null")
    value = row.locator("td.value .payload")
    expect(value).to_have_text(BINARY_VALUE.hex())
    assert value.get_attribute("data-encoding") == "hex"
    expect(row.locator('td.headers .header[data-key="bin"]')).to_have_text("bin: 0001")

    # The hex switch shows text values as their bytes.
    read_in_form(page, browsed, 1, "offset", 1, offset=2, hex_=True)
    expect_first(page, 2)
    expect(page.locator('#messages tr[data-offset="2"] td.key')).to_have_text(b"key-2".hex())

    # Following "Next page" continues where the page ended.
    read_in_form(page, browsed, 1, "offset", 3, offset=0)
    expect_first(page, 0)
    expect(page.locator('#messages tr[data-offset="0"] td.key')).to_have_text("key-0")
    page.locator("#next-page").click()
    expect_first(page, 3)
    assert shown_offsets(page) == [3, 4, 5]


def test_message_browser_by_time(page, browsed):
    open_view(page, "/messages")
    # Exactly a record's timestamp: that record is the first shown.
    read_in_form(page, browsed, 1, "timestamp", 3, timestamp=BASE_MS + 5000)
    expect_first(page, 5)
    assert shown_offsets(page) == [5, 6, 7]
    expect(page.locator('#messages tr[data-offset="5"] td.key')).to_have_text("key-5")
    # Between two records, written as a date: the first at or after it.
    when = datetime.datetime.fromtimestamp((BASE_MS + 6500) / 1000, datetime.timezone.utc)
    iso = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    read_in_form(page, browsed, 1, "timestamp", 2, timestamp=iso)
    expect_first(page, 7)
    assert shown_offsets(page) == [7, 8]
    # After every record: nothing to show.
    read_in_form(page, browsed, 1, "timestamp", 2, timestamp=BASE_MS + 3_600_000)
    expect(page.locator("#no-messages")).to_be_visible()


def test_newest_messages_by_default(page, browsed):
    open_view(page, "/messages")
    read_in_form(page, browsed, 0, "newest", 2)
    expect_first(page, 3)
    assert shown_offsets(page) == [3, 4]
    expect(page.locator('#messages tr[data-offset="4"] td.value')).to_have_text("p0-4")


def test_group_lag_is_latest_minus_committed(page):
    topic = create_topic(2)
    group = f"console-g-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    for i in range(12):
        producer.send(topic, partition=i % 2, value=b"x")
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    consumer.assign(tps)
    consumer.commit({tps[0]: OffsetAndMetadata(2, "", -1), tps[1]: OffsetAndMetadata(5, "", -1)})

    def expected():
        latest = consumer.end_offsets(tps)
        return {tp.partition: latest[tp] - consumer.committed(tp) for tp in tps}

    lags = expected()
    assert lags == {0: 4, 1: 1}
    open_view(page, "/groups")
    section = page.locator(f'section[data-group="{group}"]')
    for p, lag in lags.items():
        row = section.locator(f'tr[data-topic="{topic}"][data-partition="{p}"]')
        expect(row.locator('[data-field="lag"]')).to_have_text(str(lag))
        expect(row.locator('[data-field="committed"]')).to_have_text(str(2 if p == 0 else 5))
    expect(section.locator('[data-field="total-lag"]')).to_have_text("total lag 5")
    expect(section.locator(".uplot canvas")).to_have_count(1)

    # New records move the lag in the open page, without a reload.
    for _ in range(3):
        producer.send(topic, partition=1, value=b"y")
    producer.flush()
    producer.close()
    lags = expected()
    consumer.close()
    assert lags == {0: 4, 1: 4}
    row = section.locator(f'tr[data-topic="{topic}"][data-partition="1"]')
    expect(row.locator('[data-field="lag"]')).to_have_text(str(lags[1]))
    # The chart has the history: at least two polls of this group's lag.
    points = page.evaluate("() => state.lag.times.length")
    assert points >= 2


def test_overview_charts_throughput(page):
    topic = create_topic(1)
    open_view(page, "/overview")
    expect(page.locator(".charts .uplot")).to_have_count(6)
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    deadline = time.time() + 15
    # Keep producing until a poll has seen bytes arrive.
    while True:
        for _ in range(20):
            producer.send(topic, value=b"z" * 1000)
        producer.flush()
        produced = page.evaluate(
            "() => summarySeries([counterRate('bytes_in')])[1].some((v) => v > 0)"
        )
        if produced:
            break
        assert time.time() < deadline, "no produce rate was charted"
        time.sleep(POLL_MS / 1000)
    producer.close()
    expect(page.locator('[data-field="bytes-in-total"] .stat-value')).not_to_have_text("0 B")
    latency = page.evaluate(
        "() => summarySeries([latencyQuantile('Produce', 0.99)])[1].filter((v) => v !== null)"
    )
    assert latency and all(0 < v < 60_000 for v in latency)


def test_bad_input_is_a_json_4xx(page, browsed):
    cases = [
        ("/v1/messages", 400, "topic is required"),
        ("/v1/messages?topic=no-such-topic-here", 404, "unknown topic"),
        (f"/v1/messages?topic={browsed}&partition=99", 404, "has 3 partitions"),
        (f"/v1/messages?topic={browsed}&partition=x", 400, "partition must be an integer"),
        (f"/v1/messages?topic={browsed}&offset=abc", 400, "offset must be an integer"),
        (f"/v1/messages?topic={browsed}&offset=-4", 400, "offset must be in"),
        (f"/v1/messages?topic={browsed}&partition=1&offset=1000", 400, "outside [0, 11]"),
        (f"/v1/messages?topic={browsed}&timestamp=soon", 400, "timestamp must be"),
        (f"/v1/messages?topic={browsed}&offset=1&timestamp=1", 400, "not both"),
        (f"/v1/messages?topic={browsed}&limit=0", 400, "limit must be in"),
        (f"/v1/messages?topic={browsed}&bogus=1", 400, "unknown parameter"),
        ("/v1/messages?topic=%ZZ", 400, "percent"),
        ("/v1/nothing", 404, "no endpoint"),
    ]
    for path, status, why in cases:
        got, content_type, doc = get_json(path)
        assert (got, content_type) == (status, "application/json"), path
        assert why in doc["error"], (path, doc)
    status, _, doc = get_json(f"/v1/messages?topic={browsed}&partition=1&offset=0&limit=100000")
    assert status == 200 and doc["limit"] == 100
    assert [m["offset"] for m in doc["messages"]] == list(range(TEXT_RECORDS + 1))

    # The console shows the broker's reason.
    open_view(page, "/messages?topic=no-such-topic-here&partition=0")
    expect(page.locator("#messages-out .error")).to_contain_text("unknown topic no-such-topic-here")
    assert get_json("/v1/health")[0] == 200
