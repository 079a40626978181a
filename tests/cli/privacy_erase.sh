#!/usr/bin/env bash
# `likeness erase` and `likeness privacy log` end to end on LFW photos:
#  - without a terminal and without --yes nothing is erased (exit 1);
#  - --photo PATH --yes --json erases that photo's face and record;
#  - --like PHOTO erases the faces of that person and no one else's;
#  - export --person to a .zip: person.json lists the person's faces with
#    their photos, and a readable crop of each;
#  - the audit log lists the export and both erasures, with counts and
#    without names or paths;
#  - `library check` passes afterwards;
#  - an erasure killed after its commit is reported by `library check`,
#    finished by `--repair`, or by the next command.
set -euo pipefail
source "$(dirname "$0")/common.bash" "$@"
require_models

photos=$work/photos
mkdir -p "$photos"
for name in Colin_Powell Tony_Blair Serena_Williams; do
  for i in 1 2 3; do cp "$(printf '%s/%s/%s_%04d.jpg' "$lfw" "$name" "$name" "$i")" "$photos/"; done
done
library=$work/library
"$likeness" index --quiet --library "$library" "$photos"
faces() { "$likeness" library info --json --library "$library" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["faces"])'; }
[ "$(faces)" = 9 ] || fail "expected 9 faces after indexing, got $(faces)"

# Export: the person who holds Serena Williams's faces.
"$likeness" people cluster --library "$library" > /dev/null
serena=$(person_holding_only "$library" Serena_Williams 3 exactly)
[ -n "$serena" ] || fail "no person holds exactly Serena Williams's three faces: $(cat "$work/people.json")"
"$likeness" export --library "$library" --person "$serena" --out "$work/serena.zip" --json > "$work/export.json"
/usr/bin/python3 - "$work/serena.zip" <<'PY' || fail "export archive"
import io, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
doc = json.loads(z.read("person.json"))
faces = doc["faces"]
assert len(faces) == 3, doc
for f in faces:
    assert "Serena_Williams" in f["photo"]["path"], f
    assert f["crop"] and z.read(f["crop"])[:2] == b"\xff\xd8", f  # a JPEG
    assert f["quality"]["overall"] > 0 and len(f["landmarks"]) == 5, f
    assert all("values" not in d for d in f["descriptions"]), "vectors exported without --with-vectors"
PY
if "$likeness" export --library "$library" --person "$serena" --out "$work/serena.zip" > /dev/null 2>&1; then
  fail "export overwrote an existing archive"
fi

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
assert [e["action"] for e in entries if e["action"] == "export"] == ["export"], entries
assert [e["details"]["scope"] for e in erasures] == ["photo", "like"], entries
assert [e["details"]["faces"] for e in erasures] == [1, 3], entries
text = json.dumps(entries)
assert "Colin" not in text and "Tony" not in text and "/" not in text.replace("\\/", ""), text
PY
"$likeness" library check --library "$library" > /dev/null || fail "library check failed after erasing"

# Retention at an index run: with vanished photos to be deleted, removing a
# file and re-indexing deletes its face and record. (The same run indexes
# Tony_Blair_0001.jpg again: an erased photo still on disk comes back, as
# docs/privacy.md warns.)
"$likeness" privacy retention --library "$library" --vanished on > /dev/null
rm "$photos/Serena_Williams_0002.jpg"
"$likeness" index --library "$library" "$photos" --json > "$work/reindex.json"
/usr/bin/python3 - "$work/reindex.json" <<'PY' || fail "retention at index: $(cat "$work/reindex.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["retention"]["photos"] == 1 and r["retention"]["faces"] == 1, r
assert r["photos_new"] == 1 and len(r["vanished"]) == 1, r
PY
[ "$(faces)" = 5 ] || fail "expected 5 faces after retention and re-indexing, got $(faces)"

# An erasure killed after its commit (LIKENESS_CRASH_AT: the n-th crash point
# raises SIGKILL; the first n that leaves the person gone): `library check`
# reports the unfinished purge (exit 1) and `--repair` finishes it; another
# copy is finished by the next ordinary command, which says so.
"$likeness" people cluster --library "$library" > /dev/null
victim=$(person_holding_only "$library" Serena_Williams 1)
[ -n "$victim" ] || fail "nobody left to erase"
cp -r "$library" "$work/pristine"
killed_at=
for n in $(seq 1 200); do
  rm -rf "$work/killed"; cp -r "$work/pristine" "$work/killed"
  status=0
  LIKENESS_CRASH_AT=$n "$likeness" erase --library "$work/killed" --person "$victim" --yes > /dev/null 2>&1 || status=$?
  [ "$status" = 137 ] || fail "erase with LIKENESS_CRASH_AT=$n exited $status, not killed (137)"
  # Read with sqlite3, not likeness: any likeness command would finish the erasure.
  gone=$(/usr/bin/python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "/catalog.sqlite?mode=ro", uri=True)
print(db.execute("SELECT count(*) FROM persons WHERE id = ?", (int(sys.argv[2]),)).fetchone()[0] == 0)' "$work/killed" "$victim")
  if [ "$gone" = True ]; then killed_at=$n; break; fi
done
[ -n "$killed_at" ] || fail "no crash point after the erasure's commit within 200"
cp -r "$work/killed" "$work/killed_again"
if "$likeness" library check --library "$work/killed" > "$work/pending.txt"; then
  fail "library check passed with an erasure unfinished: $(cat "$work/pending.txt")"
fi
grep -q "^Erasure: interrupted before its purge" "$work/pending.txt" || fail "check: $(cat "$work/pending.txt")"
"$likeness" library check --library "$work/killed" --repair > "$work/repair.txt" ||
  fail "check --repair: $(cat "$work/repair.txt")"
grep -q "^Erasure finished" "$work/repair.txt" || fail "check --repair: $(cat "$work/repair.txt")"
"$likeness" library check --library "$work/killed" > /dev/null || fail "check after --repair"
"$likeness" people list --library "$work/killed_again" > /dev/null 2> "$work/finished.err"
grep -q "finished an erasure that had been interrupted" "$work/finished.err" ||
  fail "the next command did not finish the erasure: $(cat "$work/finished.err")"
"$likeness" library check --library "$work/killed_again" > /dev/null || fail "check after the next command"
echo "OK"
