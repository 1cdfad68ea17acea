#!/usr/bin/env bash
# `make bench` for mackerel-plugin-accesslog:
#  1. throughput: MB/s, lines/s and peak RSS of the plugin reading 2,000,000
#     and 20,000,000 realistic LTSV lines from the start (BENCH_LINES
#     overrides the sizes, e.g. BENCH_LINES=2000000);
#  2. per-run cost against kazeburo's axslog v0.4.10, built here from
#     ../shared/third_party (the module proxy refuses that version): a
#     20,000-line increment, a run with nothing new, and a whole 2 M-line
#     file, interleaved, with the ratio (BENCH_ROUNDS, default 101).
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./mackerel-plugin-accesslog/cmd/benchrun -plugin bin/mackerel-plugin-accesslog -lines "${BENCH_LINES:-2000000,20000000}"

third=../shared/third_party
if [ ! -f "$third/axslog-v0.4.10.tar.gz" ]; then
  echo "bench: $third/axslog-v0.4.10.tar.gz not found: no comparison with axslog" >&2
  exit 1
fi
ax=$(mktemp -d)
trap 'rm -rf "$ax"' EXIT
tar -C "$ax" -xzf "$third/axslog-v0.4.10.tar.gz"
tar -C "$ax" -xzf "$third/followparser-v0.2.10.tar.gz"
(cd "$ax/axslog-src" && go mod edit -replace github.com/kazeburo/followparser=../followparser-src && CGO_ENABLED=0 go build -o "$ax/axslog" .)
go run ./mackerel-plugin-accesslog/cmd/benchcost -plugin bin/mackerel-plugin-accesslog -axslog "$ax/axslog" \
  -rounds "${BENCH_ROUNDS:-101}" -lines "${BENCH_WHOLE_LINES:-2000000}"
