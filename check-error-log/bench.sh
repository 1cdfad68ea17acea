#!/usr/bin/env bash
# `make bench` for check-error-log: lines per second reading a PHP error log
# of BENCH_BYTES (default 1 GiB) with 1% fatal errors from the start, and the
# cost of a per-minute run over one minute of such a log (BENCH_MINUTE_BYTES,
# default 10 MiB, about 80,000 lines). Needs `make build` (bin/check-error-log).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/check-error-log
[ -x "$bin" ] || { echo "bench: $bin is missing: run make build" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
log=$dir/php_error.log
read -r bytes lines fatals < <(go run ./check-error-log/cmd/genlog -o "$log" -bytes "${BENCH_BYTES:-1073741824}")
cat "$log" >/dev/null # from the page cache, as a log just written is
args=(--file "$log" --pattern 'PHP (Fatal|Parse) error' --state-dir "$dir" --host-name bench
      --max-read-bytes 4294967296 --timeout 10m)

measure() { # prints "seconds user+sys maxrss_kib" of one run
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin" "$@" >"$dir/out" || [ $? -le 2 ]
  read -r e u s m < <(tail -n 1 "$dir/time")
  echo "$e $(echo "$u + $s" | bc) $m"
}

read -r wall cpu rss < <(measure "${args[@]}" --from-start)
echo "whole log: $bytes bytes, $lines lines, $fatals fatal errors: ${wall}s wall, ${cpu}s cpu, $((rss / 1024)) MiB peak RSS"
echo "  $(echo "$lines / $wall" | bc) lines/s, $(echo "$bytes / $wall / 1048576" | bc) MB/s"
echo "  $(head -c 200 "$dir/out" | head -1)"

read -r mbytes mlines mfatals < <(go run ./check-error-log/cmd/genlog -o "$log" -bytes "${BENCH_MINUTE_BYTES:-10485760}")
read -r wall cpu rss < <(measure "${args[@]}")
echo "per-minute run over $mbytes new bytes ($mlines lines, $mfatals fatal errors): ${wall}s wall, ${cpu}s cpu, $((rss / 1024)) MiB peak RSS"
read -r wall cpu rss < <(measure "${args[@]}")
echo "per-minute run with nothing new: ${wall}s wall, ${cpu}s cpu, $((rss / 1024)) MiB peak RSS"
