#!/usr/bin/env bash
# Checks .gitlab-ci.yml with a real GitLab CI parser, offline: gitlab-ci-local validates it
# against GitLab's JSON schema and evaluates its rules for a merge-request pipeline and a
# default-branch pipeline, whose jobs must be exactly the ones the README describes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null; then
	# GitLab has just parsed this very file to start the job (the Go image has no Node.js).
	if [ "${GITLAB_CI:-}" = true ]; then
		echo "pipeline check skipped: no npm in this image, and GitLab itself parsed .gitlab-ci.yml"
		exit 0
	fi
	echo "check-pipeline.sh needs Node.js 20 and npm (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi

version=4.60.1 # runs on Node.js 20; 4.75 needs Node.js 22 (Set.prototype.union)
tools=.cache/tools
glci=$tools/node_modules/.bin/gitlab-ci-local
if [ ! -x "$glci" ] || [ "$("$glci" --version)" != "$version" ]; then
	npm install --prefix "$tools" --no-audit --no-fund --silent "gitlab-ci-local@$version"
fi
home=$(mktemp -d)
out=$(mktemp)
trap 'rm -rf "$home" "$out"' EXIT

# jobs PIPELINE VARIABLES...: the pipeline's jobs as "name:when", in order.
jobs() {
	local pipeline=$1
	shift
	if ! "$glci" --home "$home" --json-schema-validation --list-csv "$@" >"$out" 2>&1; then
		echo "gitlab-ci-local rejects .gitlab-ci.yml ($pipeline pipeline):" >&2
		cat "$out" >&2
		exit 1
	fi
	awk -F';' '$1 == "name" { listing = 1; next } listing { printf "%s%s:%s", sep, $1, $4; sep = " " }' "$out"
}

expect() {
	local pipeline=$1 want=$2 got=$3
	if [ "$got" != "$want" ]; then
		echo "$pipeline pipeline has jobs [$got], want [$want]" >&2
		exit 1
	fi
	echo "$pipeline pipeline: $got"
}

expect "merge-request" "check:on_success preview:on_success" \
	"$(jobs merge-request --variable CI_PIPELINE_SOURCE=merge_request_event --unset-variable CI_COMMIT_BRANCH)"
expect "default-branch" "check:on_success deploy:manual" \
	"$(jobs default-branch --variable CI_PIPELINE_SOURCE=push --variable CI_COMMIT_BRANCH=main --variable CI_DEFAULT_BRANCH=main)"
