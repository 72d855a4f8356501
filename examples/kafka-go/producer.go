package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// Payment is the event's value; the message key is the user id.
type Payment struct {
	User        string `json:"user"`
	AmountCents int64  `json:"amount_cents"`
}

var users = []string{"alice", "bob", "carol", "dave"}

// events makes n deterministic keyed payment events.
func events(n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		p := Payment{User: users[i%len(users)], AmountCents: int64(20000 + i)}
		v, _ := json.Marshal(p)
		msgs[i] = kafka.Message{Key: []byte(p.User), Value: v}
	}
	return msgs
}

// newWriter returns a writer for the topic. balancer nil = hash on the key, so
// each user's payments stay in order on one partition.
func newWriter(o options, balancer kafka.Balancer) (*kafka.Writer, error) {
	codec, err := codecOf(o.codec)
	if err != nil {
		return nil, err
	}
	if balancer == nil {
		balancer = &kafka.Hash{}
	}
	return kafka.NewWriter(kafka.WriterConfig{
		Brokers:          []string{o.bootstrap},
		Topic:            o.topic,
		Balancer:         balancer,
		BatchTimeout:     20 * time.Millisecond,
		RequiredAcks:     -1,
		MaxAttempts:      3,
		CompressionCodec: codec,
		ErrorLogger:      log.New(os.Stderr, "kafka-go writer: ", log.LstdFlags),
	}), nil
}

func produce(o options, balancer kafka.Balancer, msgs []kafka.Message) error {
	w, err := newWriter(o, balancer)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		w.Close()
		return fmt.Errorf("write: %v", err)
	}
	return w.Close()
}

func runProduce(o options) error {
	msgs := events(o.n)
	if err := produce(o, nil, msgs); err != nil {
		return err
	}
	for _, m := range msgs {
		fmt.Printf("produced key=%s value=%s\n", m.Key, m.Value)
	}
	return nil
}
