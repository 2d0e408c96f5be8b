#!/usr/bin/env bash
# Prints what Go costs each `pulumi preview`: Pulumi's Go host runs `go build` into a new
# file every time, so this builds the program with an empty GOCACHE, again with the warm
# cache, and after a one-line edit; then times the test suite. Needs GNU time (Debian:
# apt-get install time). Takes about three minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }
go mod download

cache=$(mktemp -d)
out=$(mktemp -d)
trap 'rm -rf "$cache" "$out"' EXIT

measure() {
	local label=$1
	shift
	/usr/bin/time -f "$label: %e s wall, %U s user, %M KiB max RSS" "$@" >/dev/null
}

echo "$(go version), $(nproc) cores"
export GOCACHE=$cache
# The Quick start's one-time build, then the build pulumi preview makes after it.
measure "build, empty GOCACHE        " go build -o /dev/null .
measure "build, warm GOCACHE         " go build -o "$out/warm" .
cp -r . "$out/edited" && echo "// edited" >>"$out/edited/main.go"
measure "build after a one-line edit " go -C "$out/edited" build -o "$out/edit" .
measure "tests, first run            " go test -count=1 ./...
measure "tests, warm GOCACHE         " go test -count=1 ./...
echo "program binary: $(du -h "$out/warm" | cut -f1)"
