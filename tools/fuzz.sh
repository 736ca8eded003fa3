#!/usr/bin/env bash
# Runs every fuzzer for a bounded time and fails on any finding:
# the libFuzzer targets in tests/fuzz/ (clang, ASan + UBSan) and the atheris
# fuzzer of the recording reader (tools/fuzz_recording.py).
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 60 s, every target)
# Targets: the names of tests/fuzz/fuzz_<name>.c, and "recording" (atheris).
# Environment: FUZZ_MAX_LEN (default 512: long enough for several frames of
# every format, short enough for tens of thousands of executions per second),
# FUZZ_JOBS (targets run at once, default the number of cores: each fuzzer is
# one process on one core, so each still gets its full time), CLANG.
# Seeds: tests/fuzz/corpus/<target>/ (and, for sio1, tests/vectors/*.bin
# in place); tests/corpus/recording/ for the recording reader. New corpus
# entries go to a scratch directory, not into the repository. A crash or
# sanitizer report is saved to tests/fuzz/regressions/<target>/ (or
# tests/corpus/recording/ for atheris), which the ordinary test run replays
# from then on, and makes this script fail. Prints executions per target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
max_len=${FUZZ_MAX_LEN:-512}
python=${PYTHON:-python3}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
  targets+=(recording)
fi
for t in "${targets[@]}"; do  # a wrong name stops the run before any starts
  [ "$t" = recording ] || [ -f "$root/tests/fuzz/fuzz_$t.c" ] ||
    { echo "fuzz.sh: no target $t ($root/tests/fuzz/fuzz_$t.c)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin="$root/tools/bin/fuzz"
mkdir -p "$bin"
status=0

executions() {  # the executions libFuzzer/atheris reported
  grep -Eho 'stat::number_of_executed_units: *[0-9]+' "$@" | grep -Eo '[0-9]+$' |
    awk '{s += $1} END {print s + 0}'
}

fuzz_one() {  # one target; its exit status says whether it found something
  local t=$1
  if [ "$t" = recording ]; then
    "$python" -c 'import atheris' 2>/dev/null ||
      { echo "fuzz.sh: atheris is not installed (pip install atheris)" >&2; exit 2; }
    (cd "$root" && "$python" -c 'import sensorio._native' 2>/dev/null) ||
      { echo "fuzz.sh: sensorio's C core is not built in $root (pip install -e . there first)" >&2; exit 2; }
    mkdir -p "$work/recording"
    log="$work/recording.log"
    if "$python" "$root/tools/fuzz_recording.py" "$work/recording" "$root/tests/corpus/recording" \
        -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$root/tests/corpus/recording/crash-" >"$log" 2>&1; then
      echo "fuzz recording (atheris): ${secs}s, $(executions "$log") executions, no finding"
    else
      echo "fuzz recording: FINDING (input saved under tests/corpus/recording/):" >&2
      grep -E 'Error|Exception|Traceback|Test unit written|crash-' "$log" | head -20 >&2
      return 1
    fi
    return 0
  fi
  src="$root/tests/fuzz/fuzz_$t.c"
  exe="$bin/fuzz_$t"
  # rebuild only when a source changed (the sanitizer build takes a while)
  if [ ! -x "$exe" ] || [ -n "$(find "$src" "$root"/tests/fuzz/*.h "$root"/csrc -newer "$exe" -name '*.[ch]' 2>/dev/null)" ]; then
    cc=${CLANG:-$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1)}
    [ -n "$cc" ] || { echo "fuzz.sh: clang is not installed (apt-get install clang)" >&2; exit 2; }
    "$cc" -std=c11 -O2 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -I"$root/csrc" -I"$root/tests/fuzz" "$src" "$root"/csrc/*.c -o "$exe.tmp" -lm
    mv "$exe.tmp" "$exe"
  fi
  seeds=("$root/tests/fuzz/corpus/$t")
  [ "$t" = sio1 ] && [ -d "$root/tests/vectors" ] && seeds+=("$root/tests/vectors")
  [ -d "$root/tests/fuzz/regressions/$t" ] && seeds+=("$root/tests/fuzz/regressions/$t")
  mkdir -p "$work/$t" "$root/tests/fuzz/regressions/$t"
  log="$work/$t.log"
  args=("$work/$t" "${seeds[@]}" -max_total_time="$secs" -max_len="$max_len" -print_final_stats=1
        -artifact_prefix="$root/tests/fuzz/regressions/$t/")
  if "$exe" "${args[@]}" >"$log" 2>&1; then
    echo "fuzz $t: ${secs}s, $(executions "$log") executions, no finding"
  else
    echo "fuzz $t: FINDING (input saved under tests/fuzz/regressions/$t/):" >&2
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -20 >&2
    return 1
  fi
}

# the targets FUZZ_JOBS at a time (a missing tool exits 2 at once, from
# whichever target finds it missing)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
running=0
reap() {  # wait for one target to end
  wait -n || { rc=$?; [ $rc -eq 2 ] && exit 2; status=1; }
  running=$((running - 1))
}
for t in "${targets[@]}"; do
  [ "$running" -lt "$jobs" ] || reap
  fuzz_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done
exit $status
