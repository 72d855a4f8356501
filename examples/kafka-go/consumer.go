package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// quietWriter passes kafka-go's reader error log to stderr, minus two routine
// lines: an empty long poll ("no messages received ... within the allocated
// time") and the read-lag goroutine failing as the reader closes.
type quietWriter struct{}

func (quietWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("no messages received from kafka within the allocated time")) ||
		bytes.Contains(p, []byte("failed to read lag")) {
		return len(p), nil
	}
	return os.Stderr.Write(p)
}

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
		// kafka-go 0.2 otherwise retries silently; surface why.
		ErrorLogger: log.New(quietWriter{}, "kafka-go reader: ", log.LstdFlags),
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
