#!/usr/bin/env bash
# Runs the libFuzzer targets in tests/fuzz/ (clang, ASan + UBSan).
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 60 s, every target)
# Seeds: tests/fuzz/corpus/<target>/ (and, for sio1, ../shared/vectors/*.bin in
# place). New corpus entries go to a scratch directory, not into the
# repository. A crash or sanitizer report is saved to
# tests/fuzz/regressions/<target>/ (replayed by the ordinary test run from
# then on) and makes this script fail. Prints executions per target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
cc=${CLANG:-$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1)}
[ -n "$cc" ] || { echo "fuzz.sh: clang is not installed (apt-get install clang)" >&2; exit 2; }
bin="$root/tools/bin/fuzz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$bin"
status=0
for t in "${targets[@]}"; do
  src="$root/tests/fuzz/fuzz_$t.c"
  [ -f "$src" ] || { echo "fuzz.sh: no target $t ($src)" >&2; exit 2; }
  "$cc" -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root/csrc" "$src" "$root"/csrc/*.c -o "$bin/fuzz_$t"
  seeds=("$root/tests/fuzz/corpus/$t")
  [ "$t" = sio1 ] && [ -d "$root/../shared/vectors" ] && seeds+=("$root/../shared/vectors")
  [ -d "$root/tests/fuzz/regressions/$t" ] && seeds+=("$root/tests/fuzz/regressions/$t")
  mkdir -p "$work/$t" "$root/tests/fuzz/regressions/$t"
  log="$work/$t.log"
  if "$bin/fuzz_$t" "$work/$t" "${seeds[@]}" -max_total_time="$secs" -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$root/tests/fuzz/regressions/$t/" >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    echo "fuzz $t: ${secs}s, $runs executions, no finding"
  else
    echo "fuzz $t: FINDING (input saved under tests/fuzz/regressions/$t/):" >&2
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -20 >&2
    status=1
  fi
done
exit $status
