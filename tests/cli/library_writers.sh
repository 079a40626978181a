#!/usr/bin/env bash
# One writer per library, end to end on five_celeb's train photos:
#  - three `likeness index` runs started at once on one folder end with
#    exactly the faces of one run alone (and the same people after
#    `people cluster`), `library check` passes, and the runs that had to
#    wait said who they waited for;
#  - with another process holding the writer lock, a writing command with
#    --no-wait fails at once naming the library, and one without it waits
#    and then succeeds, while a reader (search) answers meanwhile;
#  - `erase --person X --with-photos` deletes the records of the photos in
#    which nobody else was found, and indexing the folder again brings none
#    of the erased faces back (counted as "erased" in the summary).
set -euo pipefail
source "$(dirname "$0")/common.bash" "$@"
require_models
celeb=$datasets/five_celeb
if [ ! -f "$celeb/labels.csv" ]; then echo "SKIP: $celeb is absent (needs ../shared/datasets)"; exit 77; fi
celeb=$(cd "$celeb" && pwd)
command -v flock > /dev/null || { echo "SKIP: flock (util-linux) is missing"; exit 77; }
json_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# The train split as folders of symlinks (labels.csv has CRLF line ends).
tr -d '\r' < "$celeb/labels.csv" | tail -n +2 | while IFS=, read -r path identity split; do
  mkdir -p "$work/$split/$identity"
  ln -s "$celeb/$path" "$work/$split/$path"
done

# --- three indexers at once against one alone ---------------------------------
"$likeness" index --quiet --library "$work/alone" "$work/train"
"$likeness" library info --json --library "$work/alone" > "$work/alone.json"
alone_faces=$(json_field "$work/alone.json" faces)
[ "$alone_faces" -ge 93 ] || fail "one run found only $alone_faces faces"

for i in 1 2 3; do
  "$likeness" index --library "$work/together" "$work/train" --json \
    > "$work/run$i.json" 2> "$work/run$i.err" &
done
wait
"$likeness" library info --json --library "$work/together" > "$work/together.json"
together_faces=$(json_field "$work/together.json" faces)
[ "$together_faces" = "$alone_faces" ] ||
  fail "three indexers at once stored $together_faces faces; one run alone stores $alone_faces"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["photos"]["indexed"])' "$work/together.json")" = 93 ] ||
  fail "three indexers at once: $(cat "$work/together.json")"
"$likeness" library check --library "$work/together" > "$work/check.txt" ||
  fail "library check after three indexers: $(cat "$work/check.txt")"
new_total=0
for i in 1 2 3; do
  new_total=$((new_total + $(json_field "$work/run$i.json" photos_new)))
done
[ "$new_total" = 93 ] || fail "the three runs indexed $new_total photos as new between them, not 93"
waited=$(grep -l "is writing the library at $work/together; waiting" "$work"/run*.err | wc -l)
[ "$waited" -ge 1 ] || fail "no run said it waited: $(cat "$work"/run*.err)"
grep -hq "(pid [0-9]*, \`likeness index\`" "$work"/run*.err ||
  fail "the waiting message does not name the holder: $(cat "$work"/run*.err)"
alone_people=$("$likeness" people cluster --library "$work/alone" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["people"])')
together_people=$("$likeness" people cluster --library "$work/together" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["people"])')
[ "$together_people" = "$alone_people" ] ||
  fail "people after three indexers: $together_people, after one: $alone_people"

# --- --no-wait, waiting, and readers meanwhile --------------------------------
query=$(ls "$work"/val/madonna/*.jpg | head -1)
flock "$work/together/writer.lock" sleep 4 &
holder=$!
sleep 0.5
start=$(date +%s.%N)
if "$likeness" people cluster --library "$work/together" --no-wait > "$work/nowait.out" 2> "$work/nowait.err"; then
  fail "--no-wait went ahead while another process held the writer lock"
fi
grep -q "is writing the library at $work/together" "$work/nowait.err" ||
  fail "--no-wait's message: $(cat "$work/nowait.err")"
python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $start < 2 else 1)" ||
  fail "--no-wait took more than 2 s to fail"
"$likeness" search --library "$work/together" "$query" --json > "$work/search.json" ||
  fail "search while a writer held the lock"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["results"]) > 0)' "$work/search.json")" = True ] ||
  fail "search while a writer held the lock found nothing"
"$likeness" people cluster --library "$work/together" > /dev/null 2> "$work/wait.err" ||
  fail "a waiting writer failed: $(cat "$work/wait.err")"
grep -q "waiting for it to finish" "$work/wait.err" || fail "the waiting writer said nothing"
wait "$holder"

# --- erase --with-photos, then index again ------------------------------------
lib=$work/alone
person=$(person_holding_only "$lib" /madonna/ 5)
[ -n "$person" ] || fail "no person holds only Madonna's faces"
"$likeness" erase --library "$lib" --person "$person" --yes > "$work/plain_plan.txt" 2>&1 ||
  fail "erase: $(cat "$work/plain_plan.txt")"
grep -q "show nobody else" "$work/plain_plan.txt" || fail "erase did not offer --with-photos: $(cat "$work/plain_plan.txt")"
# The records stayed; now the same for another person with --with-photos.
person=$(person_holding_only "$lib" /jerry_seinfeld/ 5)
[ -n "$person" ] || fail "no person holds only Jerry Seinfeld's faces"
"$likeness" erase --library "$lib" --person "$person" --with-photos --yes --json > "$work/erase.json" 2> "$work/erase.err"
removed=$(json_field "$work/erase.json" photos)
remembered=$(json_field "$work/erase.json" photos_remembered)
[ "$removed" -ge 5 ] && [ "$removed" = "$remembered" ] || fail "erase --with-photos: $(cat "$work/erase.json")"
/usr/bin/python3 - "$lib" "$removed" <<'PY' || fail "photo records after erase --with-photos"
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "/catalog.sqlite?mode=ro", uri=True)
left = [r[0] for r in db.execute("SELECT path FROM photos WHERE path LIKE '%/jerry_seinfeld/%'")]
erased = db.execute("SELECT count(*) FROM erased_photos").fetchone()[0]
assert erased == int(sys.argv[2]), erased
# Photos of Jerry Seinfeld with someone else in them keep their record (their other faces).
for path in left:
    assert db.execute("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
                      "WHERE p.path = ?", (path,)).fetchone()[0] > 0, path
PY
faces_after_erase=$("$likeness" library info --json --library "$lib" | python3 -c 'import json,sys; print(json.load(sys.stdin)["faces"])')
"$likeness" index --library "$lib" "$work/train" --json > "$work/reindex.json"
/usr/bin/python3 - "$work/reindex.json" "$removed" <<'PY' || fail "index after erase --with-photos: $(cat "$work/reindex.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["photos_new"] == 0 and s["faces_added"] == 0, s
assert s["skipped_by_reason"].get("erased") == int(sys.argv[2]), s["skipped_by_reason"]
PY
[ "$("$likeness" library info --json --library "$lib" | python3 -c 'import json,sys; print(json.load(sys.stdin)["faces"])')" = "$faces_after_erase" ] ||
  fail "indexing again brought erased faces back"
"$likeness" library check --library "$lib" > /dev/null || fail "library check after the erasures"
echo "ok: 3 indexers at once stored $together_faces faces (one alone: $alone_faces), $together_people people; --no-wait, waiting and readers; erase --with-photos removed $removed records, none indexed again"
