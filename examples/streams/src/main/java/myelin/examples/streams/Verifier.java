package myelin.examples.streams;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads the three outputs with a {@code read_committed} consumer and holds them to the input
 * the driver wrote, payments 0..THROUGH-1 (see {@link Scenario}):
 *
 * <ul>
 *   <li>{@code payment_totals}: the last total of each user is the sum of its payments;
 *   <li>{@code payment_counts}: the last count of each (user, window) is its number of payments;
 *   <li>{@code payments_by_region}: each payment appears exactly once, with its user's region.
 * </ul>
 *
 * <p>Usage: {@code Verifier BOOTSTRAP BASE_MS THROUGH DEADLINE_S}. It waits until the outputs
 * match (exit 0) or the deadline passes (exit 1, with what differs), then prints the outputs,
 * window starts relative to BASE_MS so that every run prints the same.
 */
public final class Verifier {
    private static final Duration POLL = Duration.ofMillis(200);
    /** After a match, more reading: a duplicate arriving late would still fail the check. */
    private static final Duration SETTLE = Duration.ofSeconds(1);

    private final long baseMs;
    private final Map<String, String> totals = new TreeMap<>();
    private final Map<String, String> counts = new TreeMap<>();
    /** user → the joined records' values, in arrival order. */
    private final Map<String, List<String>> joined = new TreeMap<>();

    private final Map<String, String> expectedTotals = new TreeMap<>();
    private final Map<String, String> expectedCounts = new TreeMap<>();
    private final Map<String, List<String>> expectedJoined = new TreeMap<>();

    private Verifier(long baseMs, long through) {
        this.baseMs = baseMs;
        Map<String, BigDecimal> sums = new TreeMap<>();
        Map<String, Long> windows = new TreeMap<>();
        for (long seq = 0; seq < through; seq++) {
            String user = Scenario.user(seq);
            BigDecimal amount = Scenario.amount(seq);
            sums.merge(user, amount, BigDecimal::add);
            long ts = Scenario.timestamp(baseMs, seq);
            windows.merge(user + "@" + (ts - Math.floorMod(ts, Scenario.WINDOW_MS)), 1L, Long::sum);
            expectedJoined.computeIfAbsent(user, u -> new ArrayList<>())
                    .add(Scenario.REGION.get(user) + " " + amount.toPlainString());
        }
        sums.forEach((user, sum) -> expectedTotals.put(user, sum.toPlainString()));
        windows.forEach((key, n) -> expectedCounts.put(key, Long.toString(n)));
        expectedJoined.values().forEach(list -> list.sort(null));
    }

    public static void main(String[] args) {
        if (args.length != 4) {
            System.err.println("usage: Verifier BOOTSTRAP BASE_MS THROUGH DEADLINE_S");
            System.exit(2);
        }
        Verifier v = new Verifier(Scenario.parseLong("BASE_MS", args[1]),
                Scenario.parseLong("THROUGH", args[2]));
        boolean ok = v.read(args[0], Duration.ofSeconds(Scenario.parseLong("DEADLINE_S", args[3])));
        v.report(ok);
        System.exit(ok ? 0 : 1);
    }

    private boolean read(String bootstrap, Duration deadline) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        long end = System.nanoTime() + deadline.toNanos();
        long settledAt = Long.MAX_VALUE;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : List.of(Scenario.TOTALS, Scenario.COUNTS, Scenario.BY_REGION)) {
                for (int i = 0; i < Scenario.TOPIC_PARTITIONS.get(topic); i++) {
                    partitions.add(new TopicPartition(topic, i));
                }
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (System.nanoTime() < end) {
                for (ConsumerRecord<String, String> r : consumer.poll(POLL)) {
                    take(r);
                }
                boolean matches = differences().isEmpty();
                if (!matches) {
                    settledAt = Long.MAX_VALUE;
                } else if (settledAt == Long.MAX_VALUE) {
                    settledAt = System.nanoTime() + SETTLE.toNanos();
                } else if (System.nanoTime() >= settledAt) {
                    return true;
                }
            }
        }
        return false;
    }

    private void take(ConsumerRecord<String, String> r) {
        switch (r.topic()) {
            case Scenario.TOTALS -> totals.put(r.key(), r.value());
            case Scenario.COUNTS -> counts.put(r.key(), r.value());
            case Scenario.BY_REGION ->
                    joined.computeIfAbsent(r.key(), u -> new ArrayList<>()).add(r.value());
            default -> throw new IllegalStateException("unexpected topic " + r.topic());
        }
    }

    private List<String> differences() {
        List<String> out = new ArrayList<>();
        differ(Scenario.TOTALS, expectedTotals, totals, out);
        differ(Scenario.COUNTS, expectedCounts, counts, out);
        Map<String, List<String>> sorted = new TreeMap<>();
        joined.forEach((user, values) -> {
            List<String> copy = new ArrayList<>(values);
            copy.sort(null);
            sorted.put(user, copy);
        });
        differ(Scenario.BY_REGION, expectedJoined, sorted, out);
        return out;
    }

    private static <V> void differ(String topic, Map<String, V> expected, Map<String, V> actual,
            List<String> out) {
        for (Map.Entry<String, V> e : expected.entrySet()) {
            V got = actual.get(e.getKey());
            if (!e.getValue().equals(got)) {
                out.add(topic + " " + e.getKey() + ": expected " + brief(e.getValue())
                        + ", got " + brief(got));
            }
        }
        for (String key : actual.keySet()) {
            if (!expected.containsKey(key)) {
                out.add(topic + " " + key + ": unexpected, got " + brief(actual.get(key)));
            }
        }
    }

    /** A joined list is shown by its size and ends: a whole list would drown the report. */
    private static String brief(Object value) {
        if (value instanceof List<?> list && list.size() > 4) {
            return list.size() + " records [" + list.get(0) + ", " + list.get(1) + ", ..., "
                    + list.get(list.size() - 1) + "]";
        }
        return String.valueOf(value);
    }

    private void report(boolean ok) {
        System.out.println(Scenario.TOTALS + " (user: payments, final total):");
        expectedTotals.keySet().forEach(user -> System.out.printf("  %-6s %4d  %s%n", user,
                expectedJoined.get(user).size(), totals.get(user)));
        System.out.println(Scenario.COUNTS + " (user: count per "
                + Scenario.WINDOW_MS / 1000 + " s window, by window start from the base):");
        Map<String, StringBuilder> lines = new TreeMap<>();
        counts.forEach((key, n) -> {
            int at = key.lastIndexOf('@');
            long start = Long.parseLong(key.substring(at + 1)) - baseMs;
            lines.computeIfAbsent(key.substring(0, at), u -> new StringBuilder())
                    .append(String.format(" +%ds:%s", start / 1000, n));
        });
        lines.forEach((user, line) -> System.out.printf("  %-6s%s%n", user, line));
        System.out.println(Scenario.BY_REGION + " (user: region, joined records):");
        joined.forEach((user, values) -> System.out.printf("  %-6s %s %d%n", user,
                values.stream().map(v -> v.substring(0, v.indexOf(' '))).distinct().toList(),
                values.size()));
        List<String> diffs = differences();
        if (ok) {
            System.out.println("exact: every output matches payments 0.."
                    + (expectedJoined.values().stream().mapToInt(List::size).sum() - 1));
        } else {
            System.out.println("MISMATCH (" + diffs.size() + "):");
            diffs.stream().limit(20).forEach(d -> System.out.println("  " + d));
        }
    }
}
