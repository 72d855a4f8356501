package clienttests

import (
	"crypto/tls"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// roundTrip produces n keyed records with headers through a client made with opts, reads
// them back in a consumer group, and checks keys, order per key, headers and timestamps.
func roundTrip(t *testing.T, topic string, n int, opts ...kgo.Opt) error {
	t.Helper()
	producer, err := kgo.NewClient(append([]kgo.Opt{kgo.RecordRetries(3)}, opts...)...)
	if err != nil {
		return err
	}
	defer producer.Close()
	ctx := bounded(t, 30*time.Second)
	stamp := time.UnixMilli(time.Now().UnixMilli())
	var sent []*kgo.Record
	for i := 0; i < n; i++ {
		sent = append(sent, &kgo.Record{
			Topic:     topic,
			Key:       []byte(fmt.Sprintf("user-%d", i%5)),
			Value:     []byte(fmt.Sprintf("payment-%d", i)),
			Timestamp: stamp,
			Headers:   []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}},
		})
	}
	if err := producer.ProduceSync(ctx, sent...).FirstErr(); err != nil {
		return err
	}
	consumer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(topic + "-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	if err != nil {
		return err
	}
	defer consumer.Close()
	var got []*kgo.Record
	for len(got) < n {
		fetches := consumer.PollFetches(ctx)
		if err := fetches.Err(); err != nil {
			return err
		}
		got = append(got, fetches.Records()...)
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		return err
	}
	// Same key, same partition; and within a key, the order produced.
	partitionOf := map[string]int32{}
	lastSeq := map[string]int{}
	for _, r := range got {
		key := string(r.Key)
		if p, seen := partitionOf[key]; seen && p != r.Partition {
			return fmt.Errorf("key %s in partitions %d and %d", key, p, r.Partition)
		}
		partitionOf[key] = r.Partition
		var seq int
		if len(r.Headers) != 1 || r.Headers[0].Key != "seq" {
			return fmt.Errorf("headers %v", r.Headers)
		}
		fmt.Sscan(string(r.Headers[0].Value), &seq)
		if last, seen := lastSeq[key]; seen && seq <= last {
			return fmt.Errorf("key %s: seq %d after %d", key, seq, last)
		}
		lastSeq[key] = seq
		if string(r.Value) != fmt.Sprintf("payment-%d", seq) || !r.Timestamp.Equal(stamp) {
			return fmt.Errorf("record %d: value %q at %v", seq, r.Value, r.Timestamp)
		}
	}
	if len(got) != n {
		return fmt.Errorf("read %d records, sent %d", len(got), n)
	}
	return nil
}

func TestFranzRoundTripOnPlaintext(t *testing.T) {
	createTopic(t, "franz-payments", 3)
	err := roundTrip(t, "franz-payments", 50, kgo.SeedBrokers(listener(t, "PLAINTEXT")))
	if err != nil {
		t.Fatal(err)
	}
	outcome("franz plaintext round trip", "%s", errText(err))
}

func TestFranzTLS(t *testing.T) {
	createTopic(t, "franz-tls", 2)
	ssl := listener(t, "SSL")
	err := roundTrip(t, "franz-tls", 20, kgo.SeedBrokers(ssl), kgo.DialTLSConfig(trusting(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	outcome("franz tls round trip", "%s", errText(err))

	// TLS 1.2 as well as 1.3.
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := trusting(t, true)
		cfg.MinVersion, cfg.MaxVersion = version, version
		cl, err := kgo.NewClient(kgo.SeedBrokers(ssl), kgo.DialTLSConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Ping(bounded(t, 15*time.Second))
		cl.Close()
		outcome("franz tls version "+tls.VersionName(version), "%s", errText(err))
		if err != nil {
			t.Fatal(err)
		}
	}

	// A client that does not trust the broker's CA fails its handshake.
	cl, err := kgo.NewClient(kgo.SeedBrokers(ssl), kgo.DialTLSConfig(trusting(t, false)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	err = cl.Ping(bounded(t, 15*time.Second))
	if err == nil {
		t.Fatal("a client without the broker's CA connected")
	}
	outcome("franz tls untrusted broker", "%s", errText(err))
}

// ping connects with one SASL mechanism and issues a request.
func ping(t *testing.T, addr string, tlsOn bool, mech kgo.Opt) error {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), mech}
	if tlsOn {
		opts = append(opts, kgo.DialTLSConfig(trusting(t, true)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Ping(bounded(t, 15*time.Second))
}

func TestFranzSASL(t *testing.T) {
	adm := admin(t)
	ctx := bounded(t, 30*time.Second)
	// SCRAM credentials through AlterUserScramCredentials on the PLAINTEXT listener, one
	// user per mechanism (Kafka refuses two mechanisms of one user in one request).
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-secret"},
		{User: "dave", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "dave-secret"},
		{User: "frank", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "frank-secret"},
	})
	if err == nil {
		err = altered.Error()
	}
	outcome("franz alter scram", "%s", errText(err))
	if err != nil {
		t.Fatal(err)
	}
	// Kafka answers a describe from its broker's metadata, which may not hold a credential
	// just committed by the controller yet: ask until all three are there.
	var users []string
	for len(users) < 3 && ctx.Err() == nil {
		described, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		users = users[:0]
		for user, d := range described {
			for _, c := range d.CredInfos {
				users = append(users, fmt.Sprintf("%s %v %d", user, c.Mechanism, c.Iterations))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	sort.Strings(users)
	outcome("franz describe scram", "%v", users)

	sasl, saslSSL := listener(t, "SASL_PLAINTEXT"), listener(t, "SASL_SSL")
	cases := []struct {
		step  string
		addr  string
		tlsOn bool
		mech  kgo.Opt
	}{
		{"plain", sasl, false, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())},
		{"plain over tls", saslSSL, true, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())},
		{"plain wrong password", sasl, false, kgo.SASL(plain.Auth{User: "alice", Pass: "nope"}.AsMechanism())},
		{"scram-sha-256", sasl, false, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism())},
		{"scram-sha-512 over tls", saslSSL, true, kgo.SASL(scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha512Mechanism())},
		{"scram wrong password", sasl, false, kgo.SASL(scram.Auth{User: "carol", Pass: "nope"}.AsSha256Mechanism())},
		{"scram unknown user", saslSSL, true, kgo.SASL(scram.Auth{User: "mallory", Pass: "x"}.AsSha512Mechanism())},
		{"scram wrong mechanism", sasl, false, kgo.SASL(scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha256Mechanism())},
	}
	for _, c := range cases {
		outcome("franz sasl "+c.step, "%s", errText(ping(t, c.addr, c.tlsOn, c.mech)))
	}

	// A SCRAM user round-trips records over SASL_SSL.
	createTopic(t, "franz-scram", 1)
	err = roundTrip(t, "franz-scram", 10, kgo.SeedBrokers(saslSSL), kgo.DialTLSConfig(trusting(t, true)),
		kgo.SASL(scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	outcome("franz scram round trip", "%s", errText(err))

	// A deleted credential no longer authenticates.
	altered, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha256}}, nil)
	if err == nil {
		err = altered.Error()
	}
	outcome("franz delete scram", "%s", errText(err))
	outcome("franz sasl deleted user", "%s", errText(ping(t, sasl, false,
		kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism()))))
}
