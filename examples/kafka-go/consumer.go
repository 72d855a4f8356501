package main

import (
	"context"
	"fmt"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// newReader reads one fixed partition (no GroupID: consumer groups are not
// implemented by the broker yet) starting at offset.
func newReader(o options, offset int64) *kafka.Reader {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{o.bootstrap},
		Topic:     o.topic,
		Partition: o.partition,
		MinBytes:  1,
		MaxBytes:  1 << 20,
		MaxWait:   500 * time.Millisecond,
	})
	r.SetOffset(offset)
	return r
}

// runConsume prints -n events (0 = until -timeout) from -offset on.
func runConsume(o options) error {
	r := newReader(o, o.offset)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	for i := 0; o.n == 0 || i < o.n; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if o.n == 0 && err == context.DeadlineExceeded {
				return nil
			}
			return fmt.Errorf("read after %d events: %v", i, err)
		}
		fmt.Printf("partition=%d offset=%d key=%s value=%s\n", m.Partition, m.Offset, m.Key, m.Value)
	}
	return nil
}
