// The Apache Kafka Java client's part of the three-node cluster test (tests/cluster.rs starts
// the cluster, Apache Kafka 4.4 or Myelin, and runs this through run.sh next to this file).
//
//   roundtrip BOOTSTRAP TOPIC PARTITIONS EXPECTED_NODES
//       EXPECTED_NODES is "1@127.0.0.11:9092,2@127.0.0.12:9092,...". Admin.describeCluster lists
//       exactly those nodes; createTopics makes TOPIC with PARTITIONS partitions and
//       replication factor 1; describeTopics shows a leader for every partition, the leaders
//       covering every expected node, replicas and ISR equal to the leader; a KafkaProducer
//       (acks=all, idempotent) writes keyed records to every partition and a KafkaConsumer in a
//       fresh consumer group reads them all back, key, value, partition, offset and order
//       compared.
//   quorum BOOTSTRAP
//       Admin.describeMetadataQuorum, printed as one line:
//       "quorum leader=1 epoch=1 high_watermark=52 voters=1,2,3 observers=".
//   describe BOOTSTRAP TOPIC
//       Admin.describeTopics, one line per partition (node ids; -1 for no leader):
//       "partition 2 leader=-1 replicas=3 isr= elr=3 last_known_elr=3".
//
// Exit code 0 when every check passes, 1 when one fails (a FAIL line says which), 2 on a usage
// error. Bounded: a watchdog halts the JVM after WATCHDOG_S.

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class ClusterScenarios {
    static final long WATCHDOG_S = 150;
    static final long OP_TIMEOUT_S = 30;
    static final int RECORDS_PER_PARTITION = 50;

    static final class CheckFailed extends RuntimeException {
        CheckFailed(String msg) {
            super(msg);
        }
    }

    static void check(boolean cond, String msg) {
        if (!cond) throw new CheckFailed(msg);
    }

    static void log(String msg) {
        System.out.println("[java-cluster] " + msg);
        System.out.flush();
    }

    public static void main(String[] args) {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(WATCHDOG_S));
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("FAIL watchdog: still running after " + WATCHDOG_S + " s");
            System.out.flush();
            Runtime.getRuntime().halt(3);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        int code;
        try {
            if (args.length == 5 && args[0].equals("roundtrip")) {
                roundTrip(args[1], args[2], Integer.parseInt(args[3]), parseNodes(args[4]));
                code = 0;
            } else if (args.length == 2 && args[0].equals("quorum")) {
                quorum(args[1]);
                code = 0;
            } else if (args.length == 3 && args[0].equals("describe")) {
                describe(args[1], args[2]);
                code = 0;
            } else {
                System.err.println("usage: ClusterScenarios roundtrip BOOTSTRAP TOPIC PARTITIONS ID@HOST:PORT,...");
                System.err.println("       ClusterScenarios quorum BOOTSTRAP");
                System.err.println("       ClusterScenarios describe BOOTSTRAP TOPIC");
                code = 2;
            }
        } catch (CheckFailed e) {
            System.out.println("FAIL " + e.getMessage());
            code = 1;
        } catch (Throwable e) {
            System.out.println("FAIL " + e);
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        // Client threads may linger on an unreachable node; do not wait for them.
        Runtime.getRuntime().halt(code);
    }

    /** "1@127.0.0.11:9092,..." as id -> "host:port". */
    static TreeMap<Integer, String> parseNodes(String spec) {
        TreeMap<Integer, String> nodes = new TreeMap<>();
        for (String n : spec.split(",")) {
            String[] idAddr = n.split("@", 2);
            nodes.put(Integer.parseInt(idAddr[0]), idAddr[1]);
        }
        return nodes;
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "myelin-cluster-admin");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }

    static void quorum(String bootstrap) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            QuorumInfo q = admin.describeMetadataQuorum().quorumInfo().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            String voters = q.voters().stream().map(r -> Integer.toString(r.replicaId())).sorted()
                    .collect(Collectors.joining(","));
            String observers = q.observers().stream().map(r -> Integer.toString(r.replicaId())).sorted()
                    .collect(Collectors.joining(","));
            System.out.println("quorum leader=" + q.leaderId() + " epoch=" + q.leaderEpoch() + " high_watermark="
                    + q.highWatermark() + " voters=" + voters + " observers=" + observers);
        }
    }

    static String ids(List<Node> nodes) {
        if (nodes == null) return "";
        return nodes.stream().map(n -> Integer.toString(n.id())).collect(Collectors.joining(","));
    }

    static void describe(String bootstrap, String topic) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            TopicDescription desc = admin.describeTopics(Collections.singleton(topic)).allTopicNames()
                    .get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(topic);
            for (TopicPartitionInfo p : desc.partitions()) {
                int leader = p.leader() == null || p.leader().isEmpty() ? -1 : p.leader().id();
                System.out.println("partition " + p.partition() + " leader=" + leader + " replicas=" + ids(p.replicas())
                        + " isr=" + ids(p.isr()) + " elr=" + ids(p.elr()) + " last_known_elr=" + ids(p.lastKnownElr()));
            }
        }
    }

    static void roundTrip(String bootstrap, String topic, int partitions, TreeMap<Integer, String> expected)
            throws Exception {
        try (Admin admin = admin(bootstrap)) {
            DescribeClusterResult cluster = admin.describeCluster();
            TreeMap<Integer, String> nodes = new TreeMap<>();
            for (Node n : cluster.nodes().get(OP_TIMEOUT_S, TimeUnit.SECONDS)) {
                nodes.put(n.id(), n.host() + ":" + n.port());
            }
            String clusterId = cluster.clusterId().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            Node controller = cluster.controller().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            log("describeCluster: id " + clusterId + ", nodes " + nodes + ", controller "
                    + (controller == null ? "none" : controller.id()));
            check(nodes.equals(expected), "describeCluster nodes " + nodes + ", expected " + expected);
            check(clusterId != null && !clusterId.isEmpty(), "describeCluster has no cluster id");
            check(controller != null && expected.containsKey(controller.id()),
                    "describeCluster controller " + controller + " is not one of the nodes");

            admin.createTopics(Collections.singleton(new NewTopic(topic, partitions, (short) 1)))
                    .all().get(OP_TIMEOUT_S, TimeUnit.SECONDS);
            log("createTopics " + topic + " (" + partitions + " partitions, replication factor 1)");

            // Every partition gets a leader; describeTopics may lag the creation briefly.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            TopicDescription desc;
            while (true) {
                // A broker learns of a new topic a little after createTopics returns; until then
                // it answers UNKNOWN_TOPIC_OR_PARTITION.
                desc = null;
                try {
                    desc = admin.describeTopics(Collections.singleton(topic)).allTopicNames()
                            .get(OP_TIMEOUT_S, TimeUnit.SECONDS).get(topic);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) throw e;
                }
                boolean ready = desc != null && desc.partitions().size() == partitions
                        && desc.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty());
                if (ready) break;
                check(System.nanoTime() < deadline, "describeTopics: partitions without a leader 20 s after creation: "
                        + (desc == null ? "unknown topic" : desc.partitions()));
                Thread.sleep(200);
            }
            TreeSet<Integer> leaders = new TreeSet<>();
            for (TopicPartitionInfo p : desc.partitions()) {
                int leader = p.leader().id();
                leaders.add(leader);
                List<Integer> replicas = p.replicas().stream().map(Node::id).collect(Collectors.toList());
                List<Integer> isr = p.isr().stream().map(Node::id).collect(Collectors.toList());
                log("describeTopics " + topic + "-" + p.partition() + ": leader " + leader + " "
                        + p.leader().host() + ":" + p.leader().port() + ", replicas " + replicas + ", isr " + isr);
                check(expected.containsKey(leader), "partition " + p.partition() + " led by unknown node " + leader);
                check((p.leader().host() + ":" + p.leader().port()).equals(expected.get(leader)),
                        "partition " + p.partition() + " leader address " + p.leader().host() + ":"
                                + p.leader().port() + ", expected " + expected.get(leader));
                check(replicas.equals(List.of(leader)), "partition " + p.partition() + " replicas " + replicas);
                check(isr.equals(List.of(leader)), "partition " + p.partition() + " isr " + isr);
            }
            check(leaders.equals(new TreeSet<>(expected.keySet())),
                    "leaders " + leaders + " do not cover every node " + expected.keySet());
        }

        // Produce keyed records to every partition, acks=all.
        Map<Integer, List<String[]>> sent = new TreeMap<>();
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "myelin-cluster-producer");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            List<String[]> order = new ArrayList<>();
            for (int i = 0; i < RECORDS_PER_PARTITION; i++) {
                for (int p = 0; p < partitions; p++) {
                    String key = "key-" + p + "-" + i;
                    String value = "java value " + i + " for partition " + p;
                    futures.add(producer.send(new ProducerRecord<>(topic, p, key, value)));
                    order.add(new String[] {key, value});
                }
            }
            producer.flush();
            for (int i = 0; i < futures.size(); i++) {
                RecordMetadata md = futures.get(i).get(OP_TIMEOUT_S, TimeUnit.SECONDS);
                String[] kv = order.get(i);
                List<String[]> inPartition = sent.computeIfAbsent(md.partition(), k -> new ArrayList<>());
                check(md.offset() == inPartition.size(), "partition " + md.partition() + ": record " + kv[0]
                        + " acknowledged at offset " + md.offset() + ", expected " + inPartition.size());
                check(kv[0].startsWith("key-" + md.partition() + "-"), "record " + kv[0] + " landed in partition "
                        + md.partition());
                inPartition.add(kv);
            }
        }
        check(sent.size() == partitions, "records acknowledged on " + sent.keySet() + " only");
        log("produced " + partitions * RECORDS_PER_PARTITION + " records, acks=all, every partition from offset 0");

        // Read everything back in a fresh consumer group.
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "myelin-cluster-consumer");
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "cluster-java-" + UUID.randomUUID());
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Map<Integer, Integer> next = new HashMap<>();
        int got = 0;
        int total = partitions * RECORDS_PER_PARTITION;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            consumer.subscribe(Collections.singleton(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (got < total) {
                check(System.nanoTime() < deadline, "consumed " + got + " of " + total + " records in 60 s");
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    int want = next.getOrDefault(r.partition(), 0);
                    check(r.offset() == want, "partition " + r.partition() + ": offset " + r.offset()
                            + " where " + want + " was next");
                    String[] kv = sent.get(r.partition()).get(want);
                    check(kv[0].equals(r.key()) && kv[1].equals(r.value()), "partition " + r.partition()
                            + " offset " + r.offset() + ": got " + r.key() + "=" + r.value() + ", sent " + kv[0]
                            + "=" + kv[1]);
                    next.put(r.partition(), want + 1);
                    got++;
                }
            }
            consumer.commitSync(Duration.ofSeconds(OP_TIMEOUT_S));
        }
        log("consumed " + got + " records in a fresh group: keys, values, partitions, offsets and order match");
        System.out.println("PASS roundtrip " + topic);
    }
}
