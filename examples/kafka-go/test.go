package main

import (
	"bytes"
	"context"
	"fmt"

	kafka "github.com/segmentio/kafka-go"
)

// runTest produces -n events to -partition and checks that a Reader started at
// the partition's previous end reads back exactly those keys and values, in
// order, at consecutive offsets, within -timeout.
func runTest(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	// End of the partition before producing (Metadata + ListOffsets).
	conn, err := kafka.DialLeader(ctx, "tcp", o.bootstrap, o.topic, o.partition)
	if err != nil {
		return fmt.Errorf("dial leader: %v", err)
	}
	start, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		return fmt.Errorf("read last offset: %v", err)
	}
	fmt.Printf("test: %s partition %d ends at offset %d before producing\n", o.topic, o.partition, start)

	// Pin the test's messages to the consumer's partition.
	pin := kafka.BalancerFunc(func(_ kafka.Message, partitions ...int) int { return o.partition })
	want := events(o.n)
	if err := produce(o, pin, want); err != nil {
		return err
	}
	fmt.Printf("test: produced %d events (codec %s)\n", o.n, o.codec)

	r := newReader(o, start)
	defer r.Close()
	for i, w := range want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("read event %d of %d: %v", i, o.n, err)
		}
		if m.Offset != start+int64(i) {
			return fmt.Errorf("event %d: offset %d, want %d", i, m.Offset, start+int64(i))
		}
		if !bytes.Equal(m.Key, w.Key) || !bytes.Equal(m.Value, w.Value) {
			return fmt.Errorf("event %d (offset %d): got key=%q value=%q, want key=%q value=%q",
				i, m.Offset, m.Key, m.Value, w.Key, w.Value)
		}
	}
	fmt.Printf("test: read back %d events in order from offset %d\n", o.n, start)
	fmt.Println("1 passed, 0 failed")
	return nil
}
