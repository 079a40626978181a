#!/usr/bin/env bash
# End-to-end cost of encryption at rest: `likeness index` (through
# bench/index_throughput.sh, the same photo set every time) and `likeness
# search` on an unencrypted library, on one encrypted in the old format
# (AES-256-XTS: made and used by an older binary, --xts-likeness, since this
# one opens such a library only to upgrade it) and on one in the
# authenticated format (AES-256-GCM), in interleaved rounds (the order
# rotates each round) so that a noisy machine affects every format alike.
#
#   bench/encryption_cost.sh --xts-likeness OLD_BUILD/likeness [--rounds 3]
#                            [--count 200] [--searches 5] [--build DIR]
#
# Each search is a whole `likeness search --json` process (models loaded, the
# passphrase's key derived, the sealed index read) with an LFW photo of George
# W. Bush; its wall time is measured. Prints one JSON object: every run, and
# per format the medians. bench/catalog_bench isolates the catalog's share.
set -euo pipefail

main() {
  local root build rounds=3 count=200 searches=5 xts=""
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  build="$root/build"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --xts-likeness) xts="$2"; shift 2 ;;
      --rounds) rounds="$2"; shift 2 ;;
      --count) count="$2"; shift 2 ;;
      --searches) searches="$2"; shift 2 ;;
      --build) build="$2"; shift 2 ;;
      -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      *) echo "encryption_cost: unknown argument $1 (see --help)" >&2; return 2 ;;
    esac
  done
  [[ -x "$xts" ]] || { echo "encryption_cost: --xts-likeness BINARY is needed" >&2; return 2; }
  local datasets="${LIKENESS_DATASETS_DIR:-$root/../shared/datasets}"
  local queries=("$datasets"/lfw/images/George_W_Bush/*.jpg)
  queries=("${queries[@]:0:$searches}")
  [[ -f "${queries[0]}" && ${#queries[@]} -eq $searches ]] ||
    { echo "encryption_cost: not $searches LFW photos in $datasets" >&2; return 1; }

  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/likeness-encryption-cost.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf -- '$work'" EXIT
  printf 'encryption cost benchmark\n' >"$work/pass"
  local modes=(plain xts gcm) runs="$work/runs.jsonl"
  : >"$runs"
  for ((round = 0; round < rounds; round++)); do
    for ((k = 0; k < 3; k++)); do
      local mode="${modes[$(((k + round) % 3))]}" binary="$build/likeness" args=() unlock=()
      case "$mode" in
        xts) binary="$xts"; args=(--likeness "$xts" --passphrase-file "$work/pass") ;;
        gcm) args=(--passphrase-file "$work/pass") ;;
      esac
      [[ "$mode" == plain ]] || unlock=(--passphrase-file "$work/pass")
      echo "encryption_cost: round $round, $mode: indexing $count photos" >&2
      "$root/bench/index_throughput.sh" --count "$count" --build "$build" --keep-library \
        "${args[@]}" >"$work/index.json" 2>"$work/index.err" ||
        { cat "$work/index.err" >&2; return 1; }
      local library
      library="$(sed -n 's/^index_throughput: library kept in //p' "$work/index.err")"
      [[ -n "$library" ]] || { echo "encryption_cost: no library kept" >&2; return 1; }
      : >"$work/search_seconds"
      for query in "${queries[@]}"; do
        local start end
        start="$(date +%s.%N)"
        "$binary" search --json --library "$library" "${unlock[@]}" "$query" >"$work/search.json"
        end="$(date +%s.%N)"
        awk -v a="$start" -v b="$end" 'BEGIN {print b - a}' >>"$work/search_seconds"
        grep -q '"results"' "$work/search.json" || { echo "encryption_cost: search failed" >&2; return 1; }
      done
      /usr/bin/python3 - "$mode" "$round" "$work/index.json" "$work/search_seconds" >>"$runs" <<'PY'
import json, sys
index = json.load(open(sys.argv[3]))
searches = [float(line) for line in open(sys.argv[4])]
print(json.dumps({"format": sys.argv[1], "round": int(sys.argv[2]),
                  "photos_per_second": index["photos_per_second"],
                  "cpu_seconds_per_photo": index["cpu_seconds_per_photo"],
                  "faces_found": index["faces_found"], "search_seconds": searches}))
PY
      rm -rf -- "$library"
    done
  done
  /usr/bin/python3 - "$runs" "$count" "$rounds" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
out = {"photos": int(sys.argv[2]), "rounds": int(sys.argv[3]), "runs": runs, "median": {}}
for fmt in ("plain", "xts", "gcm"):
    mine = [r for r in runs if r["format"] == fmt]
    out["median"][fmt] = {
        "photos_per_second": statistics.median(r["photos_per_second"] for r in mine),
        "cpu_seconds_per_photo": statistics.median(r["cpu_seconds_per_photo"] for r in mine),
        "search_seconds": statistics.median(s for r in mine for s in r["search_seconds"]),
    }
print(json.dumps(out, indent=2))
PY
}

main "$@"
