#!/usr/bin/env bash
# Builds the kafka-go example offline with Debian's Go and Debian's
# segmentio/kafka-go 0.2.x (GOPATH mode; no module proxy, no network).
#   apt-get install -y golang-go golang-github-segmentio-kafka-go-dev
# Output: ./payments (or $OUT).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/payments}"

if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/segmentio/kafka-go ]; then
    echo "build.sh: needs Debian's golang-go and golang-github-segmentio-kafka-go-dev" >&2
    exit 1
fi

export GO111MODULE=off          # GOPATH mode: imports resolve under $GOPATH/src
export GOPATH=/usr/share/gocode # where Debian's golang-*-dev packages install
export GOPROXY=off GOFLAGS= GOTOOLCHAIN=local
export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/myelin-kafka-go-gocache}"
cd "$here"
go build -o "$out" .
echo "built $out ($(go version | cut -d' ' -f3), kafka-go $(dpkg-query -W -f='${Version}' golang-github-segmentio-kafka-go-dev 2>/dev/null || echo '?'))"
