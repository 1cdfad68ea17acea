#!/usr/bin/env bash
# make bench-rollout: wall time of a rollout of 4 and of 16 servers under
# 400 requests/s, behind nginx (Lua drop-in) and HAProxy, against the sum of
# the deploy commands' own times; then three deploy hosts at once over one
# etcd, 12 servers behind nginx (Lua drop-in and C module) and HAProxy.
# Needs nginx with the Lua module, HAProxy and etcd-server (make deps
# installs them). Figures go to stdout; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_ROLLOUT=1 go test -count=1 -timeout 25m -run '^TestBenchRollout$' -v ./deploy-tool/ 2>&1 \
  | tee /dev/stderr | grep -E 'bench: ' | sed -E 's/^[[:space:]]*bench_test\.go:[0-9]+: //'
