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

# Packages whose state is shared between goroutines run under -race.
race_pkgs=(./internal/msdb/... ./internal/admin/...)
go test -race -timeout 25m "${race_pkgs[@]}"
# The rest, and the end-to-end tests on the built binary.
go test -timeout 25m $(go list ./... | grep -v -e /internal/msdb -e /internal/admin)
