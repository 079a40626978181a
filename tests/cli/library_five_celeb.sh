#!/usr/bin/env bash
# The library end to end on five_celeb: index the train photos, search with
# every val photo (the right person first for >= 95% of them), cluster into
# people, then the user's corrections (name, merge, reject, split) and a
# re-cluster that keeps every one of them; new photos indexed later join the
# named people.
set -euo pipefail
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
celeb=$datasets/five_celeb
if [ ! -f "$celeb/labels.csv" ]; then echo "SKIP: $celeb is absent (needs ../shared/datasets)"; exit 77; fi
celeb=$(cd "$celeb" && pwd)
if ! "$likeness" models >/dev/null 2>&1; then
  echo "SKIP: models not installed (scripts/setup.sh models)"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lib=$work/library

# The split as folders of symlinks (labels.csv has CRLF line ends).
tr -d '\r' < "$celeb/labels.csv" | tail -n +2 | while IFS=, read -r path identity split; do
  mkdir -p "$work/$split/$identity"
  ln -s "$celeb/$path" "$work/$split/$path"
done

"$likeness" index --library "$lib" "$work/train" --json > "$work/index.json"
/usr/bin/python3 - "$work/index.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s.pop("failures")
assert s["photos_new"] == 93 and s["failed"] == 0 and not s["interrupted"], s
assert s["faces_added"] >= 93, s
PY
"$likeness" library check --library "$lib" > /dev/null

# Search: the top result's folder is the query's identity.
hits=0; total=0
for query in "$work"/val/*/*.jpg; do
  identity=$(basename "$(dirname "$query")")
  "$likeness" search --library "$lib" "$query" --json --top 5 > "$work/search.json" || true
  top=$(/usr/bin/python3 - "$work/search.json" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
for hit in r["results"]:
    assert set(("path", "box", "probability", "quality")) <= set(hit), hit
    assert 0.0 <= hit["probability"] <= 1.0 and len(hit["box"]) == 4, hit
probs = [h["probability"] for h in r["results"]]
assert probs == sorted(probs, reverse=True), probs
print(os.path.basename(os.path.dirname(r["results"][0]["path"])) if r["results"] else "none")
PY
)
  total=$((total + 1))
  if [ "$top" = "$identity" ]; then hits=$((hits + 1)); else echo "miss: $query -> $top"; fi
done
echo "search: right person first for $hits of $total val photos"
[ $((hits * 100)) -ge $((total * 95)) ] || { echo "FAIL: below 95%"; exit 1; }

# People.
"$likeness" people cluster --library "$lib" --json > "$work/cluster.json"
"$likeness" people list --library "$lib" --json > "$work/people.json"
# For each identity, the person holding most of its faces.
/usr/bin/python3 - "$lib/catalog.sqlite" "$work/people.json" > "$work/majority.txt" <<'PY'
import collections, json, os, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = db.execute("SELECT fp.person_id, p.path FROM face_person fp JOIN faces f ON f.id = fp.face_id "
                  "JOIN photos p ON p.id = f.photo_id WHERE fp.origin != 'rejected'").fetchall()
by_identity = collections.defaultdict(collections.Counter)
for person, path in rows:
    by_identity[os.path.basename(os.path.dirname(path))][person] += 1
assert len(by_identity) == 5, by_identity
for identity, counts in sorted(by_identity.items()):
    person, n = counts.most_common(1)[0]
    print(identity, person, n)
PY
cat "$work/majority.txt"
ben=$(awk '$1 == "ben_afflek" {print $2}' "$work/majority.txt")
elton=$(awk '$1 == "elton_john" {print $2}' "$work/majority.txt")
[ -n "$ben" ] && [ -n "$elton" ] && [ "$ben" != "$elton" ]

faces_of() {  # person -> face ids, one per line
  "$likeness" people show --library "$lib" "$1" --json |
    /usr/bin/python3 -c 'import json, sys; [print(f["face_id"]) for f in json.load(sys.stdin)["faces"]]'
}

# Name Ben; reject one of his faces; merge Elton into Ben (wrongly, on
# purpose) and split Elton's faces out again under his name.
"$likeness" people name --library "$lib" "$ben" "Ben Affleck" > /dev/null
rejected=$(faces_of "Ben Affleck" | tail -n 1)
"$likeness" people reject --library "$lib" "$rejected" "Ben Affleck" > /dev/null
elton_faces=$(faces_of "$elton" | tr '\n' ' ')
"$likeness" people merge --library "$lib" "Ben Affleck" "$elton" > /dev/null
"$likeness" people show --library "$lib" "$elton" > /dev/null 2>&1 &&
  { echo "FAIL: merged person still exists"; exit 1; }
for f in $elton_faces; do
  faces_of "Ben Affleck" | grep -x "$f" > /dev/null || { echo "FAIL: face $f not merged"; exit 1; }
done
# shellcheck disable=SC2086
"$likeness" people split --library "$lib" "Ben Affleck" $elton_faces --name "Elton John" > /dev/null
ben_before=$(faces_of "Ben Affleck" | sort | tr '\n' ' ')
elton_before=$(faces_of "Elton John" | sort | tr '\n' ' ')

# Re-clustering keeps every decision.
"$likeness" people cluster --library "$lib" > /dev/null
[ "$(faces_of "Ben Affleck" | sort | tr '\n' ' ')" = "$ben_before" ] ||
  { echo "FAIL: re-clustering changed Ben's confirmed faces"; exit 1; }
[ "$(faces_of "Elton John" | sort | tr '\n' ' ')" = "$elton_before" ] ||
  { echo "FAIL: re-clustering changed Elton's faces"; exit 1; }
faces_of "Ben Affleck" | grep -x "$rejected" > /dev/null && { echo "FAIL: rejected face came back"; exit 1; }

# New photos join the named people when confident.
"$likeness" index --library "$lib" "$work/val" --json > "$work/index2.json"
/usr/bin/python3 - "$work/index2.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["photos_new"] == 25 and s["faces_joined_people"] >= 10, s
PY
"$likeness" search --library "$lib" --person "Ben Affleck" --json > "$work/person.json"
/usr/bin/python3 - "$work/person.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
paths = [x["path"] for x in r["results"]]
assert any("/val/ben_afflek/" in p for p in paths), paths
assert all("/elton_john/" not in p for p in paths), paths
PY
"$likeness" library check --library "$lib" > /dev/null
echo "ok"
