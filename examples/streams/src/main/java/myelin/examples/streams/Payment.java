package myelin.examples.streams;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * One payment of the brief's {@code payments} topic: the key is the user, the value is the
 * amount, written as a plain decimal string ("12.35") so that any client can read it.
 */
public record Payment(BigDecimal amount) {

    /** The amount as text, both ways; the running totals use the same encoding. */
    public static final Serde<BigDecimal> DECIMAL = Serdes.serdeFrom(
            (Serializer<BigDecimal>) (topic, d) ->
                    d == null ? null : d.toPlainString().getBytes(StandardCharsets.UTF_8),
            (Deserializer<BigDecimal>) (topic, b) ->
                    b == null ? null : new BigDecimal(new String(b, StandardCharsets.UTF_8)));

    /** A payment is its amount on the wire. */
    public static final Serde<Payment> SERDE = Serdes.serdeFrom(
            (Serializer<Payment>) (topic, p) ->
                    p == null ? null : DECIMAL.serializer().serialize(topic, p.amount()),
            (Deserializer<Payment>) (topic, b) ->
                    b == null ? null : new Payment(DECIMAL.deserializer().deserialize(topic, b)));

    /** For {@code default.value.serde}: the brief's {@code groupByKey()} then reads as written. */
    public static final class PaymentSerde extends Serdes.WrapperSerde<Payment> {
        public PaymentSerde() {
            super(SERDE.serializer(), SERDE.deserializer());
        }
    }
}
