// Interoperability test: the Apache Kafka Java client (kafka-clients 3.9.1) against a
// running Myelin broker. Plain Java, no build tool: see run.sh next to this file.
//
// The broker address comes from $MYELIN_BOOTSTRAP (host:port). Exit code 0 when every
// check passes, 1 when any fails (with a FAIL line saying what), 2 on a usage/setup error.
//
// The first scenarios use enable.idempotence=false (the plain producer path) and read with
// assign() + seek (no group.id); the group_* scenarios use consumer groups with the classic
// protocol (group.protocol=classic: KIP-848 is not served). The idempotent_* and txn_*
// scenarios keep the producer's defaults (idempotent, acks=all) and cover transactions:
// read_committed, consume-transform-produce with sendOffsetsToTransaction, zombie fencing,
// Admin listTransactions/describeTransactions. A txn_* failure that comes with the
// fingerprint of a known coordinator race (duplicate markers) is reported as XFAIL.

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
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
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
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.ProducerIdAndEpoch;
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

    // ------------------------------------------------------------------------------------
    // idempotent producer and transactions (KIP-98, KIP-447): the producers here keep the
    // client's defaults (enable.idempotence=true, acks=all, 5 requests in flight)

    static final int TXN_TIMEOUT_MS = 45000; // not the client default (60000): describe must echo it

    /**
     * A producer with the client's own defaults: idempotence on, acks=all; only the client id,
     * timeouts and serializers are set, plus extra (key, value) pairs.
     */
    static KafkaProducer<byte[], byte[]> defaultProducer(String clientId, String... extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        for (int i = 0; i + 1 < extra.length; i += 2) p.put(extra[i], extra[i + 1]);
        return new KafkaProducer<>(p);
    }

    /** A transactional producer (initTransactions not called yet). */
    static KafkaProducer<byte[], byte[]> txnProducer(String clientId, String transactionalId) {
        return defaultProducer(clientId, ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, Integer.toString(TXN_TIMEOUT_MS));
    }

    static KafkaConsumer<byte[], byte[]> consumer(String isolationLevel) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "myelin-interop-consumer-" + isolationLevel);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolationLevel);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "200");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    /**
     * The producer id and epoch the producer got from InitProducerId. The client does not
     * expose them, so this reads its TransactionManager (package-private) by reflection; null
     * when the producer has no TransactionManager, i.e. idempotence is off.
     */
    static ProducerIdAndEpoch producerIdAndEpoch(KafkaProducer<?, ?> producer) throws Exception {
        java.lang.reflect.Field f = KafkaProducer.class.getDeclaredField("transactionManager");
        f.setAccessible(true);
        Object tm = f.get(producer);
        if (tm == null) return null;
        java.lang.reflect.Method m = tm.getClass().getDeclaredMethod("producerIdAndEpoch");
        m.setAccessible(true);
        return (ProducerIdAndEpoch) m.invoke(tm);
    }

    static List<TopicPartition> allPartitions(String topic, int parts) {
        List<TopicPartition> l = new ArrayList<>();
        for (int p = 0; p < parts; p++) l.add(new TopicPartition(topic, p));
        return l;
    }

    /**
     * Reads a whole topic from the beginning with the given isolation level (assign, no group):
     * exactly `expected` records must come, nothing more within half a second. Returns them in
     * partition, then offset order.
     */
    static List<ConsumerRecord<byte[], byte[]>> readTopic(String topic, int parts, String isolation, int expected,
            String what) {
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(isolation)) {
            List<TopicPartition> tps = allPartitions(topic, parts);
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<Integer, List<ConsumerRecord<byte[], byte[]>>> got;
            try {
                got = consumeAll(consumer, expected);
            } catch (CheckFailed e) {
                throw new CheckFailed(what + " (" + isolation + "): " + e.getMessage());
            }
            ConsumerRecords<byte[], byte[]> extra = consumer.poll(Duration.ofMillis(500));
            int total = 0;
            for (List<ConsumerRecord<byte[], byte[]>> l : got.values()) total += l.size();
            check(total == expected && extra.isEmpty(), what + " (" + isolation + "): read " + total
                    + " records and then " + extra.count() + " more, want exactly " + expected);
            List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
            for (int p = 0; p < parts; p++) out.addAll(got.getOrDefault(p, Collections.emptyList()));
            return out;
        }
    }

    static Map<Integer, Long> endOffsets(String topic, int parts, String isolation) {
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(isolation)) {
            Map<Integer, Long> out = new TreeMap<>();
            consumer.endOffsets(allPartitions(topic, parts), Duration.ofSeconds(OP_TIMEOUT_S))
                    .forEach((tp, o) -> out.put(tp.partition(), o));
            return out;
        }
    }

    /** "partition@offset" -> value of each record. */
    static Map<String, String> positions(List<ConsumerRecord<byte[], byte[]>> recs) {
        Map<String, String> m = new TreeMap<>();
        for (ConsumerRecord<byte[], byte[]> r : recs) m.put(r.partition() + "@" + r.offset(), s(r.value()));
        return m;
    }

    /** Whether t or one of its causes says the producer was fenced. */
    static boolean fenced(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ProducerFencedException || c instanceof InvalidProducerEpochException) return true;
        }
        return false;
    }

    static String chain(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) sb.append(sb.length() == 0 ? "" : " <- ").append(c);
        return sb.toString();
    }

    /** Runs op, which must fail because the producer was fenced. */
    static void expectFenced(Scenario op, String what) {
        Throwable t = null;
        try {
            op.run();
        } catch (Throwable e) {
            t = e;
        }
        check(t != null, what + ": succeeded, want ProducerFencedException or InvalidProducerEpochException");
        check(fenced(t), what + ": failed with " + chain(t)
                + ", want ProducerFencedException or InvalidProducerEpochException");
        log(what + ": fenced as expected: " + t);
    }

    /**
     * (a) A KafkaProducer with default settings -- idempotent (it asks InitProducerId for a
     * producer id), acks=all, up to 5 batches in flight per partition -- sends 1,000 keyed
     * records; each partition holds them exactly once, in send order, at contiguous offsets,
     * and both isolation levels read them all.
     */
    static void scenarioIdempotentDefaultProducer() throws Exception {
        String topic = uniqueTopic("java-idem");
        int n = 1000;
        log("idempotent default producer on topic " + topic);
        try (Admin admin = admin()) {
            createTopic(admin, topic, PARTITIONS);
            try {
                Map<Integer, List<String>> sentOrder = new TreeMap<>();
                Map<String, String> expected = new TreeMap<>();
                ProducerIdAndEpoch pid;
                try (KafkaProducer<byte[], byte[]> producer = defaultProducer("java-idem-producer")) {
                    List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        futures.add(producer.send(new ProducerRecord<>(topic, b(String.format("key-%03d", i % NUM_KEYS)),
                                b(String.format("idem-%05d-%s", i, "z".repeat(i % 40))))));
                    }
                    producer.flush();
                    for (int i = 0; i < n; i++) {
                        RecordMetadata md = futures.get(i).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        byte[] key = b(String.format("key-%03d", i % NUM_KEYS));
                        int want = Utils.toPositive(Utils.murmur2(key)) % PARTITIONS;
                        check(md.partition() == want, "record " + i + " went to partition " + md.partition()
                                + ", default partitioner says " + want);
                        String v = String.format("idem-%05d-%s", i, "z".repeat(i % 40));
                        sentOrder.computeIfAbsent(md.partition(), k -> new ArrayList<>()).add(v);
                        check(expected.put(md.partition() + "@" + md.offset(), v) == null,
                                "two records acknowledged at " + md.partition() + "@" + md.offset());
                    }
                    pid = producerIdAndEpoch(producer);
                }
                check(pid != null && pid.producerId >= 0 && pid.epoch >= 0,
                        "the default producer should be idempotent with a producer id from InitProducerId, has "
                                + pid);
                log("producer id " + pid.producerId + " epoch " + pid.epoch + "; per partition "
                        + sentOrder.get(0).size() + "/" + sentOrder.get(1).size() + "/" + sentOrder.get(2).size());
                for (int p = 0; p < PARTITIONS; p++) {
                    for (int i = 0; i < sentOrder.get(p).size(); i++) {
                        check(sentOrder.get(p).get(i).equals(expected.get(p + "@" + i)),
                                "p" + p + ": offsets do not follow the send order at " + i);
                    }
                }
                check(endOffsets(topic, PARTITIONS, "read_uncommitted").equals(endOffsets(topic, PARTITIONS,
                                "read_committed")),
                        "without transactions the last stable offset must equal the high watermark");
                for (String iso : new String[] {"read_uncommitted", "read_committed"}) {
                    List<ConsumerRecord<byte[], byte[]>> recs = readTopic(topic, PARTITIONS, iso, n, "idempotent records");
                    Map<String, String> got = positions(recs);
                    check(got.equals(expected), iso + ": records differ from those acknowledged");
                    for (int p = 0; p < PARTITIONS; p++) {
                        List<String> order = new ArrayList<>();
                        for (ConsumerRecord<byte[], byte[]> r : recs) if (r.partition() == p) order.add(s(r.value()));
                        check(order.equals(sentOrder.get(p)), iso + ": p" + p + " not read in send order");
                    }
                }
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * (b) One transactional producer over 3 partitions: a committed transaction, an aborted
     * one, and a third that is first left open -- read_committed stops at the last stable
     * offset (before it), read_uncommitted sees it -- and then committed. read_committed reads
     * only the committed records, read_uncommitted every record; neither sees the markers,
     * each of which takes one offset.
     */
    static void scenarioTxnCommitAbortVisibility() throws Exception {
        String topic = uniqueTopic("java-txn");
        String txnId = uniqueGroup("java-txn-id");
        int perTxn = 30;
        log("transactions commit/abort on topic " + topic + " with transactional.id " + txnId);
        try (Admin admin = admin()) {
            createTopic(admin, topic, PARTITIONS);
            try (KafkaProducer<byte[], byte[]> producer = txnProducer("java-txn-producer", txnId)) {
                producer.initTransactions();
                Map<String, String> committed = new TreeMap<>(), aborted = new TreeMap<>();
                Map<Integer, Long> openFirst = new TreeMap<>(), openLast = new TreeMap<>();
                String[] tags = {"commit-1", "abort-2", "commit-3"};
                for (String tag : tags) {
                    producer.beginTransaction();
                    List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
                    for (int i = 0; i < perTxn; i++) {
                        futures.add(producer.send(new ProducerRecord<>(topic, i % PARTITIONS, b("k" + i),
                                b(String.format("%s-%02d", tag, i)))));
                    }
                    producer.flush();
                    for (int i = 0; i < perTxn; i++) {
                        RecordMetadata md = futures.get(i).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        String pos = md.partition() + "@" + md.offset();
                        (tag.startsWith("abort") ? aborted : committed).put(pos, String.format("%s-%02d", tag, i));
                        if (tag.equals("commit-3")) {
                            openFirst.merge(md.partition(), md.offset(), Math::min);
                            openLast.merge(md.partition(), md.offset(), Math::max);
                        }
                    }
                    if (tag.startsWith("abort")) {
                        producer.abortTransaction();
                    } else if (tag.equals("commit-1")) {
                        producer.commitTransaction();
                    }
                }
                // the third transaction is open: its records are written but not yet stable
                Map<Integer, Long> lso = endOffsets(topic, PARTITIONS, "read_committed");
                Map<Integer, Long> hw = endOffsets(topic, PARTITIONS, "read_uncommitted");
                Map<Integer, Long> wantHw = new TreeMap<>();
                openLast.forEach((p, o) -> wantHw.put(p, o + 1));
                check(lso.equals(openFirst), "read_committed endOffsets with a transaction open = " + lso
                        + ", want its first offsets " + openFirst + " (the last stable offset)");
                check(hw.equals(wantHw), "read_uncommitted endOffsets with a transaction open = " + hw + ", want "
                        + wantHw);
                Map<String, String> before = new TreeMap<>(committed);
                before.values().removeIf(v -> v.startsWith("commit-3"));
                Map<String, String> got = positions(readTopic(topic, PARTITIONS, "read_committed", before.size(),
                        "with the third transaction open"));
                check(got.equals(before), "read_committed with the third transaction open: got " + got.keySet()
                        + ", want " + before.keySet());
                producer.commitTransaction();

                got = positions(readTopic(topic, PARTITIONS, "read_committed", committed.size(), "committed records"));
                check(got.equals(committed), "read_committed: got " + got.keySet() + ", want " + committed.keySet());
                Map<String, String> everything = new TreeMap<>(committed);
                everything.putAll(aborted);
                got = positions(readTopic(topic, PARTITIONS, "read_uncommitted", everything.size(), "all records"));
                check(got.equals(everything), "read_uncommitted: got " + got.keySet() + ", want "
                        + everything.keySet());
                log("read_committed saw " + committed.size() + " records, read_uncommitted " + everything.size());

                Map<Integer, Long> end = endOffsets(topic, PARTITIONS, "read_committed");
                Map<Integer, Long> wantEnd = new TreeMap<>();
                openLast.forEach((p, o) -> wantEnd.put(p, o + 2)); // + the commit marker
                check(end.equals(wantEnd), "read_committed endOffsets after the last commit = " + end + ", want "
                        + wantEnd + " (one offset per commit marker)");
                check(endOffsets(topic, PARTITIONS, "read_uncommitted").equals(wantEnd),
                        "read_uncommitted endOffsets after the last commit");
            } catch (Exception e) {
                throw explainedByTxnRace(e, topic, PARTITIONS);
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    /** One instance of a consume-transform-produce application (KIP-447 style). */
    static final class Transformer implements AutoCloseable {
        final String name;
        final KafkaProducer<byte[], byte[]> producer;
        final KafkaConsumer<byte[], byte[]> consumer;
        final String output;
        /** Input "partition@offset" of each record whose transaction this instance committed. */
        final List<String> committedInputs = new ArrayList<>();

        Transformer(String name, String group, String transactionalId, String input, String output) {
            this.name = name;
            this.output = output;
            producer = txnProducer(name + "-producer", transactionalId);
            producer.initTransactions(); // aborts what an earlier instance left open
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, name + "-consumer");
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "40");
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Integer.toString(GROUP_SESSION_TIMEOUT_MS));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(GROUP_HEARTBEAT_INTERVAL_MS));
            p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, Integer.toString(GROUP_MAX_POLL_INTERVAL_MS));
            p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
            p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
            p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "200");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            consumer = new KafkaConsumer<>(p);
            consumer.subscribe(Collections.singletonList(input));
        }

        /** Polls until records come (bounded); never empty. */
        ConsumerRecords<byte[], byte[]> pollSome() {
            long deadline = System.nanoTime() + GROUP_DEADLINE.toNanos();
            while (System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
                if (!recs.isEmpty()) return recs;
            }
            throw new CheckFailed(name + ": no input records within " + GROUP_DEADLINE.getSeconds()
                    + "s (assignment " + consumer.assignment() + ")");
        }

        /**
         * Writes the transformed records and the consumer's next offsets in one transaction;
         * commits it, or leaves it open when commit is false. Returns the inputs handled.
         */
        List<String> transform(ConsumerRecords<byte[], byte[]> recs, boolean commit) throws Exception {
            producer.beginTransaction();
            List<String> inputs = new ArrayList<>();
            Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
            List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : recs) {
                String src = r.partition() + "@" + r.offset();
                inputs.add(src);
                List<Header> hs = Collections.singletonList(new RecordHeader("src", b(src)));
                futures.add(producer.send(new ProducerRecord<>(output, r.partition(), null, r.key(),
                        b("T(" + s(r.value()) + ")"), hs)));
                next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
            }
            producer.flush();
            for (java.util.concurrent.Future<RecordMetadata> f : futures) f.get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
            if (commit) {
                producer.commitTransaction();
                committedInputs.addAll(inputs);
            }
            return inputs;
        }

        /** A crash: the producer goes away mid-transaction without aborting it. */
        void crash() {
            producer.close(Duration.ZERO); // forced: no abort of the open transaction
            consumer.close(Duration.ofSeconds(10));
        }

        @Override
        public void close() {
            try {
                consumer.close(Duration.ofSeconds(10));
            } catch (IllegalStateException alreadyClosed) {
                // crashed
            }
            producer.close(Duration.ofSeconds(10));
        }
    }

    /**
     * (c) Consume-transform-produce with sendOffsetsToTransaction(offsets, groupMetadata): a
     * group consumer (read_committed) and a transactional producer. The first instance commits
     * a few transactions, then "crashes" with one open (records written, offsets sent, no
     * commit or abort); a second instance with the same transactional.id and group finishes
     * the input. The output (read_committed) holds every input transformed exactly once, the
     * crashed transaction's records are only visible read_uncommitted, and the group's offsets
     * end at the input's end.
     */
    static void scenarioTxnConsumeTransformProduce() throws Exception {
        String input = uniqueTopic("java-ctp-in");
        String output = uniqueTopic("java-ctp-out");
        String group = uniqueGroup("java-ctp");
        String txnId = uniqueGroup("java-ctp-id");
        int n = 300;
        log("consume-transform-produce " + input + " -> " + output + ", group " + group + ", transactional.id "
                + txnId);
        try (Admin admin = admin()) {
            createTopic(admin, input, PARTITIONS);
            createTopic(admin, output, PARTITIONS);
            try {
                Map<String, String> inputs = produceSpreadDefault(input, PARTITIONS, n, "in");
                List<String> crashed;
                List<String> first;
                try (Transformer t1 = new Transformer("java-ctp-1", group, txnId, input, output)) {
                    while (t1.committedInputs.size() < 120) t1.transform(t1.pollSome(), true);
                    crashed = t1.transform(t1.pollSome(), false);
                    first = t1.committedInputs;
                    t1.crash();
                }
                log("instance 1 committed " + first.size() + " inputs, crashed with " + crashed.size() + " in an "
                        + "open transaction");
                Set<String> seen2 = new HashSet<>();
                try (Transformer t2 = new Transformer("java-ctp-2", group, txnId, input, output)) {
                    long deadline = System.nanoTime() + GROUP_DEADLINE.toNanos();
                    while (first.size() + t2.committedInputs.size() < n) {
                        check(System.nanoTime() < deadline, "instance 2 handled only " + t2.committedInputs.size()
                                + " of the " + (n - first.size()) + " inputs instance 1 did not commit");
                        t2.transform(t2.pollSome(), true);
                    }
                    for (String src : t2.committedInputs) {
                        check(!first.contains(src), "instance 2 read input " + src
                                + " again, though instance 1 committed it");
                        check(seen2.add(src), "instance 2 read input " + src + " twice");
                    }
                    check(seen2.containsAll(crashed), "instance 2 did not redo the crashed transaction's inputs");
                    ConsumerRecords<byte[], byte[]> extra = t2.consumer.poll(Duration.ofMillis(500));
                    check(extra.isEmpty(), "instance 2 got " + extra.count() + " inputs beyond the end");
                }
                // every input exactly once in the committed output, in its own partition
                List<ConsumerRecord<byte[], byte[]>> out = readTopic(output, PARTITIONS, "read_committed", n,
                        "transformed output");
                Map<String, String> bySrc = new TreeMap<>();
                for (ConsumerRecord<byte[], byte[]> r : out) {
                    Header h = r.headers().lastHeader("src");
                    check(h != null, "output " + r.partition() + "@" + r.offset() + " has no src header");
                    String src = s(h.value());
                    check(bySrc.put(src, s(r.value())) == null, "input " + src + " transformed twice in the output");
                    check(src.startsWith(r.partition() + "@"), "input " + src + " landed in output p" + r.partition());
                }
                Map<String, String> want = new TreeMap<>();
                inputs.forEach((pos, v) -> want.put(pos, "T(" + v + ")"));
                check(bySrc.equals(want), "output by input: " + bySrc.size() + " entries, want " + want.size()
                        + "; missing " + diff(want.keySet(), bySrc.keySet()) + ", unexpected "
                        + diff(bySrc.keySet(), want.keySet()));
                // the crashed transaction's writes are there, aborted
                readTopic(output, PARTITIONS, "read_uncommitted", n + crashed.size(),
                        "output including the crashed transaction's aborted records");
                Map<Integer, Long> offsets = groupOffsets(admin, group);
                check(offsets.equals(constOffsets(PARTITIONS, n / PARTITIONS)),
                        "group offsets at the end: " + offsets + ", want " + constOffsets(PARTITIONS, n / PARTITIONS));
                admin.deleteConsumerGroups(Collections.singleton(group)).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw explainedByTxnRace(e, output, PARTITIONS);
            } finally {
                deleteTopic(admin, input);
                deleteTopic(admin, output);
            }
        }
    }

    static Set<String> diff(Set<String> a, Set<String> b) {
        Set<String> d = new TreeSet<>(a);
        d.removeAll(b);
        return d.size() > 10 ? new TreeSet<>(new ArrayList<>(d).subList(0, 10)) : d;
    }

    /** produceSpread with an idempotent default producer. */
    static Map<String, String> produceSpreadDefault(String topic, int partitions, int n, String tag) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (KafkaProducer<byte[], byte[]> producer = defaultProducer("java-spread-" + tag)) {
            List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, i % partitions, b("k" + i),
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
     * (d) Zombie fencing: each newer producer with the same transactional.id fences the one
     * before, which had a transaction open with a record written. The zombie's next call
     * fails with ProducerFencedException (or InvalidProducerEpochException), whichever API it
     * reaches: Produce (a send to a partition already in its transaction), AddPartitionsToTxn
     * (a send to a new partition), EndTxn (commitTransaction). None of the zombies' records
     * becomes visible read_committed; the last producer commits normally.
     */
    static void scenarioTxnZombieFencing() throws Exception {
        String topic = uniqueTopic("java-fence-txn");
        String txnId = uniqueGroup("java-zombie-id");
        log("zombie fencing on topic " + topic + " with transactional.id " + txnId);
        List<KafkaProducer<byte[], byte[]>> producers = new ArrayList<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try {
                String[] names = {"zombie-produce", "zombie-add-partitions", "zombie-end-txn", "survivor"};
                List<ProducerIdAndEpoch> ids = new ArrayList<>();
                KafkaProducer<byte[], byte[]> prev = null;
                int aborted = 0;
                for (String name : names) {
                    KafkaProducer<byte[], byte[]> cur = txnProducer("java-" + name, txnId);
                    producers.add(cur);
                    cur.initTransactions(); // fences prev and aborts its open transaction
                    ids.add(producerIdAndEpoch(cur));
                    final KafkaProducer<byte[], byte[]> zombie = prev;
                    if (zombie != null) {
                        String zname = names[producers.size() - 2];
                        switch (zname) {
                            case "zombie-produce":
                                expectFenced(() -> zombie.send(new ProducerRecord<>(topic, 0, b("k"), b(zname + "-2")))
                                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS), zname + ": send to p0 (Produce)");
                                break;
                            case "zombie-add-partitions":
                                expectFenced(() -> zombie.send(new ProducerRecord<>(topic, 1, b("k"), b(zname + "-2")))
                                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS), zname + ": send to p1 (AddPartitionsToTxn)");
                                break;
                            default:
                                expectFenced(zombie::commitTransaction, zname + ": commitTransaction (EndTxn)");
                        }
                        // whatever comes next fails too
                        expectFenced(zombie::commitTransaction, zname + ": commitTransaction after being fenced");
                    }
                    cur.beginTransaction();
                    cur.send(new ProducerRecord<>(topic, 0, b("k"), b(name + "-1"))).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                    if (!name.equals("survivor")) aborted++;
                    prev = cur;
                }
                prev.commitTransaction();
                for (int i = 1; i < ids.size(); i++) {
                    ProducerIdAndEpoch a = ids.get(i - 1), c = ids.get(i);
                    check(c.producerId == a.producerId ? c.epoch > a.epoch : c.producerId > a.producerId,
                            names[i] + " got " + c + " after " + a + ": a newer producer must get a higher epoch");
                }
                log("producer ids/epochs in order: " + ids);
                List<ConsumerRecord<byte[], byte[]>> recs = readTopic(topic, 2, "read_committed", 1,
                        "after the fencing");
                check(s(recs.get(0).value()).equals("survivor-1"), "read_committed saw " + s(recs.get(0).value())
                        + ", want only survivor-1");
                readTopic(topic, 2, "read_uncommitted", aborted + 1, "every record written, the zombies' too");
            } catch (Exception e) {
                throw explainedByTxnRace(e, topic, 2);
            } finally {
                for (KafkaProducer<byte[], byte[]> p : producers) {
                    try {
                        p.close(Duration.ofSeconds(5));
                    } catch (Throwable ignored) {
                        // fenced producers may complain on close
                    }
                }
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * (e) Admin listTransactions / describeTransactions on four transactional ids in the
     * states Ongoing, CompleteCommit, CompleteAbort and Empty: filters by state, producer id
     * and duration; describe shows state, producer id and epoch, timeout, start time and the
     * partitions of the open transaction; an unknown id is TransactionalIdNotFoundException.
     */
    static void scenarioTxnAdminListDescribe() throws Exception {
        String topic = uniqueTopic("java-txnadm");
        String prefix = uniqueGroup("java-txnadm");
        String ongoing = prefix + "-ongoing", commit = prefix + "-commit", abort = prefix + "-abort",
                empty = prefix + "-empty";
        log("transaction admin: transactional ids " + prefix + "-*");
        List<KafkaProducer<byte[], byte[]>> producers = new ArrayList<>();
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try {
                Map<String, ProducerIdAndEpoch> pids = new TreeMap<>();
                Map<String, KafkaProducer<byte[], byte[]>> byId = new HashMap<>();
                for (String id : new String[] {ongoing, commit, abort, empty}) {
                    KafkaProducer<byte[], byte[]> p = txnProducer("java-txnadm-" + id.substring(prefix.length() + 1), id);
                    producers.add(p);
                    p.initTransactions();
                    pids.put(id, producerIdAndEpoch(p));
                    byId.put(id, p);
                }
                long beforeStart = System.currentTimeMillis();
                for (String id : new String[] {ongoing, commit, abort}) {
                    KafkaProducer<byte[], byte[]> p = byId.get(id);
                    p.beginTransaction();
                    p.send(new ProducerRecord<>(topic, 0, b("k"), b(id))).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                    p.send(new ProducerRecord<>(topic, 1, b("k"), b(id))).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                }
                byId.get(commit).commitTransaction();
                byId.get(abort).abortTransaction();
                Thread.sleep(50); // the open transaction is now at least 50 ms old

                Map<String, TransactionState> want = new TreeMap<>();
                want.put(ongoing, TransactionState.ONGOING);
                want.put(commit, TransactionState.COMPLETE_COMMIT);
                want.put(abort, TransactionState.COMPLETE_ABORT);
                want.put(empty, TransactionState.EMPTY);
                Map<String, TransactionListing> listed = listTxns(admin, new ListTransactionsOptions(), prefix);
                Map<String, TransactionState> states = new TreeMap<>();
                listed.forEach((id, l) -> states.put(id, l.state()));
                check(states.equals(want), "listTransactions states " + states + ", want " + want);
                for (String id : want.keySet()) {
                    check(listed.get(id).producerId() == pids.get(id).producerId,
                            "listTransactions " + listed.get(id) + ": producer id, want " + pids.get(id));
                }
                Set<String> onlyOngoing = listTxns(admin, new ListTransactionsOptions()
                        .filterStates(Collections.singleton(TransactionState.ONGOING)), prefix).keySet();
                check(onlyOngoing.equals(Collections.singleton(ongoing)),
                        "listTransactions(filterStates ONGOING) gave " + onlyOngoing);
                Set<String> byPid = listTxns(admin, new ListTransactionsOptions()
                        .filterProducerIds(Collections.singleton(pids.get(commit).producerId)), prefix).keySet();
                check(byPid.equals(Collections.singleton(commit)), "listTransactions(filterProducerIds "
                        + pids.get(commit).producerId + ") gave " + byPid);
                Set<String> longRunning = listTxns(admin, new ListTransactionsOptions()
                        .filterStates(Collections.singleton(TransactionState.ONGOING)).filterOnDuration(3_600_000L),
                        prefix).keySet();
                check(longRunning.isEmpty(), "listTransactions(ONGOING, running over an hour) gave " + longRunning);
                Set<String> running = listTxns(admin, new ListTransactionsOptions()
                        .filterStates(Collections.singleton(TransactionState.ONGOING)).filterOnDuration(10L),
                        prefix).keySet();
                check(running.equals(Collections.singleton(ongoing)),
                        "listTransactions(ONGOING, running over 10 ms) gave " + running);

                Map<String, TransactionDescription> d = admin.describeTransactions(want.keySet()).all()
                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                for (String id : want.keySet()) {
                    TransactionDescription td = d.get(id);
                    check(td != null, "describeTransactions gave nothing for " + id);
                    String what = "describeTransactions(" + id + ") = " + td;
                    check(td.state() == want.get(id), what + ": state, want " + want.get(id));
                    check(td.coordinatorId() == 0, what + ": coordinator, want broker 0");
                    check(td.producerId() == pids.get(id).producerId && td.producerEpoch() == pids.get(id).epoch,
                            what + ": producer id/epoch, want " + pids.get(id));
                    check(td.transactionTimeoutMs() == TXN_TIMEOUT_MS, what + ": timeout, want " + TXN_TIMEOUT_MS);
                    // the partitions of completed transactions: txn_admin_describe_completed_has_no_partitions
                    if (id.equals(ongoing) || id.equals(empty)) {
                        Set<TopicPartition> parts = id.equals(ongoing)
                                ? new HashSet<>(allPartitions(topic, 2)) : Collections.emptySet();
                        check(td.topicPartitions().equals(parts), what + ": partitions, want " + parts);
                    }
                }
                TransactionDescription td = d.get(ongoing);
                long now = System.currentTimeMillis();
                check(td.transactionStartTimeMs().isPresent()
                                && td.transactionStartTimeMs().getAsLong() >= beforeStart - 1000
                                && td.transactionStartTimeMs().getAsLong() <= now,
                        "describeTransactions(ongoing) start time " + td.transactionStartTimeMs() + ", want within ["
                                + beforeStart + ", " + now + "]");
                expectFailure(admin.describeTransactions(Collections.singleton(prefix + "-unknown")).all(),
                        TransactionalIdNotFoundException.class, "describeTransactions of an unknown transactional id");

                byId.get(ongoing).commitTransaction();
                td = admin.describeTransactions(Collections.singleton(ongoing)).description(ongoing)
                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                check(td.state() == TransactionState.COMPLETE_COMMIT, "describeTransactions after the commit: " + td);
            } catch (Exception e) {
                throw explainedByTxnRace(e, topic, 2);
            } finally {
                for (KafkaProducer<byte[], byte[]> p : producers) p.close(Duration.ofSeconds(5));
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * describeTransactions of a committed and an aborted transaction: CompleteCommit and
     * CompleteAbort with no partitions -- Kafka's coordinator empties the partition set when a
     * transaction completes (TransactionMetadata.prepareComplete), the set belongs to the
     * transaction in progress.
     */
    static void scenarioTxnAdminDescribeCompleted() throws Exception {
        String topic = uniqueTopic("java-txndone");
        String prefix = uniqueGroup("java-txndone");
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try {
                Map<String, TransactionState> want = new TreeMap<>();
                for (String end : new String[] {"commit", "abort"}) {
                    String id = prefix + "-" + end;
                    want.put(id, end.equals("commit") ? TransactionState.COMPLETE_COMMIT : TransactionState.COMPLETE_ABORT);
                    try (KafkaProducer<byte[], byte[]> p = txnProducer("java-txndone-" + end, id)) {
                        p.initTransactions();
                        p.beginTransaction();
                        p.send(new ProducerRecord<>(topic, 0, b("k"), b(id))).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        p.send(new ProducerRecord<>(topic, 1, b("k"), b(id))).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        if (end.equals("commit")) p.commitTransaction();
                        else p.abortTransaction();
                    }
                }
                Map<String, TransactionDescription> d = admin.describeTransactions(want.keySet()).all()
                        .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                for (String id : want.keySet()) {
                    TransactionDescription td = d.get(id);
                    check(td != null && td.state() == want.get(id) && td.topicPartitions().isEmpty(),
                            "describeTransactions(" + id + ") = " + td + ", want state " + want.get(id)
                                    + " and no partitions");
                }
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * The transaction coordinator race (see KNOWN_BROKER_BUGS): the coordinator's 100 ms timer
     * and the EndTxn or InitProducerId request handling both complete the same decided
     * transaction at once. Both write its markers, and the later one saves its stale copy of
     * the transactional id's state over whatever changed meanwhile.
     */
    static final String TXN_FINISH_RACE = "a decided transaction is completed twice at once "
            + "(TxnCoordinator::finish from both the 100 ms timer and the EndTxn/InitProducerId handler): its "
            + "markers are written twice, and the later finish saves a stale copy of the state over newer "
            + "changes -- the epoch bump of InitProducerId (the new producer is then fenced), or the next "
            + "transaction's AddPartitionsToTxn (then INVALID_TXN_STATE, or partitions left without markers)";

    /** A failure explained by a known broker bug: XFAIL, unless MYELIN_INTEROP_STRICT=1. */
    static final class KnownBrokerBug extends RuntimeException {
        final String bug;

        /** bug: the known bug; evidence: what showed it; cause: the failure it explains. */
        KnownBrokerBug(String bug, String evidence, Throwable cause) {
            super(cause + " -- explained by: " + evidence, cause);
            this.bug = bug;
        }
    }

    /**
     * The race's fingerprint in a topic where one transactional producer writes at a time: two
     * or more control records in a row (each transaction writes exactly one marker to each
     * partition it touched). Found from the offsets the data records leave free. Returns a
     * description, or null when every gap holds at most one marker.
     */
    static String duplicateMarkers(String topic, int parts) {
        List<String> found = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = consumer("read_uncommitted")) {
            List<TopicPartition> tps = allPartitions(topic, parts);
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(OP_TIMEOUT_S));
            Map<Integer, List<Long>> offsets = new TreeMap<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() < deadline
                    && tps.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    offsets.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.offset());
                }
            }
            for (TopicPartition tp : tps) {
                long prev = -1;
                List<Long> l = new ArrayList<>(offsets.getOrDefault(tp.partition(), Collections.emptyList()));
                l.add(end.get(tp)); // the markers after the last record end at the end offset
                for (long o : l) {
                    if (prev >= 0 && o - prev - 1 >= 2) {
                        found.add(tp + ": " + (o - prev - 1) + " control records between offsets " + prev + " and " + o);
                    }
                    prev = o;
                }
            }
        } catch (Exception e) {
            return null; // no evidence
        }
        return found.isEmpty() ? null : String.join("; ", found.subList(0, Math.min(5, found.size())));
    }

    /** The failure as KnownBrokerBug when the topic shows the coordinator race's fingerprint. */
    static Exception explainedByTxnRace(Exception failure, String topic, int parts) {
        if (failure instanceof KnownBrokerBug) return failure;
        String evidence = duplicateMarkers(topic, parts);
        if (evidence == null) return failure;
        return new KnownBrokerBug(TXN_FINISH_RACE, "duplicate markers in " + topic + ": " + evidence, failure);
    }

    /**
     * Back-to-back transactions over 3 partitions, alternately committed and aborted, one
     * record per partition each: every commit and abort succeeds, read_committed sees exactly
     * the committed records, and each partition holds one marker per transaction.
     */
    static void scenarioTxnBackToBack() throws Exception {
        String topic = uniqueTopic("java-txn-b2b");
        String txnId = uniqueGroup("java-txn-b2b-id");
        int n = 300;
        log("back-to-back transactions on topic " + topic);
        try (Admin admin = admin()) {
            createTopic(admin, topic, PARTITIONS);
            try (KafkaProducer<byte[], byte[]> producer = txnProducer("java-txn-b2b", txnId)) {
                producer.initTransactions();
                Map<String, String> committed = new TreeMap<>();
                List<String> endFailures = new ArrayList<>();
                long t0 = System.nanoTime();
                int done = 0;
                for (int i = 0; i < n; i++, done++) {
                    producer.beginTransaction();
                    List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
                    for (int p = 0; p < PARTITIONS; p++) {
                        futures.add(producer.send(new ProducerRecord<>(topic, p, null, b("t" + i + "-p" + p))));
                    }
                    Map<String, String> sent = new TreeMap<>();
                    for (int p = 0; p < PARTITIONS; p++) {
                        RecordMetadata md = futures.get(p).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        sent.put(md.partition() + "@" + md.offset(), "t" + i + "-p" + p);
                    }
                    try {
                        if (i % 2 == 0) {
                            producer.commitTransaction();
                            committed.putAll(sent);
                        } else {
                            producer.abortTransaction();
                        }
                    } catch (Exception e) {
                        endFailures.add("transaction " + i + " (" + (i % 2 == 0 ? "commit" : "abort") + "): " + e);
                        break; // the producer is in a fatal state now
                    }
                }
                log(done + " transactions in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                check(endFailures.isEmpty(), "ending a transaction failed: " + endFailures + "; "
                        + java.util.Objects.toString(duplicateMarkers(topic, PARTITIONS), "no duplicate markers"));
                Map<String, String> got = positions(readTopic(topic, PARTITIONS, "read_committed", committed.size(),
                        "committed records of back-to-back transactions"));
                check(got.equals(committed), "read_committed: missing " + diff(committed.keySet(), got.keySet())
                        + ", aborted but visible " + diff(got.keySet(), committed.keySet()));
                Map<Integer, Long> end = endOffsets(topic, PARTITIONS, "read_uncommitted");
                check(end.equals(constOffsets(PARTITIONS, 2L * n)), "end offsets " + end + ", want " + 2 * n
                        + " (a record and a marker per transaction): "
                        + java.util.Objects.toString(duplicateMarkers(topic, PARTITIONS), "no duplicate markers"));
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    /**
     * Repeated crash and restart of a transactional producer: each producer calls
     * initTransactions -- aborting the transaction its predecessor left open over 4
     * partitions -- and must then be the one the coordinator knows (its epoch); it commits a
     * record, then opens a transaction over the 4 partitions and goes away (close(ZERO): no
     * abort).
     */
    static void scenarioTxnReinitAfterCrash() throws Exception {
        String topic = uniqueTopic("java-txn-reinit");
        String txnId = uniqueGroup("java-txn-reinit-id");
        int cycles = 40, parts = 4;
        log("re-init after crash on topic " + topic);
        try (Admin admin = admin()) {
            createTopic(admin, topic, parts);
            try {
                for (int i = 0; i < cycles; i++) {
                    try (KafkaProducer<byte[], byte[]> p = txnProducer("java-txn-reinit-" + i, txnId)) {
                        p.initTransactions();
                        ProducerIdAndEpoch mine = producerIdAndEpoch(p);
                        Thread.sleep(120); // past the coordinator's next 100 ms tick
                        TransactionDescription td = admin.describeTransactions(Collections.singleton(txnId))
                                .description(txnId).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        check(td.producerId() == mine.producerId && td.producerEpoch() == mine.epoch,
                                "cycle " + i + ": initTransactions gave " + mine + ", the coordinator then has epoch "
                                        + td.producerEpoch() + " (" + td.state() + ")");
                        p.beginTransaction();
                        p.send(new ProducerRecord<>(topic, 0, null, b("committed-" + i))).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        p.commitTransaction();
                        p.beginTransaction();
                        for (int q = 0; q < parts; q++) {
                            p.send(new ProducerRecord<>(topic, q, null, b("crashed-" + i)))
                                    .get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                        }
                        p.close(Duration.ZERO);
                    }
                }
                readTopic(topic, parts, "read_committed", cycles, "the committed records");
            } finally {
                deleteTopic(admin, topic);
            }
        }
    }

    /** listTransactions with options, only the transactional ids starting with prefix. */
    static Map<String, TransactionListing> listTxns(Admin admin, ListTransactionsOptions options, String prefix)
            throws Exception {
        Map<String, TransactionListing> out = new TreeMap<>();
        for (TransactionListing l : admin.listTransactions(options).all().get(OP_TIMEOUT_S, TimeUnit.SECONDS)) {
            if (l.transactionalId().startsWith(prefix)) {
                check(out.put(l.transactionalId(), l) == null, "listTransactions lists " + l + " twice");
            }
        }
        return out;
    }

    /** Scenario name -> why it is expected to fail today. */
    static final Map<String, String> KNOWN_BROKER_BUGS = new HashMap<>();

    // The bugs once listed here (topic lookup by id with an empty name, authorized operations,
    // static members getting an empty member id and rebalancing on restart) are fixed.
    static {
    }

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
        scenarios.put("idempotent_default_producer_exactly_once_in_order",
                MyelinJavaClientTest::scenarioIdempotentDefaultProducer);
        scenarios.put("txn_commit_abort_read_committed", MyelinJavaClientTest::scenarioTxnCommitAbortVisibility);
        scenarios.put("txn_consume_transform_produce_crash_restart",
                MyelinJavaClientTest::scenarioTxnConsumeTransformProduce);
        scenarios.put("txn_zombie_fencing", MyelinJavaClientTest::scenarioTxnZombieFencing);
        scenarios.put("txn_admin_list_describe", MyelinJavaClientTest::scenarioTxnAdminListDescribe);
        scenarios.put("txn_admin_describe_completed_has_no_partitions",
                MyelinJavaClientTest::scenarioTxnAdminDescribeCompleted);
        scenarios.put("txn_back_to_back_commit_abort", MyelinJavaClientTest::scenarioTxnBackToBack);
        scenarios.put("txn_reinit_after_crash_repeated", MyelinJavaClientTest::scenarioTxnReinitAfterCrash);
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
