#!/usr/bin/env bash
# Compile and run MyelinJavaClientTest (Apache Kafka Java client 3.9.1) against the broker at
# $MYELIN_BOOTSTRAP.
#
# The kafka-clients jar and its compression/logging dependencies are taken from the PyPI wheel
# shigawire-apache-flink-libraries (it bundles kafka-clients 3.9.1), downloaded with pip into a
# cache directory: $MYELIN_CLIENT_CACHE, default <repo>/target/client-interop. Nothing is
# committed. Needs: python3 with pip, unzip or python3's zipfile, javac/java 11+.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${MYELIN_CLIENT_CACHE:-$REPO/target/client-interop}"
PYTHON="${PYTHON:-python3}"

WHEEL_NAME="shigawire-apache-flink-libraries"
WHEEL_VERSION="2.0.0.post1"
WHEEL_FILE="shigawire_apache_flink_libraries-${WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256="aaa65537d3f0c0ff279185d8243024f0efd95788ba044bf249ba0f40b69289cd"
KAFKA_CLIENTS_VERSION="3.9.1"
JARS=(kafka-clients lz4-java snappy-java zstd-jni slf4j-api)

if [[ -z "${MYELIN_BOOTSTRAP:-}" ]]; then
    echo "FAIL: MYELIN_BOOTSTRAP is not set (host:port of a running Myelin broker)" >&2
    exit 2
fi

JAR_DIR="$CACHE/jars-$KAFKA_CLIENTS_VERSION"
if [[ ! -f "$JAR_DIR/.complete" ]]; then
    mkdir -p "$CACHE/wheel"
    if [[ ! -f "$CACHE/wheel/$WHEEL_FILE" ]]; then
        echo "[java-interop] downloading $WHEEL_NAME==$WHEEL_VERSION (bundles kafka-clients $KAFKA_CLIENTS_VERSION)"
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
            "$WHEEL_NAME==$WHEEL_VERSION" -d "$CACHE/wheel"
    fi
    got_sha="$(sha256sum "$CACHE/wheel/$WHEEL_FILE" | cut -d' ' -f1)"
    if [[ "$got_sha" != "$WHEEL_SHA256" ]]; then
        echo "FAIL: $WHEEL_FILE sha256 $got_sha, expected $WHEEL_SHA256" >&2
        rm -f "$CACHE/wheel/$WHEEL_FILE"
        exit 2
    fi
    rm -rf "$JAR_DIR" && mkdir -p "$JAR_DIR"
    "$PYTHON" - "$CACHE/wheel/$WHEEL_FILE" "$JAR_DIR" "${JARS[@]}" <<'EOF'
import sys, zipfile
whl, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for n in names:
        member = f"pyflink/lib/{n}.jar"
        with z.open(member) as src, open(f"{out}/{n}.jar", "wb") as dst:
            dst.write(src.read())
EOF
    ver="$("$PYTHON" - "$JAR_DIR/kafka-clients.jar" <<'EOF'
import sys, zipfile
props = zipfile.ZipFile(sys.argv[1]).read("kafka/kafka-version.properties").decode()
print(dict(l.split("=", 1) for l in props.splitlines() if "=" in l).get("version", "?"))
EOF
)"
    if [[ "$ver" != "$KAFKA_CLIENTS_VERSION" ]]; then
        echo "FAIL: kafka-clients.jar in the wheel is version $ver, expected $KAFKA_CLIENTS_VERSION" >&2
        exit 2
    fi
    touch "$JAR_DIR/.complete"
fi

CP="$(printf "$JAR_DIR/%s.jar:" "${JARS[@]}")"
CP="${CP%:}"
CLASSES="$CACHE/classes"
rm -rf "$CLASSES" && mkdir -p "$CLASSES"
javac -encoding UTF-8 -Xlint:-options --release 11 -cp "$CP" -d "$CLASSES" "$HERE/MyelinJavaClientTest.java"

# No SLF4J binding is on the class path: the client's own logging is a no-op, the test prints
# everything it needs. Bounded: the test has its own watchdog; timeout is a second fence.
exec timeout --kill-after=10 300 java -cp "$CLASSES:$CP" MyelinJavaClientTest
