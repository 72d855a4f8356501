// Package clienttests runs Go's Kafka clients (franz-go, IBM/sarama and segmentio/kafka-go
// 0.4, from the module proxy) against one broker: Myelin, or Apache Kafka 4.4 for
// reference. tests/go_clients.rs starts the broker and sets the environment:
//
//	CLIENTS_PLAINTEXT, CLIENTS_SASL_PLAINTEXT, CLIENTS_SSL, CLIENTS_SASL_SSL
//	                   host:port of each listener
//	CLIENTS_CA         the PEM file of the CA that signed the broker's certificate
//
// The broker's PLAIN users come from its JAAS line (alice / alice-secret); SCRAM users are
// made by the tests. Each test prints "outcome <step>: <what happened>" lines, with the
// broker's addresses taken out, so that the harness can compare the two brokers line by line.
package clienttests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// listener is the address of one of the broker's listeners.
func listener(t *testing.T, name string) string {
	t.Helper()
	addr := os.Getenv("CLIENTS_" + name)
	if addr == "" {
		t.Fatalf("CLIENTS_%s is not set (tests/go_clients.rs sets it)", name)
	}
	return addr
}

// trusting is a TLS configuration that trusts the broker's CA, or only the system's roots.
func trusting(t *testing.T, brokerCA bool) *tls.Config {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if brokerCA {
		pem, err := os.ReadFile(os.Getenv("CLIENTS_CA"))
		if err != nil {
			t.Fatalf("reading CLIENTS_CA: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatal("CLIENTS_CA holds no certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg
}

// outcome prints one step's result for the harness, with every listener address replaced
// by its name so that Myelin's and Kafka's lines compare.
func outcome(step string, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	for _, name := range []string{"PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"} {
		if addr := os.Getenv("CLIENTS_" + name); addr != "" {
			text = strings.ReplaceAll(text, addr, "<"+name+">")
		}
	}
	fmt.Printf("outcome %s: %s\n", step, text)
}

// errText is an error's text, or "ok".
func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// bounded is a context for one step.
func bounded(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// admin is a franz-go admin client on the PLAINTEXT listener.
func admin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(listener(t, "PLAINTEXT")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic creates a topic with one replica and waits until its partitions answer.
func createTopic(t *testing.T, topic string, partitions int32) {
	t.Helper()
	adm := admin(t)
	ctx := bounded(t, 30*time.Second)
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	for {
		offsets, err := adm.ListEndOffsets(ctx, topic)
		if err == nil && offsets.Error() == nil && len(offsets[topic]) == int(partitions) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s has no leaders after 30 s: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
