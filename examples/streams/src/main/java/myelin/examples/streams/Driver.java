package myelin.examples.streams;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes the scenario's input (see {@link Scenario}).
 *
 * <pre>
 *   Driver setup BOOTSTRAP BASE_MS                 create the topics, write the users table
 *   Driver produce BOOTSTRAP BASE_MS FROM TO RATE [GATE]
 *                                                  payments FROM..TO-1, RATE a second; once the
 *                                                  file GATE exists, the rest at once
 * </pre>
 *
 * The gate lets a test keep payments flowing, at a known pace, for as long as its events take
 * (a rebalance, say), while the payments stay the same on every run.
 *
 * The producer is idempotent with {@code acks=all}, so each payment lands exactly once.
 */
public final class Driver {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private Driver() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[0].equals("setup")) {
            setup(args[1], Scenario.parseLong("BASE_MS", args[2]));
        } else if ((args.length == 6 || args.length == 7) && args[0].equals("produce")) {
            produce(args[1], Scenario.parseLong("BASE_MS", args[2]),
                    Scenario.parseLong("FROM", args[3]), Scenario.parseLong("TO", args[4]),
                    Scenario.parseLong("RATE", args[5]),
                    args.length == 7 ? Optional.of(Path.of(args[6])) : Optional.empty());
        } else {
            System.err.println("usage: Driver setup BOOTSTRAP BASE_MS"
                    + " | Driver produce BOOTSTRAP BASE_MS FROM TO RATE [GATE]");
            System.exit(2);
        }
    }

    static void setup(String bootstrap, long baseMs) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            List<NewTopic> topics = new ArrayList<>();
            Scenario.TOPIC_PARTITIONS.forEach((name, partitions) ->
                    topics.add(new NewTopic(name, partitions, (short) 1)));
            try {
                admin.createTopics(topics).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
        }
        try (Producer<String, String> producer = producer(bootstrap)) {
            long ts = baseMs - Scenario.USERS_BEFORE_BASE_MS;
            for (Map.Entry<String, String> user : new TreeMap<>(Scenario.REGION).entrySet()) {
                producer.send(new ProducerRecord<>(
                        Scenario.USERS, null, ts, user.getKey(), user.getValue())).get();
            }
        }
        System.out.println("setup: topics " + new TreeMap<>(Scenario.TOPIC_PARTITIONS)
                + ", " + Scenario.REGION.size() + " users");
    }

    static void produce(String bootstrap, long baseMs, long from, long to, long rate,
            Optional<Path> gate) throws Exception {
        long started = System.nanoTime();
        long paced = to - from;
        try (Producer<String, String> producer = producer(bootstrap)) {
            for (long seq = from; seq < to; seq++) {
                if (paced == to - from && gate.isPresent() && Files.exists(gate.get())) {
                    paced = seq - from;
                }
                long due = started + (seq - from) * 1_000_000_000L / rate;
                long wait = due - System.nanoTime();
                if (wait > 0 && paced == to - from) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                producer.send(new ProducerRecord<>(Scenario.PAYMENTS, null,
                        Scenario.timestamp(baseMs, seq), Scenario.user(seq),
                        Scenario.amount(seq).toPlainString()), (meta, error) -> {
                            if (error != null) {
                                System.err.println("produce failed: " + error);
                                System.exit(1);
                            }
                        });
            }
            producer.flush();
        }
        System.out.printf("produced payments %d..%d in %d ms (%d paced)%n",
                from, to - 1, (System.nanoTime() - started) / 1_000_000, paced);
    }

    private static Producer<String, String> producer(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis() / 3);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return new KafkaProducer<>(p);
    }
}
