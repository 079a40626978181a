#!/usr/bin/env bash
# `likeness index` end to end on LFW photos copied to a temp folder:
#  - crash-resume: runs killed with SIGKILL at several points, then a normal
#    run, give the library one clean run gives (same photos, same faces per
#    photo, no face twice), and `library check` passes;
#  - Ctrl-C (SIGINT): exit code 130, the summary says interrupted, a re-run
#    completes;
#  - bad files (empty, not a photo, truncated, dangling symlink, a name that is
#    not UTF-8): `index --json` exits 0 and counts them in errors_by_reason.
set -euo pipefail
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
lfw=$datasets/lfw/images
if [ ! -d "$lfw" ]; then echo "SKIP: $lfw is absent (needs ../shared/datasets)"; exit 77; fi
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$likeness" models --json > "$work/models.json" 2>/dev/null || true
if ! /usr/bin/python3 - "$work/models.json" <<'PY'
import json, sys
# Detection, landmarks and at least one recognition model (a missing member of
# the ensemble is skipped with a warning; nothing here depends on which).
need = {"ultraface_rfb320", "faceplugin_landmark_68"}
members = {"faceplugin_feature", "dlib_resnet", "mobilefacenet", "faceres", "mobileface"}
try:
    status = {m["name"]: m["status"] for m in json.load(open(sys.argv[1]))["models"]}
except Exception:
    sys.exit(1)
ok = all(status.get(n) == "ok" for n in need) and any(status.get(n) == "ok" for n in members)
sys.exit(0 if ok else 1)
PY
then echo "SKIP: recognition models not installed (scripts/setup.sh models)"; exit 77; fi

fail() { echo "FAIL: $*"; exit 1; }

# 40 photos: the first four of ten people, one folder each.
photos=$work/photos
for name in George_W_Bush Colin_Powell Tony_Blair Donald_Rumsfeld Gerhard_Schroeder \
            Ariel_Sharon Hugo_Chavez Junichiro_Koizumi Jean_Chretien John_Ashcroft; do
  mkdir -p "$photos/$name"
  for i in 1 2 3 4; do cp "$(printf '%s/%s/%s_%04d.jpg' "$lfw" "$name" "$name" "$i")" "$photos/$name/"; done
done

# path -> faces for every photo of a library, read-only from its catalog.
faces_per_photo() {
  /usr/bin/python3 - "$1/catalog.sqlite" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = db.execute("SELECT p.path, p.status, COUNT(f.id) FROM photos p "
                  "LEFT JOIN faces f ON f.photo_id = p.id GROUP BY p.id ORDER BY p.path").fetchall()
print(json.dumps({path: [status, n] for path, status, n in rows}, sort_keys=True))
PY
}

# Same photos and faces as the clean library A, every face in the index.
same_as_a() {  # library label
  "$likeness" library check --library "$1" --json > "$work/check.json" ||
    { cat "$work/check.json"; fail "$2: library check failed"; }
  "$likeness" library info --library "$1" --json > "$work/info.json"
  faces_per_photo "$1" > "$work/faces.json"
  /usr/bin/python3 - "$work/info_a.json" "$work/info.json" "$work/faces_a.json" "$work/faces.json" \
      "$work/check.json" "$2" <<'PY' || exit 1
import json, sys
info_a, info, faces_a, faces, check = (json.load(open(p)) for p in sys.argv[1:6])
label = sys.argv[6]
def fail(msg):
    print("FAIL: %s: %s" % (label, msg)); sys.exit(1)
if info["photos"] != info_a["photos"]: fail("photos %s, clean run %s" % (info["photos"], info_a["photos"]))
if info["faces"] != info_a["faces"]: fail("faces %s, clean run %s" % (info["faces"], info_a["faces"]))
if faces != faces_a:
    diff = {p: (faces.get(p), faces_a.get(p)) for p in set(faces) | set(faces_a) if faces.get(p) != faces_a.get(p)}
    fail("faces per photo differ from the clean run (this, clean): %s" % diff)
if not check["ok"] or check["index_entries"] != info["faces"] or check["catalog_vectors"] != info["faces"]:
    fail("index not in step: %s" % check)
PY
}

# Clean run into A.
"$likeness" index --library "$work/A" "$photos" --json > "$work/a.json" || fail "clean run exited $?"
/usr/bin/python3 - "$work/a.json" <<'PY' || fail "clean run summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["photos_new"] == 40 and s["failed"] == 0 and not s["interrupted"], s
assert s["faces_added"] >= 40 and s["library_faces"] == s["faces_added"], s
PY
"$likeness" library info --library "$work/A" --json > "$work/info_a.json"
faces_per_photo "$work/A" > "$work/faces_a.json"

# A run of `likeness index --batch 5 --progress` into library $1 in the
# background: $pid, its progress bar in $work/progress.
start_index() {
  "$likeness" index --library "$1" "$photos" --batch 5 --progress --json \
    > "$work/run.json" 2> "$work/progress" &
  pid=$!
}
running() {  # a finished child stays a zombie until waited for
  local state
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ]
}
# The photos done that the progress bar shows last (empty before it is drawn).
done_so_far() {
  tr '\r' '\n' < "$work/progress" | sed -n 's/^\[[^]]*\] \([0-9]*\)\/.*/\1/p' | tail -n 1
}
# Waits until the run shows $1 more photos done than at its first drawing
# (it draws once the walk is over, then after each commit); false when it
# ends first.
wait_for_progress() {
  local first="" now deadline=$((SECONDS + 60))
  while running && [ "$SECONDS" -lt "$deadline" ]; do
    now=$(done_so_far)
    if [ -n "$now" ]; then
      [ -n "$first" ] || first=$now
      [ "$now" -ge $((first + $1)) ] && return 0
    fi
    sleep 0.02
  done
  return 1
}

# B: killed with SIGKILL again and again until a run completes: first while
# the models load (by time), then at chosen crash points (LIKENESS_CRASH_AT:
# the n-th of SQLite's writes, syncs and truncations and the index save's
# steps raises SIGKILL, core/crash_points.h), which fall inside batch commits
# and between a commit and the index save. Crash points make the kills the
# same on a fast machine and a slow one; killing by time when progress was
# seen lost the race against runs that now finish 40 small photos in a second.
points=("time 0.3" "crash 20" "crash 70" "crash 150" "crash 45" "crash 120" "crash 90" "crash 200")
killed=0
stale=0
completed=0
for point in "${points[@]}"; do
  read -r kind n <<< "$point"
  if [ "$kind" = time ]; then
    start_index "$work/B"
    sleep "$n"
    if running && kill -9 "$pid" 2>/dev/null; then status=137; else status=0; fi
    wait "$pid" 2>/dev/null || true
  else
    status=0
    LIKENESS_CRASH_AT=$n "$likeness" index --library "$work/B" "$photos" --batch 5 --json \
      > "$work/run.json" 2> "$work/progress" || status=$?
  fi
  pid=
  if [ "$status" = 137 ]; then
    killed=$((killed + 1))
    # Killed between a commit and the index save: the catalog holds faces the
    # saved index lacks (the next run must add them).
    if [ -f "$work/B/catalog.sqlite" ]; then
      "$likeness" library check --library "$work/B" --json > "$work/kcheck.json" || true
      /usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); sys.exit(0 if c["catalog_ok"] and c["missing_from_index"] > 0 else 1)' \
        "$work/kcheck.json" && stale=$((stale + 1))
      # Kept for `--repair` below: preferably one with a saved (older) index.
      if [ "$stale" -ge 1 ] && { [ ! -d "$work/stale" ] ||
           { [ -f "$work/B/faces.hnsw" ] && [ ! -f "$work/stale/faces.hnsw" ]; }; }; then
        rm -rf "$work/stale"
        cp -r "$work/B" "$work/stale"
      fi
    fi
  else
    [ "$status" = 0 ] || fail "an index run into B exited $status ($(tail -n 3 "$work/progress"))"
    completed=1
    break
  fi
done
[ "$killed" -ge 3 ] || fail "only $killed runs were killed before one completed"
[ "$stale" -ge 1 ] || fail "no run was killed between a commit and the index save"
"$likeness" index --library "$work/B" "$photos" --json > "$work/b.json" || fail "final run into B exited $?"
/usr/bin/python3 - "$work/b.json" <<'PY' || fail "final run into B"
import json, sys
s = json.load(open(sys.argv[1]))
assert not s["interrupted"] and s["failed"] == 0, s
assert s["photos_new"] + s["unchanged"] == 40 and s["photos_changed"] == 0, s
PY
same_as_a "$work/B" "after $killed killed runs (B)"

# A library left with the index behind the catalog by a kill: `library check`
# says so (exit 1), `--repair` adds the missing faces (exit 0), and it stays so.
set +e
"$likeness" library check --library "$work/stale" > /dev/null
status=$?
"$likeness" library check --library "$work/stale" --repair --json > "$work/repair.json"
repair_status=$?
"$likeness" library check --library "$work/stale" > /dev/null
after_status=$?
set -e
[ "$status" -eq 1 ] || fail "library check of a stale index exited $status, expected 1"
[ "$repair_status" -eq 0 ] || { cat "$work/repair.json"; fail "library check --repair exited $repair_status"; }
[ "$after_status" -eq 0 ] || fail "library check after --repair exited $after_status"
/usr/bin/python3 - "$work/repair.json" <<'PY' || fail "library check --repair output"
import json, sys
r = json.load(open(sys.argv[1]))
# "repaired" (missing faces added to the saved index) or, when the kill came
# before any index was saved, "rebuilt".
assert r["ok"] and r["index_repair"].split(":")[0] in ("repaired", "rebuilt"), r
assert r["missing_from_index"] == 0 and r["index_entries"] == r["catalog_vectors"] > 0, r
PY

# C: Ctrl-C after the first commit.
start_index "$work/C"
wait_for_progress 5 || fail "the run into C ended before it could be interrupted"
kill -INT "$pid"
set +e
wait "$pid"
status=$?
set -e
pid=
cp "$work/run.json" "$work/c.json"
[ "$status" -eq 130 ] || { cat "$work/progress"; fail "SIGINT: exit code $status, expected 130"; }
/usr/bin/python3 - "$work/c.json" <<'PY' || fail "SIGINT summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["interrupted"] is True, s
assert 5 <= s["photos_new"] < 40, s
PY
"$likeness" index --library "$work/C" "$photos" --json > "$work/c2.json" || fail "re-run after SIGINT exited $?"
/usr/bin/python3 - "$work/c.json" "$work/c2.json" <<'PY' || fail "re-run after SIGINT"
import json, sys
first, second = (json.load(open(p)) for p in sys.argv[1:3])
assert second["interrupted"] is False, second
assert second["unchanged"] == first["photos_new"], (first["photos_new"], second["unchanged"])
assert first["photos_new"] + second["photos_new"] == 40, (first["photos_new"], second["photos_new"])
PY
same_as_a "$work/C" "after SIGINT (C)"

# Bad files beside two good photos.
bad=$work/bad
mkdir -p "$bad"
cp "$photos/Colin_Powell/Colin_Powell_0001.jpg" "$bad/good.jpg"
cp "$photos/Tony_Blair/Tony_Blair_0001.jpg" "$bad/$(printf 'caf\xe9 good.jpg')"
: > "$bad/empty.jpg"
head -c 3000 /dev/urandom > "$bad/noise.jpg"
printf 'x' | dd of="$bad/noise.jpg" bs=1 count=1 conv=notrunc 2>/dev/null
head -c 3000 /dev/urandom > "$bad/$(printf 'bad\xff name.png')"
printf 'x' | dd of="$bad/$(printf 'bad\xff name.png')" bs=1 count=1 conv=notrunc 2>/dev/null
head -c 3000 "$photos/Colin_Powell/Colin_Powell_0002.jpg" > "$bad/truncated.jpg"
echo "not a photo" > "$bad/readme.txt"
ln -s no_such_photo.jpg "$bad/dangling.jpg"
set +e
"$likeness" index --library "$work/D" "$bad" --json > "$work/d.json" 2> "$work/d.err"
status=$?
set -e
[ "$status" -eq 0 ] || { cat "$work/d.err"; fail "index of bad files exited $status, expected 0"; }
/usr/bin/python3 - "$work/d.json" <<'PY' || fail "bad files summary"
import json, sys
s = json.load(open(sys.argv[1]))
want = {"empty": 1, "not_an_image": 2, "truncated": 1, "not_found": 1}
assert s["errors_by_reason"] == want, s["errors_by_reason"]
assert s["failed"] == 5 and s["photos_new"] == 2 and s["other_files"] == 1, s
assert s["faces_added"] == 2 and not s["interrupted"], s
reasons = sorted(f["reason"] for f in s["failures"])
assert reasons == sorted(["empty", "not_an_image", "not_an_image", "truncated", "not_found"]), reasons
assert all(f["message"] for f in s["failures"]), s["failures"]
# The name that is not UTF-8 comes out with U+FFFD for its bad byte.
assert any(f["path"].endswith("bad\ufffd name.png") for f in s["failures"]), s["failures"]
PY
"$likeness" library check --library "$work/D" > /dev/null || fail "library check after bad files"
echo "library index: ok ($killed runs killed, $stale of them with the index behind the catalog;" \
  "check --repair: $(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["index_repair"])' "$work/repair.json"))"
