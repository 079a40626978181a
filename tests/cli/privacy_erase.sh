#!/usr/bin/env bash
# `likeness erase` and `likeness privacy log` end to end on LFW photos:
#  - without a terminal and without --yes nothing is erased (exit 1);
#  - --photo PATH --yes --json erases that photo's face and record;
#  - --like PHOTO erases the faces of that person and no one else's;
#  - the audit log lists both erasures, with counts and without paths;
#  - `library check` passes afterwards.
set -euo pipefail
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
lfw=$datasets/lfw/images
if [ ! -d "$lfw" ]; then echo "SKIP: $lfw is absent (needs ../shared/datasets)"; exit 77; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$likeness" models verify > /dev/null 2>&1; then
  "$likeness" models --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = {m["name"]: m["status"] for m in json.load(sys.stdin)["models"]}
sys.exit(0 if all(s.get(n) == "ok" for n in ("ultraface_rfb320", "faceplugin_landmark_68", "faceplugin_feature")) else 1)' ||
    { echo "SKIP: models not installed (scripts/setup.sh models)"; exit 77; }
fi
fail() { echo "FAIL: $*"; exit 1; }

photos=$work/photos
mkdir -p "$photos"
for name in Colin_Powell Tony_Blair Serena_Williams; do
  for i in 1 2 3; do cp "$(printf '%s/%s/%s_%04d.jpg' "$lfw" "$name" "$name" "$i")" "$photos/"; done
done
library=$work/library
"$likeness" index --quiet --library "$library" "$photos"
faces() { "$likeness" library info --json --library "$library" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["faces"])'; }
[ "$(faces)" = 9 ] || fail "expected 9 faces after indexing, got $(faces)"

target=$photos/Tony_Blair_0001.jpg
if "$likeness" erase --library "$library" --photo "$target" < /dev/null > "$work/refused.txt" 2>&1; then
  fail "erase without a terminal and without --yes succeeded"
fi
grep -q -- "--yes" "$work/refused.txt" || fail "the refusal does not say how to confirm: $(cat "$work/refused.txt")"
[ "$(faces)" = 9 ] || fail "a refused erase changed the library"

"$likeness" erase --library "$library" --photo "$target" --yes --json > "$work/photo.json"
/usr/bin/python3 - "$work/photo.json" <<'PY' || fail "erase --photo result: $(cat "$work/photo.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["erased"] and r["scope"] == "photo" and r["faces"] == 1 and r["photos"] == 1, r
assert r["vectors"] >= 2, r  # per-model vectors and the fused one
PY
[ "$(faces)" = 8 ] || fail "expected 8 faces after erasing one photo, got $(faces)"

query=$(printf '%s/Colin_Powell/Colin_Powell_%04d.jpg' "$lfw" 10)
"$likeness" erase --library "$library" --like "$query" --yes --json > "$work/like.json" 2> "$work/like.plan"
/usr/bin/python3 - "$work/like.json" <<'PY' || fail "erase --like result: $(cat "$work/like.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["erased"] and r["scope"] == "like" and r["faces"] == 3, r
PY
grep -q "Colin_Powell_0001.jpg" "$work/like.plan" || fail "the plan does not list the photos: $(cat "$work/like.plan")"
grep -q "Serena" "$work/like.plan" && fail "the plan lists someone else: $(cat "$work/like.plan")"
[ "$(faces)" = 5 ] || fail "expected 5 faces after erasing Colin Powell, got $(faces)"

"$likeness" privacy log --library "$library" --json > "$work/log.json"
/usr/bin/python3 - "$work/log.json" <<'PY' || fail "audit log: $(cat "$work/log.json")"
import json, sys
entries = json.load(open(sys.argv[1]))["entries"]
erasures = [e for e in entries if e["action"] == "erase"]
assert [e["details"]["scope"] for e in erasures] == ["photo", "like"], entries
assert [e["details"]["faces"] for e in erasures] == [1, 3], entries
text = json.dumps(entries)
assert "Colin" not in text and "Tony" not in text and "/" not in text.replace("\\/", ""), text
PY
"$likeness" library check --library "$library" > /dev/null || fail "library check failed after erasing"
echo "OK"
