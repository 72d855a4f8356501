#!/usr/bin/env bash
# Runs the kafka-go round-trip check against a running broker at
# $MYELIN_BOOTSTRAP (default 127.0.0.1:9092): produce N keyed payment events to
# `payments` partition 0, read them back with a kafka.Reader, compare.
# Exits 0 on success, 1 on mismatch/error/timeout. Builds first if needed.
#   N (default 100), CODEC (none|gzip|snappy|lz4, default none),
#   TOPIC (default payments), TIMEOUT (Go duration, default 60s)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${PAYMENTS_BIN:-$here/payments}"
[ -x "$bin" ] || OUT="$bin" "$here/build.sh"
export MYELIN_BOOTSTRAP="${MYELIN_BOOTSTRAP:-127.0.0.1:9092}"
# The Go program bounds itself by -timeout; `timeout` is a backstop.
exec timeout --kill-after=5s 300s "$bin" test \
    -n "${N:-100}" -codec "${CODEC:-none}" -topic "${TOPIC:-payments}" -timeout "${TIMEOUT:-60s}"
