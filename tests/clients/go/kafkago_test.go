package clienttests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The brief's producer and consumer (segmentio/kafka-go), as written there but for the
// broker's address: a Writer with the Hash balancer on `payments`, and a Reader in group
// `realtime-risk` that logs key, value and time.
func TestKafkaGoBriefProgram(t *testing.T) {
	createTopic(t, "payments", 3)
	addr := listener(t, "PLAINTEXT")
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "payments", Balancer: &kafka.Hash{}}
	sent := time.Now()
	// One call for all ten: each call waits out the Writer's batch timeout (1 s).
	var payments []kafka.Message
	for i := 0; i < 10; i++ {
		payments = append(payments, kafka.Message{
			Key: []byte("Alice"), Value: []byte(fmt.Sprintf("Paid $%d to Bob", 200+i)), Time: time.Now(),
		})
	}
	if err := w.WriteMessages(context.Background(), payments...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, Topic: "payments", GroupID: "realtime-risk", MinBytes: 1, MaxBytes: 10e6,
	})
	defer r.Close()
	ctx := bounded(t, 45*time.Second)
	var partition = -1
	for i := 0; i < 10; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		t.Logf("key=%s val=%s ts=%v", m.Key, m.Value, m.Time)
		if string(m.Key) != "Alice" || string(m.Value) != fmt.Sprintf("Paid $%d to Bob", 200+i) {
			t.Fatalf("message %d: key %q value %q", i, m.Key, m.Value)
		}
		if partition >= 0 && m.Partition != partition {
			t.Fatalf("Alice's payments in partitions %d and %d", partition, m.Partition)
		}
		partition = m.Partition
		if m.Time.Before(sent.Add(-time.Second)) {
			t.Fatalf("message %d: time %v before it was sent", i, m.Time)
		}
	}
	// ReadMessage commits: the group's offset is where the reader stopped.
	offsets, err := admin(t).FetchOffsets(ctx, "realtime-risk")
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := offsets.Lookup("payments", int32(partition))
	outcome("kafka-go brief program", "10 read in order, committed %d", committed.At)
}

// kafka-go 0.4 with SCRAM-SHA-512 over TLS, writing through a Transport and reading through
// a Dialer.
func TestKafkaGoScramOverTLS(t *testing.T) {
	ctx := bounded(t, 45*time.Second)
	altered, err := admin(t).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "erin", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "erin-secret"},
	})
	if err == nil {
		err = altered.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, "kafka-go-secure", 1)
	mech, err := scram.Mechanism(scram.SHA512, "erin", "erin-secret")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener(t, "SASL_SSL")
	w := &kafka.Writer{
		Addr: kafka.TCP(addr), Topic: "kafka-go-secure", RequiredAcks: kafka.RequireAll,
		Transport: &kafka.Transport{SASL: mech, TLS: trusting(t, true)},
	}
	var msgs []kafka.Message
	for i := 0; i < 5; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, Topic: "kafka-go-secure", Partition: 0,
		Dialer: &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: mech, TLS: trusting(t, true)},
	})
	defer r.Close()
	for i := 0; i < 5; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Value) != fmt.Sprint(i) || m.Offset != int64(i) {
			t.Fatalf("offset %d: %q", m.Offset, m.Value)
		}
	}
	outcome("kafka-go scram over tls", "5 read in order")

	// A wrong password fails the dial with SASL_AUTHENTICATION_FAILED.
	bad, _ := scram.Mechanism(scram.SHA512, "erin", "nope")
	d := &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: bad, TLS: trusting(t, true)}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		t.Fatal("a wrong password authenticated")
	}
	outcome("kafka-go scram wrong password", "%s", errText(err))
}
