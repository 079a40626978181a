#!/usr/bin/env bash
# Runs one libFuzzer target for ctest (tests/fuzz/CMakeLists.txt).
#
#   run_fuzzer.sh fuzz    FUZZER SEEDS_TOOL KIND REGRESSIONS WORKDIR SECONDS
#   run_fuzzer.sh regress FUZZER SEEDS_TOOL KIND REGRESSIONS WORKDIR 0
#
# fuzz: generates the seed corpus (SEEDS_TOOL KIND DIR), adds the saved
# reproducers of REGRESSIONS/, and fuzzes for SECONDS. regress: runs every
# seed and every saved reproducer once. Either fails (exit 1) on a crash, a
# sanitizer report (ASan, UBSan, LeakSanitizer), an input slower than 10 s,
# memory over 2 GB, or a target's own check, printing the report and the
# reproducer's path; exits 77 (skipped) when the target says it cannot run
# here (fuzz_http without the models).
set -uo pipefail

if [ $# -ne 7 ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
mode=$1 fuzzer=$2 seeds_tool=$3 kind=$4 regressions=$5 work=$6 seconds=$7
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ ! -x "$fuzzer" ]; then
  echo "FAIL: $fuzzer was not built (cmake --build builds it with clang; see tests/fuzz/CMakeLists.txt)"
  exit 1
fi
rm -rf "$work"
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts" "$work/tmp"
if ! "$seeds_tool" "$kind" "$work/seeds"; then
  echo "FAIL: $seeds_tool could not write the seeds"
  exit 1
fi
saved=()
if [ -d "$regressions" ]; then
  mapfile -t saved < <(find "$regressions" -type f ! -name '*.md' | sort)
fi

# LeakSanitizer: see lsan.supp for why each entry is there. UBSan prints the
# stack of what it reports; halting is compiled in (-fno-sanitize-recover).
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1"
export LIKENESS_FUZZ_TMP="$work/tmp"
common=(-rss_limit_mb=2048 -timeout=10 -max_len=16384 -error_exitcode=1 -timeout_exitcode=1
        -dict="$here/$kind.dict" -artifact_prefix="$work/artifacts/")
log="$work/fuzz.log"

if [ "$mode" = fuzz ]; then
  cp "$work/seeds/"* "$work/corpus/"
  for file in "${saved[@]}"; do cp "$file" "$work/corpus/"; done
  "$fuzzer" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    "$work/corpus" > "$log" 2>&1
  status=$?
else
  inputs=("$work/seeds/"* "${saved[@]}")
  "$fuzzer" "${common[@]}" "${inputs[@]}" > "$log" 2>&1
  status=$?
fi

if [ "$status" -eq 77 ] && grep -aq "SKIP:" "$log"; then
  grep -a "SKIP:" "$log"
  exit 77
fi
if [ "$status" -ne 0 ]; then
  echo "FAIL: $(basename "$fuzzer") exited $status. The report (full log: $log):"
  # From the first report line on: sanitizer, libFuzzer or our own checks.
  sed -n '/==[0-9]*==ERROR\|runtime error:\|ERROR: libFuzzer\|FAILURE:\|contract broken\|ALARM: working on/,$p' \
    "$log" | head -n 150
  for artifact in "$work/artifacts/"*; do
    [ -e "$artifact" ] || continue
    echo "Reproducer: $artifact ($(stat -c %s "$artifact") bytes)"
    echo "  re-run: $fuzzer $artifact"
    echo "  keep it: copy it into $regressions/ (small, not from the datasets)"
  done
  if [ "$mode" = regress ]; then
    echo "The input that failed is the last 'Running:' line above or in the log:"
    grep -a "Running:" "$log" | tail -n 1
  fi
  exit 1
fi
if [ "$mode" = fuzz ]; then
  grep -a -E "^fuzz_[a-z]+: (serving|[0-9]+ inputs)|^Done |stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb" "$log"
  echo "corpus: $(find "$work/corpus" -type f | wc -l) inputs (from $(find "$work/seeds" -type f | wc -l) seeds and ${#saved[@]} saved reproducers)"
else
  grep -a -E "^fuzz_[a-z]+: (serving|[0-9]+ inputs)" "$log"
  echo "ran $((${#inputs[@]})) inputs once ($(find "$work/seeds" -type f | wc -l) seeds, ${#saved[@]} saved reproducers): no failure"
fi
