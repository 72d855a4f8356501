# Sourced by run.sh here and by tests/cluster/java/run.sh: resolves the Apache Kafka Java client
# 3.9.1 and its compression/logging dependencies into a cache directory and sets CP to their
# class path.
#
# The jars are taken from the PyPI wheel shigawire-apache-flink-libraries (it bundles
# kafka-clients 3.9.1), downloaded with pip into $MYELIN_CLIENT_CACHE (default
# <repo>/target/client-interop). Nothing is committed. Needs python3 with pip; PYTHON may
# name another interpreter.

JARS_SH_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${MYELIN_CLIENT_CACHE:-$(cd "$JARS_SH_HERE/../../.." && pwd)/target/client-interop}"
PYTHON="${PYTHON:-python3}"

WHEEL_NAME="shigawire-apache-flink-libraries"
WHEEL_VERSION="2.0.0.post1"
WHEEL_FILE="shigawire_apache_flink_libraries-${WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256="aaa65537d3f0c0ff279185d8243024f0efd95788ba044bf249ba0f40b69289cd"
KAFKA_CLIENTS_VERSION="3.9.1"
JARS=(kafka-clients lz4-java snappy-java zstd-jni slf4j-api)

JAR_DIR="$CACHE/jars-$KAFKA_CLIENTS_VERSION"
if [[ ! -f "$JAR_DIR/.complete" ]]; then
    mkdir -p "$CACHE/wheel"
    if [[ ! -f "$CACHE/wheel/$WHEEL_FILE" ]]; then
        echo "[java-jars] downloading $WHEEL_NAME==$WHEEL_VERSION (bundles kafka-clients $KAFKA_CLIENTS_VERSION)" >&2
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
    "$PYTHON" - "$CACHE/wheel/$WHEEL_FILE" "$JAR_DIR" "${JARS[@]}" <<'PY'
import sys, zipfile
whl, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for n in names:
        member = f"pyflink/lib/{n}.jar"
        with z.open(member) as src, open(f"{out}/{n}.jar", "wb") as dst:
            dst.write(src.read())
PY
    ver="$("$PYTHON" - "$JAR_DIR/kafka-clients.jar" <<'PY'
import sys, zipfile
props = zipfile.ZipFile(sys.argv[1]).read("kafka/kafka-version.properties").decode()
print(dict(l.split("=", 1) for l in props.splitlines() if "=" in l).get("version", "?"))
PY
)"
    if [[ "$ver" != "$KAFKA_CLIENTS_VERSION" ]]; then
        echo "FAIL: kafka-clients.jar in the wheel is version $ver, expected $KAFKA_CLIENTS_VERSION" >&2
        exit 2
    fi
    touch "$JAR_DIR/.complete"
fi

CP="$(printf "$JAR_DIR/%s.jar:" "${JARS[@]}")"
CP="${CP%:}"
