#!/usr/bin/env bash
# `make bench` for mackerel-plugin-accesslog: MB/s, lines/s and peak RSS of
# the plugin reading 2,000,000 and 20,000,000 realistic LTSV lines from the
# start. BENCH_LINES overrides the sizes (e.g. BENCH_LINES=2000000).
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./mackerel-plugin-accesslog/cmd/benchrun -plugin bin/mackerel-plugin-accesslog -lines "${BENCH_LINES:-2000000,20000000}"
