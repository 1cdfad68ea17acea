#!/usr/bin/env bash
# make bench-rollout: wall time of a rollout of 4 and of 16 servers under
# 300 requests/s, behind nginx (Lua drop-in) and HAProxy, against the sum of
# the deploy commands' own times. Needs nginx with the Lua module and
# HAProxy (make deps installs them). Figures go to stdout; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_ROLLOUT=1 go test -count=1 -timeout 20m -run '^TestBenchRollout$' -v ./deploy-tool/ 2>&1 \
  | tee /dev/stderr | grep -E 'bench: ' | sed -E 's/^[[:space:]]*bench_test\.go:[0-9]+: //'
