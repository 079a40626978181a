#!/usr/bin/env bash
# Indexing throughput on camera-size photos: photos/s, faces/s and peak memory
# of `likeness index` over a reproducible set made by bench/make_photos
# (4000x3000 JPEGs, 0-5 LFW faces each; truth.csv says how many).
#
#   bench/index_throughput.sh [--count 200] [--seed 1] [--photos DIR] [--build DIR]
#                             [--likeness BINARY] [--passphrase-file FILE]
#                             [--keep-library] [-- EXTRA likeness index ARGS]
#
# The photo set is made once and reused (DIR/.make_photos names the arguments
# it was made with; default DIR: ${TMPDIR:-/tmp}/likeness-photos-s<seed>-n<count>).
# Each run indexes into a fresh temporary library, timed by /usr/bin/time -v
# (peak RSS of the process; with no /usr/bin/time, VmHWM from /proc is polled).
# The photos are in the page cache after generation: this measures decoding and
# the pipeline, not the disk. Prints one JSON object on stdout; progress on stderr.
# --likeness runs another binary (e.g. an older build) than BUILD/likeness;
# --passphrase-file makes the library encrypted first (`library init --encrypt`).
#
# Target (issue "throughput"): >= 10 photos/s with the default ensemble on
# 2 cores, peak RSS <= 2 GB.
set -euo pipefail

# --- The index command's summary: the only place that knows its shape. ------
# `likeness index --json` prints a JSON object with the photos indexed, the
# faces added, its own seconds and the photos that failed. Prints
# "photos faces seconds failed" (seconds and failed may be "null").
parse_index_summary() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
KEYS = {"photos": "photos_indexed", "faces": "faces_added", "seconds": "seconds",
        "failed": "failed"}
text = open(sys.argv[1]).read()
# The last JSON object in the output (one line or pretty-printed), so progress
# lines before it do not matter.
summary = None
starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
for start in reversed(starts):
    if text[start:start + 1] != "{":
        continue
    try:
        candidate, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        continue
    if isinstance(candidate, dict):
        summary = candidate
        break
if not isinstance(summary, dict) or KEYS["photos"] not in summary or KEYS["faces"] not in summary:
    sys.exit("index_throughput: no summary with %s and %s in the index output (%s)"
             % (KEYS["photos"], KEYS["faces"], sys.argv[1]))
print(summary[KEYS["photos"]], summary[KEYS["faces"]],
      json.dumps(summary.get(KEYS["seconds"])), json.dumps(summary.get(KEYS["failed"])))
PY
}

# --- Timing wrapper ---------------------------------------------------------
# measure OUT STATS CMD...: runs CMD with stdout to OUT; writes STATS as lines
# "wall_seconds N", "cpu_seconds N" (user + system), "peak_rss_kb N",
# "cpu_percent N", "exit N". Returns 0. On a shared machine cpu_seconds is the
# steadier measure of cost; wall_seconds is what a user waits.
measure() {
  local out="$1" stats="$2"
  shift 2
  local rc=0
  if [[ -x /usr/bin/time ]]; then
    local tv
    tv="$(mktemp)"
    /usr/bin/time -v -o "$tv" "$@" >"$out" || rc=$?
    /usr/bin/python3 - "$tv" "$rc" >"$stats" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def field(name):
    m = re.search(r"^\s*" + re.escape(name) + r":\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else None
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
seconds = 0.0
for part in wall.split(":"):
    seconds = seconds * 60 + float(part)
cpu = (field("Percent of CPU this job got") or "0%").rstrip("%")
print("wall_seconds", seconds)
print("cpu_seconds", float(field("User time (seconds)")) + float(field("System time (seconds)")))
print("peak_rss_kb", field("Maximum resident set size (kbytes)"))
print("cpu_percent", cpu if cpu.isdigit() else 0)
print("exit", sys.argv[2])
PY
    rm -f "$tv"
  else
    # No /usr/bin/time (Debian package "time"): VmHWM is the process's own
    # high-water mark, so polling it until exit loses only the last interval;
    # CPU time likewise from /proc/PID/stat (utime + stime, in clock ticks).
    local start end pid hwm=0 now ticks=0 t hz
    hz="$(getconf CLK_TCK)"
    start="$(date +%s.%N)"
    "$@" >"$out" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      now="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
      [[ -n "$now" && "$now" -gt "$hwm" ]] && hwm="$now"
      t="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}' || true)"
      [[ -n "$t" ]] && ticks="$t"
      sleep 0.05
    done
    wait "$pid" || rc=$?
    end="$(date +%s.%N)"
    {
      echo "wall_seconds $(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')"
      echo "cpu_seconds $(awk -v t="$ticks" -v hz="$hz" 'BEGIN {print t / hz}')"
      echo "peak_rss_kb $hwm"
      echo "cpu_percent $(awk -v t="$ticks" -v hz="$hz" -v a="$start" -v b="$end" 'BEGIN {printf "%d", (b > a) ? 100 * t / hz / (b - a) : 0}')"
      echo "exit $rc"
    } >"$stats"
  fi
}

stat_value() { awk -v k="$2" '$1 == k {print $2}' "$1"; }

main() {
  local root count=200 seed=1 photos="" build="${LIKENESS_BUILD_DIR:-}" keep_library=0
  local likeness_binary="" passphrase_file=""
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local extra=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --count) count="$2"; shift 2 ;;
      --seed) seed="$2"; shift 2 ;;
      --photos) photos="$2"; shift 2 ;;
      --build) build="$2"; shift 2 ;;
      --keep-library) keep_library=1; shift ;;
      --likeness) likeness_binary="$2"; shift 2 ;;
      --passphrase-file) passphrase_file="$2"; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      *) echo "index_throughput: unknown argument $1 (see --help)" >&2; return 2 ;;
    esac
  done
  build="${build:-$root/build}"
  local likeness="${likeness_binary:-$build/likeness}" make_photos="$build/bench/make_photos"
  for b in "$likeness" "$make_photos"; do
    [[ -x "$b" ]] || { echo "index_throughput: $b not built (cmake --build $build --target likeness make_photos)" >&2; return 1; }
  done
  photos="${photos:-${TMPDIR:-/tmp}/likeness-photos-s$seed-n$count}"

  # The photo set: reused when it was made with the same arguments.
  local stamp="make_photos --count $count --seed $seed"
  if [[ -f "$photos/truth.csv" && "$(cat "$photos/.make_photos" 2>/dev/null)" == "$stamp" ]]; then
    echo "index_throughput: reusing $photos" >&2
  else
    echo "index_throughput: making $count photos in $photos" >&2
    rm -f "$photos/truth.csv" "$photos/.make_photos" "$photos"/photo_*.jpg
    "$make_photos" --out "$photos" --count "$count" --seed "$seed" --threads 2 >&2
    echo "$stamp" >"$photos/.make_photos"
  fi
  local truth_faces
  truth_faces="$(awk -F, 'NR > 1 {n += $2} END {print n + 0}' "$photos/truth.csv")"

  local library work
  library="$(mktemp -d "${TMPDIR:-/tmp}/likeness-throughput-library.XXXXXX")"
  work="$(mktemp -d "${TMPDIR:-/tmp}/likeness-throughput-run.XXXXXX")"
  # Expanded now: the trap runs after main's locals are gone.
  local cleanup
  if [[ $keep_library -eq 1 ]]; then
    printf -v cleanup 'rm -rf -- %q' "$work"
    echo "index_throughput: library kept in $library" >&2
  else
    printf -v cleanup 'rm -rf -- %q %q' "$library" "$work"
  fi
  # shellcheck disable=SC2064
  trap "$cleanup" EXIT

  if [[ -n "$passphrase_file" ]]; then
    "$likeness" library init --encrypt --library "$library" --passphrase-file "$passphrase_file" \
      >/dev/null 2>&1 || { echo "index_throughput: library init --encrypt failed" >&2; return 1; }
    extra=(--passphrase-file "$passphrase_file" ${extra[@]+"${extra[@]}"})
  fi
  echo "index_throughput: likeness index --json --library $library $photos ${extra[*]:-}" >&2
  measure "$work/out" "$work/stats" "$likeness" index --json --library "$library" \
    ${extra[@]+"${extra[@]}"} "$photos"
  local rc
  rc="$(stat_value "$work/stats" exit)"
  if [[ "$rc" != 0 ]]; then
    echo "index_throughput: likeness index exited with $rc; its output:" >&2
    cat "$work/out" >&2
    return 1
  fi
  local summary indexed found index_seconds failed
  summary="$(parse_index_summary "$work/out")"
  read -r indexed found index_seconds failed <<<"$summary"

  /usr/bin/python3 - "$count" "$indexed" "$found" "$truth_faces" "$index_seconds" \
    "$(stat_value "$work/stats" wall_seconds)" "$(stat_value "$work/stats" peak_rss_kb)" \
    "$(stat_value "$work/stats" cpu_percent)" "$seed" "$photos" "${extra[*]:-}" \
    "$(stat_value "$work/stats" cpu_seconds)" "$failed" "$likeness" "${passphrase_file:+1}" <<'PY'
import json, sys
count, indexed, found, truth = (int(x) for x in sys.argv[1:5])
index_seconds = json.loads(sys.argv[5])
wall, peak_kb, cpu = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
cpu_seconds = float(sys.argv[12])
failed = json.loads(sys.argv[13])
r = lambda x, n=2: round(x, n) if x is not None else None
print(json.dumps({
    "photos": count,
    "photos_indexed": indexed,
    "photos_failed": failed,
    "faces_found": found,
    "faces_truth": truth,
    "seconds": r(wall),                      # wall clock, start-up included
    "photos_per_second": r(indexed / wall if wall else None),
    "faces_per_second": r(found / wall if wall else None),
    "index_seconds": r(index_seconds) if index_seconds is not None else None,  # as reported
    "photos_per_second_reported": r(indexed / index_seconds) if index_seconds else None,
    "peak_rss_mb": r(peak_kb / 1024, 1),
    "cpu_seconds": r(cpu_seconds),           # user + system: steadier on a shared machine
    "cpu_seconds_per_photo": r(cpu_seconds / indexed, 3) if indexed else None,
    "cpu_percent": cpu,                      # 200 = both of 2 cores busy
    "seed": int(sys.argv[9]),
    "photo_dir": sys.argv[10],
    "extra_args": sys.argv[11],
    "likeness": sys.argv[14],
    "encrypted": sys.argv[15] == "1",
}, indent=2))
PY
}

# Sourcing the script (for testing the wrapper) defines the functions only.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
