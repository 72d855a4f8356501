// The client side of scripts/connect-tests: reads a topic back, writes the records that
// MirrorMaker 2 copies, and sets and reads a consumer group's committed offsets. Built with
// the same kafka-clients as the Connect worker (target/connect-lib).
//
//   dump BOOTSTRAP TOPIC MIN TIMEOUT_MS   every record from the start, as
//                                         "partition<TAB>offset<TAB>key<TAB>value", once at
//                                         least MIN are read and a poll brings nothing more,
//                                         or at the timeout (the caller checks the count)
//   produce BOOTSTRAP TOPIC PARTITIONS N  creates the topic, then record i (key k<i>,
//                                         value v<i>) goes to partition i % PARTITIONS
//   commit BOOTSTRAP GROUP TOPIC P=OFF... commits offsets for an empty group
//   offsets BOOTSTRAP GROUP               the group's committed offsets, "topic partition
//                                         offset" a line, sorted
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class TopicTool {
    /** How long one poll waits; a poll that brings nothing after MIN records ends a dump. */
    private static final Duration POLL = Duration.ofMillis(1500);

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[1]);
        switch (args[0]) {
            case "dump" -> dump(props, args[2], Integer.parseInt(args[3]), Long.parseLong(args[4]));
            case "produce" ->
                produce(props, args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            case "commit" -> commit(props, args[2], args[3], List.of(args).subList(4, args.length));
            case "offsets" -> offsets(props, args[2]);
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    private static void dump(Properties props, String topic, int min, long timeoutMs) {
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        long deadline = System.currentTimeMillis() + timeoutMs;
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = new ArrayList<>();
            while (partitions.isEmpty() && System.currentTimeMillis() < deadline) {
                for (PartitionInfo p : consumer.partitionsFor(topic, Duration.ofSeconds(5))) {
                    partitions.add(new TopicPartition(topic, p.partition()));
                }
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (System.currentTimeMillis() < deadline) {
                int got = 0;
                for (ConsumerRecord<String, String> r : consumer.poll(POLL)) {
                    records.add(r);
                    got++;
                }
                if (got == 0 && records.size() >= min) {
                    break;
                }
            }
        }
        records.sort(Comparator.<ConsumerRecord<String, String>>comparingInt(r -> r.partition())
            .thenComparingLong(r -> r.offset()));
        for (ConsumerRecord<String, String> r : records) {
            System.out.println(
                r.partition() + "\t" + r.offset() + "\t" + r.key() + "\t" + r.value());
        }
    }

    private static void produce(Properties props, String topic, int partitions, int count)
            throws InterruptedException, ExecutionException {
        try (Admin admin = Admin.create(props)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, i % partitions, "k" + i, "v" + i)).get();
            }
        }
    }

    private static void commit(Properties props, String group, String topic, List<String> offsets)
            throws InterruptedException, ExecutionException {
        Map<TopicPartition, OffsetAndMetadata> commits = new HashMap<>();
        for (String po : offsets) {
            String[] kv = po.split("=");
            commits.put(new TopicPartition(topic, Integer.parseInt(kv[0])),
                new OffsetAndMetadata(Long.parseLong(kv[1])));
        }
        try (Admin admin = Admin.create(props)) {
            admin.alterConsumerGroupOffsets(group, commits).all().get();
        }
    }

    private static void offsets(Properties props, String group)
            throws InterruptedException, ExecutionException {
        try (Admin admin = Admin.create(props)) {
            Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            committed.entrySet().stream()
                .sorted(Comparator.comparing((Map.Entry<TopicPartition, OffsetAndMetadata> e) ->
                    e.getKey().topic()).thenComparingInt(e -> e.getKey().partition()))
                .forEach(e -> System.out.println(e.getKey().topic() + " " + e.getKey().partition()
                    + " " + e.getValue().offset()));
        }
    }
}
