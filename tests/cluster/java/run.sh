#!/usr/bin/env bash
# Compiles (when the source changed) and runs ClusterScenarios, the Apache Kafka Java client's
# part of the cluster test (tests/cluster.rs starts the cluster and calls this):
#
#   tests/cluster/java/run.sh roundtrip BOOTSTRAP TOPIC PARTITIONS EXPECTED_NODES
#   tests/cluster/java/run.sh quorum BOOTSTRAP
#   tests/cluster/java/run.sh describe BOOTSTRAP TOPIC
#
# The client jars come from tests/clients/java/jars.sh (kafka-clients 3.9.1, cached in
# $MYELIN_CLIENT_CACHE, default <repo>/target/client-interop). Bounded: the program has its own
# watchdog and halts after 150 s. Needs python3 with pip (first run only) and javac/java 11+.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Sets CACHE and CP.
source "$HERE/../../clients/java/jars.sh"

CLASSES="$CACHE/cluster-classes"
SRC="$HERE/ClusterScenarios.java"
if [[ ! -f "$CLASSES/ClusterScenarios.class" || "$SRC" -nt "$CLASSES/ClusterScenarios.class" ]]; then
    rm -rf "$CLASSES" && mkdir -p "$CLASSES"
    javac -encoding UTF-8 -Xlint:-options --release 11 -cp "$CP" -d "$CLASSES" "$SRC"
fi
exec java -Xms64m -Xmx256m -XX:TieredStopAtLevel=1 -cp "$CLASSES:$CP" ClusterScenarios "$@"
