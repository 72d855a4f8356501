// Command payments is the product brief's example: a segmentio/kafka-go (0.2.x, as
// Debian packages it) producer and consumer of keyed payment events on topic
// "payments", plus a self-checking "test" mode.
//
//	payments produce [-n N]   write N keyed payment events
//	payments consume [-n N]   print events from -offset (default: first) on
//	payments test    [-n N]   produce N events, read them back, compare; exit 0/1
//
// The broker address comes from MYELIN_BOOTSTRAP (default 127.0.0.1:9092).
// Build with ./build.sh (offline, GOPATH mode, Debian's Go and packages).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

type options struct {
	bootstrap string
	topic     string
	partition int
	n         int
	offset    int64
	codec     string
	timeout   time.Duration
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s produce|consume|test [flags]\n", os.Args[0])
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	o := options{}
	fs.StringVar(&o.topic, "topic", "payments", "topic")
	fs.IntVar(&o.partition, "partition", 0, "partition the consumer (and the test's producer) uses")
	fs.IntVar(&o.n, "n", 10, "number of events")
	fs.Int64Var(&o.offset, "offset", kafka.FirstOffset, "consume: offset to start at (-2 = first, -1 = last)")
	fs.StringVar(&o.codec, "codec", "none", "producer compression: none|gzip|snappy|lz4")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "overall time limit")
	fs.Parse(os.Args[2:])

	o.bootstrap = os.Getenv("MYELIN_BOOTSTRAP")
	if o.bootstrap == "" {
		o.bootstrap = "127.0.0.1:9092"
	}

	var err error
	switch mode {
	case "produce":
		err = runProduce(o)
	case "consume":
		err = runConsume(o)
	case "test":
		err = runTest(o)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: FAIL: %v\n", mode, err)
		if mode == "test" {
			fmt.Println("0 passed, 1 failed")
		}
		os.Exit(1)
	}
}

func codecOf(name string) (kafka.CompressionCodec, error) {
	switch name {
	case "", "none":
		return nil, nil
	case "gzip":
		return gzip.NewCompressionCodec(), nil
	case "snappy":
		return snappy.NewCompressionCodec(), nil
	case "lz4":
		return lz4.NewCompressionCodec(), nil
	}
	return nil, fmt.Errorf("unknown codec %q", name)
}
