// Interoperability test: the Apache Kafka Java client (kafka-clients 3.9.1) against a
// running Myelin broker. Plain Java, no build tool: see run.sh next to this file.
//
// The broker address comes from $MYELIN_BOOTSTRAP (host:port). Exit code 0 when every
// check passes, 1 when any fails (with a FAIL line saying what), 2 on a usage/setup error.
//
// Myelin has no idempotent producer yet, so producers use enable.idempotence=false. The
// first scenarios read with assign() + seek (no group.id); the group_* scenarios use consumer
// groups with the classic protocol (group.protocol=classic: KIP-848 is not served).

import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Utils;

public final class MyelinJavaClientTest {
    static final int PARTITIONS = 3;
    static final int NUM_MESSAGES = 300;
    static final int NUM_KEYS = 37;
    static final Duration CONSUME_DEADLINE = Duration.ofSeconds(30);
    static final long OP_TIMEOUT_S = 30;
    static final long WATCHDOG_S = 240;

    static String bootstrap;

    /** One record as produced, with the position the broker acknowledged. */
    static final class Sent {
        final long offset;
        final byte[] key;
        final byte[] value;
        final List<Header> headers;
        final long ts;

        Sent(long offset, byte[] key, byte[] value, List<Header> headers, long ts) {
            this.offset = offset;
            this.key = key;
            this.value = value;
            this.headers = headers;
            this.ts = ts;
        }
    }

    static final class CheckFailed extends RuntimeException {
        CheckFailed(String msg) {
            super(msg);
        }
    }

    static void check(boolean cond, String msg) {
        if (!cond) throw new CheckFailed(msg);
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] b) {
        return b == null ? "null" : new String(b, StandardCharsets.UTF_8);
    }

    static void log(String msg) {
        System.out.println("[java-interop] " + msg);
        System.out.flush();
    }

    // ------------------------------------------------------------------------------------
    // client factories

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "myelin-interop-admin");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }

    static KafkaProducer<byte[], byte[]> producer(String compression) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "myelin-interop-producer-" + compression);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<byte[], byte[]> consumer() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "myelin-interop-consumer");
        // no group.id: manual assignment only
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "200");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    // ------------------------------------------------------------------------------------
    // helpers

    static String uniqueTopic(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    static void createTopic(Admin admin, String topic, int partitions) throws Exception {
        admin.createTopics(Collections.singleton(new NewTopic(topic, partitions, (short) 1)))
                .all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!admin.listTopics().names().get(OP_TIMEOUT_S, TimeUnit.SECONDS).contains(topic)) {
            check(System.nanoTime() < deadline, "topic " + topic + " not in listTopics 10s after createTopics");
            Thread.sleep(200);
        }
        TopicDescription d = admin.describeTopics(Collections.singleton(topic)).allTopicNames()
                .get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(topic);
        check(d != null, "describeTopics returned nothing for " + topic);
        check(d.partitions().size() == partitions,
                "describeTopics(" + topic + "): " + d.partitions().size() + " partitions, want " + partitions);
    }

    static void deleteTopic(Admin admin, String topic) throws Exception {
        admin.deleteTopics(Collections.singleton(topic)).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (admin.listTopics().names().get(OP_TIMEOUT_S, TimeUnit.SECONDS).contains(topic)) {
            check(System.nanoTime() < deadline, "topic " + topic + " still in listTopics 10s after deleteTopics");
            Thread.sleep(200);
        }
    }

    static Map<Integer, List<ConsumerRecord<byte[], byte[]>>> consumeAll(
            KafkaConsumer<byte[], byte[]> consumer, int expectedTotal) {
        Map<Integer, List<ConsumerRecord<byte[], byte[]>>> got = new HashMap<>();
        int count = 0;
        long deadline = System.nanoTime() + CONSUME_DEADLINE.toNanos();
        while (count < expectedTotal && System.nanoTime() < deadline) {
            ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(500));
            for (ConsumerRecord<byte[], byte[]> r : recs) {
                got.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r);
                count++;
            }
        }
        if (count < expectedTotal) {
            Map<Integer, Integer> per = new HashMap<>();
            got.forEach((p, l) -> per.put(p, l.size()));
            throw new CheckFailed("consumed only " + count + "/" + expectedTotal + " records within "
                    + CONSUME_DEADLINE.getSeconds() + "s (per partition: " + per + ")");
        }
        return got;
    }

    static void checkRecord(ConsumerRecord<byte[], byte[]> r, Sent e, String where) {
        check(r.offset() == e.offset, where + ": offset " + r.offset() + " != " + e.offset);
        check(Arrays.equals(r.key(), e.key), where + ": key " + s(r.key()) + " != " + s(e.key));
        check(Arrays.equals(r.value(), e.value), where + ": value " + s(r.value()) + " != " + s(e.value));
        check(r.timestamp() == e.ts, where + ": timestamp " + r.timestamp() + " != " + e.ts);
        check(r.timestampType() == TimestampType.CREATE_TIME, where + ": timestampType " + r.timestampType());
        Header[] hs = r.headers().toArray();
        check(hs.length == e.headers.size(), where + ": " + hs.length + " headers, want " + e.headers.size());
        for (int i = 0; i < hs.length; i++) {
            Header want = e.headers.get(i);
            check(hs[i].key().equals(want.key()) && Arrays.equals(hs[i].value(), want.value()),
                    where + ": header " + i + " " + hs[i].key() + "=" + s(hs[i].value())
                            + ", want " + want.key() + "=" + s(want.value()));
        }
    }

    static List<Header> headersFor(int i, byte[] value, String client) {
        CRC32 crc = new CRC32();
        crc.update(value);
        List<Header> hs = new ArrayList<>();
        hs.add(new RecordHeader("seq", b(Integer.toString(i))));
        hs.add(new RecordHeader("crc", b(Long.toString(crc.getValue()))));
        hs.add(new RecordHeader("client", b(client)));
        if (i % 10 == 0) hs.add(new RecordHeader("empty", new byte[0]));
        if (i % 25 == 0) hs.add(new RecordHeader("nullvalue", null));
        return hs;
    }

    static double producerMetric(KafkaProducer<?, ?> producer, String name) {
        for (Map.Entry<MetricName, ? extends Metric> m : producer.metrics().entrySet()) {
            if (m.getKey().group().equals("producer-metrics") && m.getKey().name().equals(name)) {
                Object v = m.getValue().metricValue();
                if (v instanceof Number) return ((Number) v).doubleValue();
            }
        }
        return Double.NaN;
    }

    // ------------------------------------------------------------------------------------
    // scenario 1: admin create -> keyed produce with headers -> assign/seek consume ->
    // offsetsForTimes -> delete

    static void scenarioRoundTrip() throws Exception {
        String topic = uniqueTopic("java-interop");
        log("round trip on topic " + topic);
        try (Admin admin = admin()) {
            createTopic(admin, topic, PARTITIONS);

            // produce
            long baseTs = System.currentTimeMillis() - 3_600_000L; // an hour ago: clearly ours
            Map<Integer, List<Sent>> expected = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) expected.put(p, new ArrayList<>());
            try (KafkaProducer<byte[], byte[]> producer = producer("none")) {
                List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
                List<Object[]> sent = new ArrayList<>();
                for (int i = 0; i < NUM_MESSAGES; i++) {
                    byte[] key = b(String.format("key-%03d", i % NUM_KEYS));
                    byte[] value = b(String.format("value-%05d-%s", i, "y".repeat(i % 50)));
                    List<Header> hs = headersFor(i, value, "kafka-clients-java");
                    long ts = baseTs + i * 10L;
                    futures.add(producer.send(new ProducerRecord<>(topic, null, ts, key, value, hs)));
                    sent.add(new Object[] {key, value, hs, ts});
                }
                producer.flush();
                for (int i = 0; i < NUM_MESSAGES; i++) {
                    RecordMetadata md = futures.get(i).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                    byte[] key = (byte[]) sent.get(i)[0];
                    int want = Utils.toPositive(Utils.murmur2(key)) % PARTITIONS;
                    check(md.topic().equals(topic), "metadata topic " + md.topic());
                    check(md.partition() == want,
                            "record " + i + " went to partition " + md.partition() + ", default partitioner says " + want);
                    @SuppressWarnings("unchecked")
                    List<Header> hs = (List<Header>) sent.get(i)[2];
                    expected.get(md.partition()).add(new Sent(md.offset(), key, (byte[]) sent.get(i)[1], hs,
                            (Long) sent.get(i)[3]));
                }
            }
            for (int p = 0; p < PARTITIONS; p++) {
                List<Sent> l = expected.get(p);
                check(!l.isEmpty(), "partition " + p + " got no records");
                for (int i = 0; i < l.size(); i++) {
                    check(l.get(i).offset == i, "partition " + p + ": acknowledged offset " + l.get(i).offset
                            + " at position " + i + " (offsets must be contiguous from 0)");
                }
            }
            log("produced " + NUM_MESSAGES + " records: per partition "
                    + expected.get(0).size() + "/" + expected.get(1).size() + "/" + expected.get(2).size());

            // consume
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) tps.add(new TopicPartition(topic, p));
            try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
                consumer.assign(tps);
                consumer.seekToBeginning(tps);

                Map<TopicPartition, Long> begin = consumer.beginningOffsets(tps);
                Map<TopicPartition, Long> end = consumer.endOffsets(tps);
                for (TopicPartition tp : tps) {
                    check(begin.get(tp) == 0L, "beginningOffsets " + tp + " = " + begin.get(tp));
                    check(end.get(tp) == expected.get(tp.partition()).size(),
                            "endOffsets " + tp + " = " + end.get(tp) + ", want " + expected.get(tp.partition()).size());
                }

                Map<Integer, List<ConsumerRecord<byte[], byte[]>>> got = consumeAll(consumer, NUM_MESSAGES);
                for (int p = 0; p < PARTITIONS; p++) {
                    List<ConsumerRecord<byte[], byte[]>> recs = got.getOrDefault(p, Collections.emptyList());
                    List<Sent> exp = expected.get(p);
                    check(recs.size() == exp.size(),
                            "partition " + p + ": consumed " + recs.size() + " records, want " + exp.size());
                    for (int i = 0; i < recs.size(); i++) {
                        checkRecord(recs.get(i), exp.get(i), "p" + p + "@" + exp.get(i).offset);
                    }
                }
                ConsumerRecords<byte[], byte[]> extra = consumer.poll(Duration.ofMillis(500));
                check(extra.isEmpty(), "unexpected extra records after the end: " + extra.count());
                log("consumed and verified " + NUM_MESSAGES + " records");

                // ListOffsets by timestamp
                for (TopicPartition tp : tps) {
                    List<Sent> exp = expected.get(tp.partition());
                    Sent mid = exp.get(exp.size() / 2);
                    OffsetAndTimestamp ot = consumer.offsetsForTimes(Collections.singletonMap(tp, mid.ts)).get(tp);
                    check(ot != null, tp + ": offsetsForTimes(" + mid.ts + ") returned null");
                    check(ot.offset() == mid.offset && ot.timestamp() == mid.ts,
                            tp + ": offsetsForTimes(" + mid.ts + ") = " + ot + ", want offset " + mid.offset);
                    if (exp.size() >= 2) {
                        long between = exp.get(0).ts + 1;
                        ot = consumer.offsetsForTimes(Collections.singletonMap(tp, between)).get(tp);
                        check(ot != null && ot.offset() == exp.get(1).offset && ot.timestamp() == exp.get(1).ts,
                                tp + ": offsetsForTimes(" + between + ") = " + ot + ", want offset " + exp.get(1).offset);
                    }
                    ot = consumer.offsetsForTimes(Collections.singletonMap(tp, baseTs - 100_000L)).get(tp);
                    check(ot != null && ot.offset() == 0 && ot.timestamp() == exp.get(0).ts,
                            tp + ": offsetsForTimes(before all) = " + ot + ", want offset 0");
                    long future = baseTs + NUM_MESSAGES * 10L + 1_000_000L;
                    ot = consumer.offsetsForTimes(Collections.singletonMap(tp, future)).get(tp);
                    check(ot == null, tp + ": offsetsForTimes(after all) = " + ot + ", want null");
                }

                // seek to the offset offsetsForTimes gave and read from there
                TopicPartition tp0 = tps.get(0);
                Sent target = expected.get(0).get(expected.get(0).size() / 2);
                long off = consumer.offsetsForTimes(Collections.singletonMap(tp0, target.ts)).get(tp0).offset();
                consumer.assign(Collections.singletonList(tp0));
                consumer.seek(tp0, off);
                ConsumerRecord<byte[], byte[]> first = null;
                long deadline = System.nanoTime() + CONSUME_DEADLINE.toNanos();
                while (first == null && System.nanoTime() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        first = r;
                        break;
                    }
                }
                check(first != null, "no record after seek(" + tp0 + ", " + off + ")");
                checkRecord(first, target, "after seek p0@" + off);
                log("offsetsForTimes verified");
            }

            deleteTopic(admin, topic);
            log("topic deleted");
        }
    }

    // ------------------------------------------------------------------------------------
    // scenario 2: one batch per compression codec on a separate topic, read back

    static void scenarioCompression() throws Exception {
        String topic = uniqueTopic("java-compress");
        log("compression on topic " + topic);
        String[] codecs = {"lz4", "snappy", "zstd", "gzip", "none"};
        int perCodec = 40;
        List<Sent> expected = new ArrayList<>();
        Map<String, long[]> ranges = new HashMap<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            long baseTs = System.currentTimeMillis() - 600_000L;
            int seq = 0;
            for (String codec : codecs) {
                try (KafkaProducer<byte[], byte[]> producer = producer(codec)) {
                    List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
                    List<Object[]> sent = new ArrayList<>();
                    for (int i = 0; i < perCodec; i++, seq++) {
                        byte[] key = b(codec + "-key-" + i);
                        // compressible payload
                        byte[] value = b(codec + " value " + i + " " + "abcdefgh".repeat(20 + i));
                        List<Header> hs = headersFor(seq, value, "kafka-clients-java/" + codec);
                        long ts = baseTs + seq;
                        futures.add(producer.send(new ProducerRecord<>(topic, 0, ts, key, value, hs)));
                        sent.add(new Object[] {key, value, hs, ts});
                    }
                    producer.flush();
                    long lo = Long.MAX_VALUE, hi = -1;
                    for (int i = 0; i < perCodec; i++) {
                        RecordMetadata md = futures.get(i).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        @SuppressWarnings("unchecked")
                        List<Header> hs = (List<Header>) sent.get(i)[2];
                        expected.add(new Sent(md.offset(), (byte[]) sent.get(i)[0], (byte[]) sent.get(i)[1], hs,
                                (Long) sent.get(i)[3]));
                        lo = Math.min(lo, md.offset());
                        hi = Math.max(hi, md.offset());
                    }
                    ranges.put(codec, new long[] {lo, hi});
                    double rate = producerMetric(producer, "compression-rate-avg");
                    log(codec + ": offsets " + lo + ".." + hi + ", producer compression-rate-avg " + rate);
                    if (!codec.equals("none")) {
                        check(rate < 0.9, codec + ": producer compression-rate-avg " + rate
                                + " (batches were not compressed?)");
                    }
                }
            }
            for (int i = 0; i < expected.size(); i++) {
                check(expected.get(i).offset == i,
                        "compression topic: acknowledged offset " + expected.get(i).offset + " at position " + i);
            }

            TopicPartition tp = new TopicPartition(topic, 0);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
                consumer.assign(Collections.singletonList(tp));
                consumer.seekToBeginning(Collections.singletonList(tp));
                List<ConsumerRecord<byte[], byte[]>> recs = consumeAll(consumer, expected.size()).get(0);
                check(recs.size() == expected.size(), "consumed " + recs.size() + ", want " + expected.size());
                for (int i = 0; i < recs.size(); i++) {
                    checkRecord(recs.get(i), expected.get(i), "compressed p0@" + i);
                }
                log("read back all " + recs.size() + " records across " + codecs.length + " codecs");

                // Fetch starting in the middle of each compressed batch: the broker returns the
                // whole batch and the client must drop the records before the fetch offset.
                for (String codec : codecs) {
                    long[] r = ranges.get(codec);
                    long mid = r[0] + (r[1] - r[0]) / 2;
                    consumer.seek(tp, mid);
                    ConsumerRecord<byte[], byte[]> first = null;
                    long deadline = System.nanoTime() + CONSUME_DEADLINE.toNanos();
                    while (first == null && System.nanoTime() < deadline) {
                        for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                            first = rec;
                            break;
                        }
                    }
                    check(first != null, codec + ": no record after seek to " + mid);
                    checkRecord(first, expected.get((int) mid), codec + ": first record after seek to " + mid);
                }
                log("mid-batch seeks verified");

                Sent t = expected.get(perCodec * 2 + 7);
                OffsetAndTimestamp ot = consumer.offsetsForTimes(Collections.singletonMap(tp, t.ts)).get(tp);
                check(ot != null && ot.offset() == t.offset,
                        "offsetsForTimes inside a compressed batch: " + ot + ", want offset " + t.offset);
            }
            deleteTopic(admin, topic);
        }
    }

    // ------------------------------------------------------------------------------------
    // scenario 3: DescribeConfigs and CreatePartitions

    static void scenarioConfigsAndPartitions() throws Exception {
        String topic = uniqueTopic("java-cfg");
        log("configs and partitions on topic " + topic);
        try (Admin admin = admin()) {
            CreateTopicsResult created = admin.createTopics(Collections.singleton(
                    new NewTopic(topic, 2, (short) 1).configs(Collections.singletonMap("retention.ms", "86400000"))));
            created.all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            check(created.numPartitions(topic).get() == 2, "CreateTopics result numPartitions "
                    + created.numPartitions(topic).get());
            check(!Uuid.ZERO_UUID.equals(created.topicId(topic).get()), "CreateTopics result has no topic id");

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config cfg = admin.describeConfigs(Collections.singleton(res)).all()
                    .get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(res);
            check(cfg != null, "describeConfigs returned nothing for " + topic);
            ConfigEntry retention = cfg.get("retention.ms");
            check(retention != null && "86400000".equals(retention.value())
                            && retention.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                    "describeConfigs retention.ms = " + retention);

            admin.createPartitions(Collections.singletonMap(topic, NewPartitions.increaseTo(5)))
                    .all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (admin.describeTopics(Collections.singleton(topic)).allTopicNames()
                    .get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(topic).partitions().size() != 5) {
                check(System.nanoTime() < deadline, topic + " does not show 5 partitions after createPartitions");
                Thread.sleep(200);
            }
            List<Header> hs = headersFor(0, b("on-new-partition"), "kafka-clients-java");
            long ts = System.currentTimeMillis() - 1000;
            RecordMetadata md;
            try (KafkaProducer<byte[], byte[]> producer = producer("none")) {
                md = producer.send(new ProducerRecord<>(topic, 4, ts, b("k"), b("on-new-partition"), hs))
                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            }
            check(md.partition() == 4 && md.offset() == 0, "produce to new partition 4: " + md);
            TopicPartition tp = new TopicPartition(topic, 4);
            try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
                consumer.assign(Collections.singletonList(tp));
                consumer.seekToBeginning(Collections.singletonList(tp));
                List<ConsumerRecord<byte[], byte[]>> recs = consumeAll(consumer, 1).get(4);
                check(recs != null && recs.size() == 1, "consumed from new partition: " + recs);
                checkRecord(recs.get(0), new Sent(0, b("k"), b("on-new-partition"), hs, ts), "p4@0");
            }
            deleteTopic(admin, topic);
        }
    }

    // ------------------------------------------------------------------------------------
    // Metadata by topic id and authorized operations (once known broker bugs, now fixed)

    /** Admin.describeTopics by topic id: Metadata v12 with topic_id set and name "". */
    static void scenarioDescribeTopicsById() throws Exception {
        String topic = uniqueTopic("java-id");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try {
                Uuid id = admin.describeTopics(Collections.singleton(topic)).allTopicNames()
                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(topic).topicId();
                check(id != null && !Uuid.ZERO_UUID.equals(id), "describeTopics by name gave topic id " + id);
                TopicDescription d = admin.describeTopics(TopicCollection.ofTopicIds(Collections.singleton(id)))
                        .allTopicIds().get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(id);
                check(d != null && d.name().equals(topic) && d.partitions().size() == 2,
                        "describeTopics by id " + id + ": " + d);
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    /** describeTopics(includeAuthorizedOperations): Metadata include_topic_authorized_operations. */
    static void scenarioAuthorizedOperations() throws Exception {
        String topic = uniqueTopic("java-acl");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try {
                TopicDescription d = admin.describeTopics(Collections.singleton(topic),
                                new DescribeTopicsOptions().includeAuthorizedOperations(true))
                        .allTopicNames().get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(topic);
                Set<AclOperation> ops = d.authorizedOperations();
                check(ops != null && ops.contains(AclOperation.READ) && ops.contains(AclOperation.WRITE)
                                && ops.contains(AclOperation.DESCRIBE),
                        "describeTopics(includeAuthorizedOperations) authorizedOperations = " + ops
                                + ", want the topic operations (READ, WRITE, DESCRIBE, ...)");
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // consumer groups (classic protocol): subscribe, rebalance, commit, takeover, admin,
    // static membership

    static final int GROUP_SESSION_TIMEOUT_MS = 6000; // the broker's default minimum
    static final int GROUP_HEARTBEAT_INTERVAL_MS = 500;
    static final int GROUP_MAX_POLL_INTERVAL_MS = 15000; // also the rebalance timeout
    static final Duration GROUP_DEADLINE = Duration.ofSeconds(30);

    static String uniqueGroup(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    static Set<Integer> range(int n) {
        Set<Integer> s = new TreeSet<>();
        for (int i = 0; i < n; i++) s.add(i);
        return s;
    }

    static Set<TopicPartition> tps(String topic, Collection<Integer> partitions) {
        Set<TopicPartition> s = new HashSet<>();
        for (int p : partitions) s.add(new TopicPartition(topic, p));
        return s;
    }

    static Set<Integer> partitionsOf(Collection<TopicPartition> tps) {
        Set<Integer> s = new TreeSet<>();
        for (TopicPartition tp : tps) s.add(tp.partition());
        return s;
    }

    /**
     * A group consumer polled by a thread of its own (a KafkaConsumer must stay on one
     * thread): it keeps the records it read, the rebalance callbacks it saw and its group
     * metadata. Commits, close and the like are handed to that thread with call().
     */
    static final class Member {
        final String name;
        final KafkaConsumer<byte[], byte[]> consumer;
        final Thread thread;
        final LinkedBlockingQueue<FutureTask<?>> commands = new LinkedBlockingQueue<>();
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        private final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        volatile Set<Integer> assignment = Collections.emptySet();
        volatile int generation = -1;
        volatile String memberId = "";
        volatile Throwable error;
        volatile boolean stopped;
        volatile boolean closed;

        Member(String group, String topic, String name, Map<String, String> extra) {
            this.name = name;
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic"); // KIP-848 is not served
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Integer.toString(GROUP_SESSION_TIMEOUT_MS));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(GROUP_HEARTBEAT_INTERVAL_MS));
            p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, Integer.toString(GROUP_MAX_POLL_INTERVAL_MS));
            p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
            p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
            p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "200");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.putAll(extra);
            consumer = new KafkaConsumer<>(p);
            consumer.subscribe(Collections.singletonList(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    events.add("revoked " + partitionsOf(partitions));
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    events.add("assigned " + partitionsOf(partitions));
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    events.add("lost " + partitionsOf(partitions));
                }
            });
            thread = new Thread(this::run, name);
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            try {
                while (!stopped) {
                    FutureTask<?> cmd;
                    while ((cmd = commands.poll()) != null) cmd.run();
                    if (stopped) break;
                    ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(100));
                    synchronized (records) {
                        for (ConsumerRecord<byte[], byte[]> r : recs) records.add(r);
                    }
                    assignment = Collections.unmodifiableSet(partitionsOf(consumer.assignment()));
                    generation = consumer.groupMetadata().generationId();
                    memberId = consumer.groupMetadata().memberId();
                }
            } catch (Throwable e) {
                error = e;
            } finally {
                if (!closed) {
                    closed = true;
                    try {
                        consumer.close(Duration.ofSeconds(5));
                    } catch (Throwable ignored) {
                        // already failed
                    }
                }
                FutureTask<?> cmd;
                while ((cmd = commands.poll()) != null) cmd.cancel(false);
            }
        }

        /** Runs fn on the polling thread and returns its result. */
        <T> T call(java.util.function.Function<KafkaConsumer<byte[], byte[]>, T> fn) throws Exception {
            if (error != null) throw new CheckFailed(name + ": poll loop failed: " + error);
            check(thread.isAlive(), name + ": poll loop is not running");
            FutureTask<T> task = new FutureTask<>(() -> fn.apply(consumer));
            commands.add(task);
            try {
                return task.get(GROUP_DEADLINE.getSeconds(), TimeUnit.SECONDS);
            } catch (java.util.concurrent.CancellationException e) {
                throw new CheckFailed(name + ": poll loop ended before running a command: " + error);
            }
        }

        int count() {
            synchronized (records) {
                return records.size();
            }
        }

        List<ConsumerRecord<byte[], byte[]>> take() {
            synchronized (records) {
                List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>(records);
                records.clear();
                return out;
            }
        }

        void commitSync() throws Exception {
            call(c -> {
                c.commitSync();
                return null;
            });
        }

        Map<Integer, Long> committed(String topic, int partitions) throws Exception {
            Map<TopicPartition, OffsetAndMetadata> m = call(c -> c.committed(tps(topic, range(partitions))));
            Map<Integer, Long> out = new TreeMap<>();
            m.forEach((tp, om) -> out.put(tp.partition(), om == null ? null : om.offset()));
            return out;
        }

        /** Closes the consumer: a dynamic member sends LeaveGroup, a static one does not. */
        void close() throws Exception {
            if (closed || !thread.isAlive()) {
                stopped = true;
                thread.join(10_000);
                return;
            }
            call(c -> {
                closed = true;
                stopped = true;
                c.close(Duration.ofSeconds(10));
                return null;
            });
            thread.join(10_000);
        }

        String describe() {
            return name + "{assignment=" + assignment + ", generation=" + generation + ", read=" + count()
                    + ", events=" + events + (error != null ? ", error=" + error : "") + "}";
        }
    }

    static Member member(List<Member> all, String group, String topic, String name, String... extra) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i + 1 < extra.length; i += 2) m.put(extra[i], extra[i + 1]);
        Member member = new Member(group, topic, name, m);
        all.add(member);
        return member;
    }

    static void closeAll(List<Member> all) {
        for (Member m : all) {
            try {
                m.close();
            } catch (Throwable ignored) {
                // teardown: keep closing the others
            }
        }
    }

    static void waitFor(java.util.function.BooleanSupplier cond, String what, Member... members) throws Exception {
        long deadline = System.nanoTime() + GROUP_DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            for (Member m : members) {
                if (m.error != null) throw new CheckFailed(m.name + ": poll loop failed while waiting for " + what
                        + ": " + m.error);
            }
            if (cond.getAsBoolean()) return;
            Thread.sleep(50);
        }
        StringBuilder sb = new StringBuilder();
        for (Member m : members) sb.append(' ').append(m.describe());
        throw new CheckFailed("timed out after " + GROUP_DEADLINE.getSeconds() + "s waiting for " + what
                + "; members:" + sb);
    }

    /** Sends n records round-robin over the partitions; returns "p@offset" -> value. */
    static Map<String, String> produceSpread(String topic, int partitions, int n, String tag) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (KafkaProducer<byte[], byte[]> producer = producer("none")) {
            List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, i % partitions, null,
                        b(String.format("%s-%04d", tag, i)))));
            }
            producer.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata md = futures.get(i).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                out.put(md.partition() + "@" + md.offset(), String.format("%s-%04d", tag, i));
            }
        }
        return out;
    }

    /**
     * Waits until the members together read expected.size() records, gives anything
     * unexpected a moment to arrive, then checks that exactly the expected records came,
     * each once, each from a partition its reader owns. Returns how many each member read.
     */
    static Map<String, Integer> readExactly(List<Member> members, Map<String, String> expected, String what)
            throws Exception {
        Member[] ms = members.toArray(new Member[0]);
        waitFor(() -> members.stream().mapToInt(Member::count).sum() >= expected.size(),
                expected.size() + " records of " + what, ms);
        Thread.sleep(500);
        Map<String, String> got = new TreeMap<>();
        Map<String, Integer> per = new TreeMap<>();
        for (Member m : members) {
            List<ConsumerRecord<byte[], byte[]>> recs = m.take();
            per.put(m.name, recs.size());
            Set<Integer> owned = m.assignment;
            for (ConsumerRecord<byte[], byte[]> r : recs) {
                String pos = r.partition() + "@" + r.offset();
                check(owned.contains(r.partition()),
                        what + ": " + m.name + " read " + pos + " but owns " + owned);
                check(got.put(pos, s(r.value())) == null, what + ": " + pos + " delivered twice");
            }
        }
        if (!got.equals(expected)) {
            Set<String> missing = new TreeSet<>(expected.keySet());
            missing.removeAll(got.keySet());
            Set<String> extra = new TreeSet<>(got.keySet());
            extra.removeAll(expected.keySet());
            throw new CheckFailed(what + ": missing " + missing + ", unexpected " + extra
                    + (missing.isEmpty() && extra.isEmpty() ? " (values differ)" : ""));
        }
        return per;
    }

    static Throwable failureOf(org.apache.kafka.common.KafkaFuture<?> f) throws Exception {
        try {
            f.get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            return null;
        } catch (java.util.concurrent.ExecutionException e) {
            return e.getCause();
        }
    }

    static void expectFailure(org.apache.kafka.common.KafkaFuture<?> f, Class<? extends Throwable> want, String what)
            throws Exception {
        Throwable t = failureOf(f);
        check(t != null && want.isInstance(t),
                what + ": got " + (t == null ? "success" : t.toString()) + ", want " + want.getSimpleName());
    }

    static ConsumerGroupDescription describeGroup(Admin admin, String group) throws Exception {
        return admin.describeConsumerGroups(Collections.singleton(group)).describedGroups().get(group)
                .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
    }

    static Map<Integer, Long> groupOffsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
        Map<Integer, Long> out = new TreeMap<>();
        m.forEach((tp, om) -> {
            if (om != null) out.put(tp.partition(), om.offset());
        });
        return out;
    }

    static Map<Integer, Long> constOffsets(int partitions, long offset) {
        Map<Integer, Long> m = new TreeMap<>();
        for (int p = 0; p < partitions; p++) m.put(p, offset);
        return m;
    }

    /**
     * Two members share a 4-partition topic (disjoint, non-empty, covering), read every
     * record once, commit; one closes (LeaveGroup) and the other takes over every partition
     * from the committed offsets. With "range" (eager) a rebalance revokes everything; with
     * "cooperative-sticky" only partitions that move are revoked.
     */
    static void scenarioGroupShareAndTakeover(String assignor) throws Exception {
        boolean cooperative = assignor.equals("cooperative-sticky");
        String strategy = cooperative ? CooperativeStickyAssignor.class.getName() : RangeAssignor.class.getName();
        String topic = uniqueTopic("java-grp");
        String group = uniqueGroup("java-grp-" + assignor);
        int parts = 4;
        log("group " + group + " (" + assignor + ") on topic " + topic);
        List<Member> all = new ArrayList<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, parts);
            try {
                Member m1 = member(all, group, topic, "java-" + assignor + "-1",
                        ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, strategy);
                waitFor(() -> m1.assignment.equals(range(parts)), "the only member to own every partition", m1);
                int m1Before = m1.events.size();
                Member m2 = member(all, group, topic, "java-" + assignor + "-2",
                        ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, strategy);
                waitFor(() -> {
                    Set<Integer> a1 = m1.assignment, a2 = m2.assignment;
                    Set<Integer> union = new TreeSet<>(a1);
                    union.addAll(a2);
                    return !a1.isEmpty() && !a2.isEmpty() && Collections.disjoint(a1, a2) && union.equals(range(parts));
                }, "two members with disjoint non-empty assignments covering the topic", m1, m2);
                Set<Integer> a1 = m1.assignment, a2 = m2.assignment;
                List<String> m1Rebalance = new ArrayList<>(m1.events.subList(m1Before, m1.events.size()));
                log("shared: " + m1.name + " " + a1 + ", " + m2.name + " " + a2 + "; " + m1.name
                        + " callbacks " + m1Rebalance + ", " + m2.name + " callbacks " + m2.events);
                if (cooperative) {
                    check(m1Rebalance.contains("revoked " + a2) && !m1Rebalance.contains("revoked " + range(parts)),
                            "cooperative-sticky: " + m1.name + " should give up only " + a2 + ", callbacks "
                                    + m1Rebalance);
                } else {
                    check(m1Rebalance.contains("revoked " + range(parts)),
                            "range (eager): " + m1.name + " should revoke everything first, callbacks " + m1Rebalance);
                }

                Map<String, String> batch1 = produceSpread(topic, parts, 200, "b1");
                Map<String, Integer> per = readExactly(Arrays.asList(m1, m2), batch1, "batch 1 over two members");
                check(per.get(m1.name) > 0 && per.get(m2.name) > 0, "each member should read some records: " + per);
                check(m1.assignment.equals(a1) && m2.assignment.equals(a2), "assignment changed while reading");

                m1.commitSync();
                m2.commitSync();
                check(m2.committed(topic, parts).equals(constOffsets(parts, 50)),
                        "committed offsets after both commits: " + m2.committed(topic, parts));
                int m2Before = m2.events.size();
                m1.close(); // dynamic member: LeaveGroup
                waitFor(() -> m2.assignment.equals(range(parts)), "the remaining member to own every partition", m2);
                List<String> m2Takeover = new ArrayList<>(m2.events.subList(m2Before, m2.events.size()));
                log("takeover: " + m2.name + " callbacks " + m2Takeover);
                if (cooperative) {
                    check(m2Takeover.contains("assigned " + a1)
                                    && m2Takeover.stream().noneMatch(e -> e.startsWith("revoked")),
                            "cooperative-sticky: " + m2.name + " should only be given " + a1 + ", callbacks "
                                    + m2Takeover);
                } else {
                    check(m2Takeover.contains("assigned " + range(parts)),
                            "range: " + m2.name + " should be assigned everything, callbacks " + m2Takeover);
                }
                Map<String, String> batch2 = produceSpread(topic, parts, 100, "b2");
                readExactly(Collections.singletonList(m2), batch2, "batch 2 after the takeover (batch 1 must not return)");
                m2.commitSync();
                m2.close();
                Map<Integer, Long> offsets = groupOffsets(admin, group);
                check(offsets.equals(constOffsets(parts, 75)), "listConsumerGroupOffsets at the end: " + offsets);
                admin.deleteConsumerGroups(Collections.singleton(group)).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            } finally {
                closeAll(all);
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * Admin on a live group and on the same group once empty: listConsumerGroups,
     * describeConsumerGroups, listConsumerGroupOffsets; what Kafka refuses while a member is
     * in the group (deleteConsumerGroups, deleteConsumerGroupOffsets on its subscribed
     * topic, alterConsumerGroupOffsets); then reset to earliest and a new member starting
     * there, deleteConsumerGroupOffsets, deleteConsumerGroups.
     */
    static void scenarioGroupAdmin() throws Exception {
        String topic = uniqueTopic("java-grpadm");
        String group = uniqueGroup("java-grpadm");
        log("group admin: group " + group + " on topic " + topic);
        TopicPartition tp0 = new TopicPartition(topic, 0), tp1 = new TopicPartition(topic, 1);
        List<Member> all = new ArrayList<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try {
                Member m = member(all, group, topic, "java-admin-member");
                waitFor(() -> m.assignment.equals(range(2)), "the member to own both partitions", m);
                Map<String, String> produced = produceSpread(topic, 2, 30, "adm");
                readExactly(Collections.singletonList(m), produced, "records of the admin scenario");
                m.commitSync();

                ConsumerGroupListing listing = null;
                for (ConsumerGroupListing l : admin.listConsumerGroups().all().get(OP_TIMEOUT_S, TimeUnit.SECONDS)) {
                    if (l.groupId().equals(group)) listing = l;
                }
                check(listing != null, "listConsumerGroups does not show " + group);
                check(!listing.isSimpleConsumerGroup(), "listed as a simple group: " + listing);
                check(listing.state().equals(Optional.of(ConsumerGroupState.STABLE)), "listed state " + listing);

                ConsumerGroupDescription d = describeGroup(admin, group);
                check(d.state() == ConsumerGroupState.STABLE, "describeConsumerGroups state " + d.state());
                check(!d.isSimpleConsumerGroup(), "described as a simple group: " + d);
                check(d.partitionAssignor().equals("range"), "partitionAssignor " + d.partitionAssignor());
                check(d.coordinator() != null && d.coordinator().id() == 0, "coordinator " + d.coordinator());
                check(d.members().size() == 1, "members " + d.members());
                MemberDescription md = d.members().iterator().next();
                check(md.clientId().equals("java-admin-member") && md.consumerId().equals(m.memberId)
                                && !md.groupInstanceId().isPresent(),
                        "member " + md + ", want client java-admin-member, member id " + m.memberId);
                check(md.assignment().topicPartitions().equals(new HashSet<>(Arrays.asList(tp0, tp1))),
                        "member assignment " + md.assignment());
                check(groupOffsets(admin, group).equals(constOffsets(2, 15)),
                        "listConsumerGroupOffsets " + groupOffsets(admin, group));

                // refused while the member is there, and the group carries on
                expectFailure(admin.deleteConsumerGroups(Collections.singleton(group)).all(),
                        GroupNotEmptyException.class, "deleteConsumerGroups on a group with a member");
                expectFailure(admin.deleteConsumerGroupOffsets(group, Collections.singleton(tp0)).all(),
                        GroupSubscribedToTopicException.class,
                        "deleteConsumerGroupOffsets of a topic the group is subscribed to");
                expectFailure(admin.alterConsumerGroupOffsets(group,
                                Collections.singletonMap(tp0, new OffsetAndMetadata(0))).all(),
                        UnknownMemberIdException.class, "alterConsumerGroupOffsets on a group with a member");
                check(describeGroup(admin, group).state() == ConsumerGroupState.STABLE, "state after refusals");
                check(groupOffsets(admin, group).equals(constOffsets(2, 15)), "offsets after refusals");
                Map<String, String> more = produceSpread(topic, 2, 4, "adm2");
                readExactly(Collections.singletonList(m), more, "records produced after the refusals");

                m.close(); // LeaveGroup: the group is empty, its offsets stay
                d = describeGroup(admin, group);
                check(d.state() == ConsumerGroupState.EMPTY && d.members().isEmpty(),
                        "after the member left: " + d.state() + " " + d.members());
                check(groupOffsets(admin, group).equals(constOffsets(2, 15)), "offsets after the member left");

                // reset to earliest; a new member starts there
                Map<TopicPartition, OffsetSpec> earliestSpec = new HashMap<>();
                earliestSpec.put(tp0, OffsetSpec.earliest());
                earliestSpec.put(tp1, OffsetSpec.earliest());
                Map<TopicPartition, OffsetAndMetadata> reset = new HashMap<>();
                admin.listOffsets(earliestSpec).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS)
                        .forEach((tp, info) -> reset.put(tp, new OffsetAndMetadata(info.offset(), "reset-by-admin")));
                check(reset.get(tp0).offset() == 0 && reset.get(tp1).offset() == 0, "earliest offsets " + reset);
                admin.alterConsumerGroupOffsets(group, reset).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                Map<TopicPartition, OffsetAndMetadata> after = admin.listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                check(after.equals(reset), "listConsumerGroupOffsets after the reset: " + after + ", want " + reset);
                Member m2 = member(all, group, topic, "java-admin-member-2");
                Map<String, String> everything = new TreeMap<>(produced);
                everything.putAll(more);
                readExactly(Collections.singletonList(m2), everything, "everything again after the reset to earliest");
                m2.close(); // nothing committed

                admin.deleteConsumerGroupOffsets(group, Collections.singleton(tp1)).all()
                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                Map<Integer, Long> left = groupOffsets(admin, group);
                check(left.equals(Collections.singletonMap(0, 0L)), "offsets after deleting tp1's: " + left);

                admin.deleteConsumerGroups(Collections.singleton(group)).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                for (ConsumerGroupListing l : admin.listConsumerGroups().all().get(OP_TIMEOUT_S, TimeUnit.SECONDS)) {
                    check(!l.groupId().equals(group), "deleted group still listed: " + l);
                }
                check(groupOffsets(admin, group).isEmpty(), "offsets of a deleted group " + groupOffsets(admin, group));
                Throwable t = failureOf(admin.describeConsumerGroups(Collections.singleton(group)).all());
                if (t == null) {
                    ConsumerGroupState st = describeGroup(admin, group).state();
                    check(st == ConsumerGroupState.DEAD, "describe a deleted group: state " + st);
                } else {
                    check(t instanceof GroupIdNotFoundException, "describe a deleted group: " + t);
                }
                expectFailure(admin.deleteConsumerGroups(Collections.singleton(group)).all(),
                        GroupIdNotFoundException.class, "deleteConsumerGroups of a deleted group");
            } finally {
                closeAll(all);
                deleteTopic(admin, topic);
            }
        }
    }

    static final String STATIC_SESSION_TIMEOUT_MS = "20000"; // far longer than a restart takes

    static Member staticMember(List<Member> all, String group, String topic, String name, String instance) {
        return member(all, group, topic, name, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance,
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, STATIC_SESSION_TIMEOUT_MS);
    }

    /** Starts static members instance-a then instance-b and waits until they share the topic. */
    static Member[] startStaticPair(List<Member> all, String group, String topic, int parts) throws Exception {
        Member a = staticMember(all, group, topic, "java-static-a", "instance-a");
        waitFor(() -> a.assignment.equals(range(parts)), "instance-a to own every partition", a);
        Member b = staticMember(all, group, topic, "java-static-b", "instance-b");
        waitFor(() -> !a.assignment.isEmpty() && !b.assignment.isEmpty()
                        && Collections.disjoint(a.assignment, b.assignment)
                        && a.assignment.size() + b.assignment.size() == parts
                        && a.generation == b.generation,
                "two static members sharing the topic", a, b);
        Thread.sleep(1000); // let the group settle: no further rebalance expected
        check(a.generation == b.generation && a.assignment.size() + b.assignment.size() == parts,
                "static members did not settle: " + a.describe() + " " + b.describe());
        log("static members: instance-a " + a.assignment + " as " + a.memberId + ", instance-b " + b.assignment
                + " as " + b.memberId + ", generation " + b.generation + "; callbacks a " + a.events + ", b "
                + b.events);
        return new Member[] {a, b};
    }

    /**
     * Static membership (KIP-345): close() of a static member sends no LeaveGroup, so the
     * coordinator keeps its place for session.timeout.ms; a consumer restarted with the same
     * group.instance.id in that time gets the same partitions in the same generation, and the
     * other member sees no rebalance. Restarts the leader (instance-a), then the follower.
     */
    static void scenarioGroupStaticRestart() throws Exception {
        String topic = uniqueTopic("java-static");
        String group = uniqueGroup("java-static");
        int parts = 4;
        log("static restart: group " + group + " on topic " + topic);
        List<Member> all = new ArrayList<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, parts);
            try {
                Member[] current = startStaticPair(all, group, topic, parts);
                check(!current[0].memberId.isEmpty() && !current[1].memberId.isEmpty(),
                        "JoinGroup must give a new static member a member id: instance-a has '"
                                + current[0].memberId + "', instance-b '" + current[1].memberId + "'");
                String[] instances = {"instance-a", "instance-b"};
                Map<String, Set<Integer>> owned = new HashMap<>();
                owned.put("instance-a", current[0].assignment);
                owned.put("instance-b", current[1].assignment);
                int generation = current[1].generation;
                for (int i = 0; i < 2; i++) {
                    Member old = current[i], other = current[1 - i];
                    String instance = instances[i];
                    String oldId = old.memberId;
                    int otherEvents = other.events.size();
                    old.close(); // static: no LeaveGroup
                    ConsumerGroupDescription d = describeGroup(admin, group);
                    check(d.state() == ConsumerGroupState.STABLE && d.members().size() == 2,
                            "after closing static " + instance + " the group should keep it: " + d.state() + " "
                                    + d.members());
                    Member fresh = staticMember(all, group, topic, old.name + "-restarted", instance);
                    current[i] = fresh;
                    waitFor(() -> !fresh.assignment.isEmpty(), "restarted " + instance + " to get partitions",
                            fresh, other);
                    Thread.sleep(1500); // a rebalance of the other member would show by now
                    log("restarted " + instance + ": " + fresh.describe() + "; other: " + other.describe());
                    check(fresh.assignment.equals(owned.get(instance)),
                            "restarted " + instance + " got " + fresh.assignment + ", had " + owned.get(instance));
                    check(!fresh.memberId.isEmpty() && !fresh.memberId.equals(oldId),
                            "restarted " + instance + " has member id '" + fresh.memberId + "' (was '" + oldId + "')");
                    List<String> otherNew = new ArrayList<>(other.events.subList(otherEvents, other.events.size()));
                    check(fresh.generation == generation && otherNew.isEmpty() && other.generation == generation,
                            "restarting static " + instance + " rebalanced the group: generation " + generation
                                    + " -> " + fresh.generation + ", the other member's callbacks " + otherNew);
                    check(other.assignment.equals(owned.get(instances[1 - i])),
                            "the other member's assignment changed to " + other.assignment);
                }
                // the group still works: each reads its own partitions
                Map<String, String> recs = produceSpread(topic, parts, 40, "static");
                readExactly(Arrays.asList(current), recs, "records after both restarts");
                for (Member m : current) m.close();
                admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions())
                        .all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                admin.deleteConsumerGroups(Collections.singleton(group)).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            } finally {
                closeAll(all);
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * Static membership, the rest: a second consumer started with a live member's
     * group.instance.id takes its place and the first is fenced (FencedInstanceIdException);
     * static members that close stay in the group until Admin removeMembersFromConsumerGroup
     * (LeaveGroup by instance id) removes them, after which the group is empty and deletable.
     */
    static void scenarioGroupStaticFencingAndRemoval() throws Exception {
        String topic = uniqueTopic("java-fence");
        String group = uniqueGroup("java-fence");
        int parts = 4;
        log("static fencing and removal: group " + group + " on topic " + topic);
        List<Member> all = new ArrayList<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, parts);
            try {
                Member[] pair = startStaticPair(all, group, topic, parts);
                Set<Integer> ownedA = pair[0].assignment;
                Member dup = staticMember(all, group, topic, "java-static-a-duplicate", "instance-a");
                waitFor(() -> pair[0].error != null, "the first instance-a consumer to be fenced", dup);
                check(pair[0].error instanceof FencedInstanceIdException,
                        "replaced instance-a consumer failed with " + pair[0].error + ", want FencedInstanceIdException");
                waitFor(() -> dup.assignment.equals(ownedA), "the new instance-a consumer to own " + ownedA, dup);

                // both close without leaving; Admin removes them by instance id
                dup.close();
                pair[1].close();
                ConsumerGroupDescription d = describeGroup(admin, group);
                check(d.members().size() == 2, "closed static members should stay until removed: " + d.members());
                Set<String> instances = new TreeSet<>();
                for (MemberDescription md : d.members()) instances.add(md.groupInstanceId().orElse("<none>"));
                check(instances.equals(new TreeSet<>(Arrays.asList("instance-a", "instance-b"))),
                        "described group.instance.ids " + instances);
                expectFailure(admin.deleteConsumerGroups(Collections.singleton(group)).all(),
                        GroupNotEmptyException.class, "deleteConsumerGroups with closed static members in it");
                admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions())
                        .all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                d = describeGroup(admin, group);
                check(d.state() == ConsumerGroupState.EMPTY && d.members().isEmpty(),
                        "after removeMembersFromConsumerGroup: " + d.state() + " " + d.members());
                admin.deleteConsumerGroups(Collections.singleton(group)).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            } finally {
                closeAll(all);
                deleteTopic(admin, topic);
            }
        }
    }

    /** Scenario name -> why it is expected to fail today. */
    static final Map<String, String> KNOWN_BROKER_BUGS = new HashMap<>();

    // Empty: the bugs once listed here (topic lookup by id with an empty name, authorized
    // operations, static members getting an empty member id and rebalancing on restart) are
    // fixed, so their scenarios count like any other.

    // ------------------------------------------------------------------------------------

    interface Scenario {
        void run() throws Exception;
    }

    public static void main(String[] args) {
        bootstrap = System.getenv("MYELIN_BOOTSTRAP");
        if (bootstrap == null || bootstrap.isEmpty()) {
            System.err.println("FAIL: MYELIN_BOOTSTRAP is not set (expected host:port of a running Myelin broker)");
            System.exit(2);
        }
        int colon = bootstrap.lastIndexOf(':');
        try (Socket sock = new Socket()) {
            sock.connect(new InetSocketAddress(bootstrap.substring(0, colon),
                    Integer.parseInt(bootstrap.substring(colon + 1))), 5000);
        } catch (Exception e) {
            System.err.println("FAIL: Myelin broker at MYELIN_BOOTSTRAP=" + bootstrap + " is unreachable: " + e);
            System.exit(2);
        }

        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(WATCHDOG_S));
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("FAIL: watchdog: test still running after " + WATCHDOG_S + "s");
            Runtime.getRuntime().halt(3);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        log("kafka-clients " + AppInfoParser.getVersion() + " against " + bootstrap);

        Map<String, Scenario> scenarios = new java.util.LinkedHashMap<>();
        scenarios.put("round_trip_admin_produce_consume_offsets_for_times_delete",
                MyelinJavaClientTest::scenarioRoundTrip);
        scenarios.put("compression_lz4_snappy_zstd_gzip", MyelinJavaClientTest::scenarioCompression);
        scenarios.put("describe_configs_and_create_partitions", MyelinJavaClientTest::scenarioConfigsAndPartitions);
        scenarios.put("describe_topics_by_id", MyelinJavaClientTest::scenarioDescribeTopicsById);
        scenarios.put("describe_topics_authorized_operations", MyelinJavaClientTest::scenarioAuthorizedOperations);
        scenarios.put("group_share_takeover_range", () -> scenarioGroupShareAndTakeover("range"));
        scenarios.put("group_share_takeover_cooperative_sticky",
                () -> scenarioGroupShareAndTakeover("cooperative-sticky"));
        scenarios.put("group_admin_list_describe_alter_delete", MyelinJavaClientTest::scenarioGroupAdmin);
        scenarios.put("group_static_membership_restart", MyelinJavaClientTest::scenarioGroupStaticRestart);
        scenarios.put("group_static_membership_fencing_and_removal",
                MyelinJavaClientTest::scenarioGroupStaticFencingAndRemoval);
        boolean strict = "1".equals(System.getenv("MYELIN_INTEROP_STRICT"));
        // MYELIN_INTEROP_ONLY=group_admin,static runs only the scenarios whose names contain one of these
        String only = System.getenv("MYELIN_INTEROP_ONLY");
        if (only != null && !only.isEmpty()) {
            List<String> wanted = Arrays.asList(only.split(","));
            scenarios.keySet().removeIf(name -> wanted.stream().noneMatch(name::contains));
        }

        int passed = 0, failed = 0, xfailed = 0;
        for (Map.Entry<String, Scenario> sc : scenarios.entrySet()) {
            long t0 = System.nanoTime();
            String knownBug = strict ? null : KNOWN_BROKER_BUGS.get(sc.getKey());
            try {
                sc.getValue().run();
                passed++;
                log((knownBug != null ? "XPASS (known bug fixed? drop it from KNOWN_BROKER_BUGS) " : "PASS ")
                        + sc.getKey() + " (" + (System.nanoTime() - t0) / 1_000_000 + " ms)");
            } catch (Throwable e) {
                if (knownBug != null) {
                    xfailed++;
                    log("XFAIL " + sc.getKey() + ": " + e);
                    log("      known broker bug: " + knownBug + " (MYELIN_INTEROP_STRICT=1 makes it count)");
                    continue;
                }
                failed++;
                System.out.println("[java-interop] FAIL " + sc.getKey() + ": " + e);
                Throwable c = e.getCause();
                while (c != null) {
                    System.out.println("[java-interop]   caused by: " + c);
                    c = c.getCause();
                }
                if (!(e instanceof CheckFailed)) e.printStackTrace(System.out);
            }
        }
        if (xfailed > 0) log(xfailed + " known broker bug(s) reported as XFAIL above");
        System.out.println("java-interop: " + passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
