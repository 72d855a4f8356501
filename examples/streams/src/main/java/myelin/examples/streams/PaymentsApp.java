package myelin.examples.streams;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The product brief's Kafka Streams application, exactly once (exactly_once_v2):
 *
 * <ul>
 *   <li>{@code payments} (user → amount) → groupByKey → running total per user →
 *       {@code payment_totals};
 *   <li>payments per user in 5 s tumbling windows of their timestamps → {@code payment_counts}
 *       (key {@code user@windowStartMs}, value the count);
 *   <li>payments joined with the {@code users} table (user → region) →
 *       {@code payments_by_region}
 *       (value {@code region amount}).
 * </ul>
 *
 * <p>Usage: {@code PaymentsApp BOOTSTRAP APPLICATION_ID STATE_DIR}. It prints its state changes
 * and its tasks on stdout; SIGTERM closes it and leaves the group at once.
 */
public final class PaymentsApp {
    /** A grace far beyond any disorder of the input, which is in timestamp order per partition. */
    private static final Duration WINDOW_GRACE = Duration.ofMinutes(1);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(20);

    private PaymentsApp() {}

    static Topology topology() {
        StreamsBuilder builder = new StreamsBuilder();
        KStream<String, Payment> payments = builder.stream(Scenario.PAYMENTS);

        // The brief's topology, as written there (with the store's serdes spelled out).
        KTable<String, BigDecimal> total = payments.groupByKey().aggregate(
                () -> BigDecimal.ZERO,
                (user, p, agg) -> agg.add(p.amount()),
                Materialized.<String, BigDecimal, KeyValueStore<Bytes, byte[]>>as("payment-totals")
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Payment.DECIMAL));
        total.toStream().to(Scenario.TOTALS, Produced.with(Serdes.String(), Payment.DECIMAL));

        payments.groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(
                        Duration.ofMillis(Scenario.WINDOW_MS), WINDOW_GRACE))
                .count(Materialized.as("payment-counts"))
                .toStream((window, n) -> window.key() + "@" + window.window().start())
                .mapValues(n -> Long.toString(n))
                .to(Scenario.COUNTS, Produced.with(Serdes.String(), Serdes.String()));

        KTable<String, String> users =
                builder.table(Scenario.USERS, Consumed.with(Serdes.String(), Serdes.String()),
                        Materialized.as("users"));
        payments.join(users, (p, region) -> region + " " + p.amount().toPlainString())
                .to(Scenario.BY_REGION, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    static Properties config(String bootstrap, String applicationId, String stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Payment.PaymentSerde.class);
        // The classic group protocol: KIP-1071's streams groups are not what is tested here.
        p.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, "classic");
        // Short intervals keep the tests quick: a transaction every 100 ms, a dead member out
        // of the group after 6 s (the brokers' smallest session timeout by default).
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6_000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1_000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 10_000);
        return p;
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 3) {
            System.err.println("usage: PaymentsApp BOOTSTRAP APPLICATION_ID STATE_DIR");
            System.exit(2);
        }
        KafkaStreams streams = new KafkaStreams(topology(), config(args[0], args[1], args[2]));
        CountDownLatch stopped = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            boolean running = now == KafkaStreams.State.RUNNING;
            say("state " + now + (running ? " tasks " + tasks(streams) : ""));
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                stopped.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            say("closing");
            streams.close(CloseOptions
                    .groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                    .withTimeout(CLOSE_TIMEOUT));
            say("closed");
        }));
        streams.start();
        stopped.await();
        if (streams.state() == KafkaStreams.State.ERROR) {
            System.exit(1);
        }
    }

    private static String tasks(KafkaStreams streams) {
        TreeSet<String> ids = new TreeSet<>();
        streams.metadataForLocalThreads().forEach(thread ->
                thread.activeTasks().forEach(task -> ids.add(task.taskId().toString())));
        return String.join(",", ids);
    }

    private static void say(String line) {
        System.out.println(Instant.now() + " " + line);
        System.out.flush();
    }
}
