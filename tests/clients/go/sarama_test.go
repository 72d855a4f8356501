package clienttests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaConfig is a sarama configuration for acks=all, idempotent production and a consumer
// group reading from the start; with PLAIN over TLS when secure.
func saramaConfig(t *testing.T, secure bool) *sarama.Config {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "myelin-sarama-test"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	if secure {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = trusting(t, true)
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		cfg.Net.SASL.User = "alice"
		cfg.Net.SASL.Password = "alice-secret"
	}
	return cfg
}

// collector is a consumer-group handler that gathers messages until it has want of them.
type collector struct {
	mu   sync.Mutex
	got  []*sarama.ConsumerMessage
	want int
	done chan struct{}
	once sync.Once
}

func (c *collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		s.MarkMessage(m, "")
		c.mu.Lock()
		c.got = append(c.got, m)
		if len(c.got) >= c.want {
			c.once.Do(func() { close(c.done) })
		}
		c.mu.Unlock()
	}
	return nil
}

// saramaRoundTrip sends n keyed messages with a sync producer and reads them in a group.
func saramaRoundTrip(t *testing.T, addr, topic string, n int, secure bool) error {
	t.Helper()
	cfg := saramaConfig(t, secure)
	producer, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		return err
	}
	partitionOf := map[string]int32{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("user-%d", i%4)
		p, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(key),
			Value:   sarama.StringEncoder(fmt.Sprintf("payment-%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("seq"), Value: []byte(fmt.Sprint(i))}},
		})
		if err != nil {
			producer.Close()
			return err
		}
		if q, seen := partitionOf[key]; seen && q != p {
			producer.Close()
			return fmt.Errorf("key %s went to partitions %d and %d", key, q, p)
		}
		partitionOf[key] = p
	}
	if err := producer.Close(); err != nil {
		return err
	}
	group, err := sarama.NewConsumerGroup([]string{addr}, topic+"-group", cfg)
	if err != nil {
		return err
	}
	defer group.Close()
	c := &collector{want: n, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, c); err != nil {
				return
			}
		}
	}()
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("read %d of %d messages in 45 s", len(c.got), n)
	}
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.got {
		if partitionOf[string(m.Key)] != m.Partition || len(m.Headers) != 1 {
			return fmt.Errorf("message %s at partition %d, headers %d", m.Value, m.Partition, len(m.Headers))
		}
	}
	return nil
}

func TestSaramaRoundTrip(t *testing.T) {
	createTopic(t, "sarama-payments", 3)
	err := saramaRoundTrip(t, listener(t, "PLAINTEXT"), "sarama-payments", 40, false)
	if err != nil {
		t.Fatal(err)
	}
	outcome("sarama plaintext round trip", "%s", errText(err))
}

func TestSaramaPlainOverTLS(t *testing.T) {
	createTopic(t, "sarama-secure", 2)
	err := saramaRoundTrip(t, listener(t, "SASL_SSL"), "sarama-secure", 20, true)
	if err != nil {
		t.Fatal(err)
	}
	outcome("sarama sasl_ssl round trip", "%s", errText(err))

	// A wrong password is refused with SASL_AUTHENTICATION_FAILED.
	cfg := saramaConfig(t, true)
	cfg.Net.SASL.Password = "nope"
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{listener(t, "SASL_SSL")}, cfg)
	if err == nil {
		client.Close()
		t.Fatal("a wrong password authenticated")
	}
	outcome("sarama sasl_ssl wrong password", "%s", errText(err))
}
