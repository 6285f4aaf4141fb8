#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, vet, then every
# package's tests, with the race detector on the packages whose state is
# shared between goroutines.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

# Packages whose state is shared between goroutines run under -race; the
# rest (single-goroutine code, and the end-to-end tests, which run the
# built binary as separate processes) without it.
race_pkgs=$(go list ./internal/... | grep -E '/internal/(msdb|msdb/locks|store|blob|lmtp|control|auth|server|pop3|imap|bench)$' || true)
other_pkgs=$(go list ./... | grep -v -x -F "$race_pkgs")
go test -race -timeout 25m $race_pkgs
go test -timeout 25m $other_pkgs
