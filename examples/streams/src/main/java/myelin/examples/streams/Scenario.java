package myelin.examples.streams;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

/**
 * The deterministic input that the driver writes and the verifier expects: the same users,
 * regions, amounts and timestamps on every run and every broker. Payment number {@code seq}
 * is a pure function of {@code seq}; timestamps are fixed offsets from a base time that the
 * caller picks (aligned to a window), so the expected windows are fixed too.
 */
final class Scenario {
    static final String PAYMENTS = "payments";
    static final String USERS = "users";
    static final String TOTALS = "payment_totals";
    static final String COUNTS = "payment_counts";
    static final String BY_REGION = "payments_by_region";
    /** The topics and their partitions; the join needs payments and users co-partitioned. */
    static final Map<String, Integer> TOPIC_PARTITIONS = Map.of(
            PAYMENTS, 3, USERS, 3, TOTALS, 3, COUNTS, 3, BY_REGION, 3);

    static final List<String> USER_NAMES =
            List.of("alice", "bob", "carol", "dave", "erin", "frank");
    static final Map<String, String> REGION = Map.of(
            "alice", "eu-west", "bob", "us-east", "carol", "ap-south",
            "dave", "eu-west", "erin", "us-west", "frank", "ap-east");

    /** Tumbling windows of the windowed count. */
    static final long WINDOW_MS = 5_000;
    /** Event time between two payments: 100 payments to a window. */
    static final long PAYMENT_SPACING_MS = 50;
    /** The users table's records are older than every payment, so the join sees them first. */
    static final long USERS_BEFORE_BASE_MS = 60_000;

    private Scenario() {}

    /**
     * Shares of the users, 6:5:4:3:2:1 in every 21 payments, so that a lost or doubled
     * payment moves a total that the others cannot make up.
     */
    private static final int[] SHARE_ENDS = {6, 11, 15, 18, 20, 21};

    /** The user of payment {@code seq}; multiplying by 8 (prime to 21) interleaves the users. */
    static String user(long seq) {
        long r = (seq * 8) % SHARE_ENDS[SHARE_ENDS.length - 1];
        int i = 0;
        while (r >= SHARE_ENDS[i]) {
            i++;
        }
        return USER_NAMES.get(i);
    }

    /** The amount of payment {@code seq}: 0.01 to 100.00. */
    static BigDecimal amount(long seq) {
        return BigDecimal.valueOf((seq * 7919) % 10_000 + 1, 2);
    }

    static long timestamp(long baseMs, long seq) {
        return baseMs + seq * PAYMENT_SPACING_MS;
    }

    static long parseLong(String name, String value) {
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a number, got " + value, e);
        }
    }
}
