#!/usr/bin/env bash
# Fails when a Go file of this repository is not gofmt-formatted. Only the files git tracks:
# CI keeps Go's module cache inside the checkout (.gitlab-ci.yml, GOMODCACHE under .cache/),
# and `gofmt -l .` would walk into it and judge third-party code.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files -- '*.go')
[ "${#files[@]}" -gt 0 ] || { echo "no Go files tracked by git here" >&2; exit 1; }
unformatted=$(gofmt -l -- "${files[@]}")
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "gofmt: ${#files[@]} tracked Go files formatted"
