#!/usr/bin/env bash
# `likeness index` over a folder of bad inputs mixed with good photos (the
# corpus of tests/support/bad_inputs.h, written by likeness_test_corpus, which
# the build puts beside the likeness binary):
#  - the run exits 0 (bad files are results, not errors; only a stopped run
#    exits otherwise, 130), well within the time box, its --json is valid JSON
#    (names that are not UTF-8 come out with U+FFFD), every bad file is
#    counted and listed with its own reason, every good photo is indexed with
#    its face (read from the catalog, byte-exact names);
#  - a second run, in text, re-processes nothing (only the unreadable file is
#    retried, by design) and says so; its errors are listed;
#  - a symlink loop given as the folder is a usage error (exit 1), not a crash;
#  - `likeness library check` passes.
# As root the runs are made without the capabilities that let root read any
# file (setpriv), so that the chmod 000 file is unreadable as it is to a user.
set -euo pipefail
likeness=$1
corpus_tool=$(dirname "$likeness")/likeness_test_corpus
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$corpus_tool" ] || fail "$corpus_tool is missing (built with the tests: cmake --build)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

set +e
"$corpus_tool" "$work/photos" > "$work/manifest.tsv" 2> "$work/corpus.err"
status=$?
set -e
if [ "$status" -eq 77 ]; then echo "SKIP: $(cat "$work/corpus.err") (needs ../shared/datasets)"; exit 77; fi
[ "$status" -eq 0 ] || { cat "$work/corpus.err"; fail "likeness_test_corpus exited $status"; }
unreadable=$(sed -n 's/^unreadable\t//p' "$work/manifest.tsv")

# Runs a command as a user would: as root, without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH (dropped from the bounding set before exec).
as_user=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
  as_user=(setpriv --bounding-set=-dac_override,-dac_read_search)
fi
if "${as_user[@]}" cat "$unreadable" > /dev/null 2>&1; then
  echo "NOTE: $unreadable stays readable here (root without setpriv?): the unreadable-file" \
    "case is not tested in this run"
  chmod 644 "$unreadable"
  sed -i 's/^file\tunreadable\t/file\tok\t/' "$work/manifest.tsv"
fi

# First run, JSON. `timeout`: a run that hangs (a FIFO read, a symlink loop
# walked forever) fails the test instead of blocking it.
start=$(date +%s.%N)
set +e
"${as_user[@]}" timeout 120 "$likeness" index --library "$work/lib" "$work/photos" --json \
  > "$work/first.json" 2> "$work/first.err"
status=$?
set -e
seconds=$(/usr/bin/python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" \
  "$start" "$(date +%s.%N)")
if [ "$status" -ne 0 ] && grep -q "setup.sh models" "$work/first.err"; then
  echo "SKIP: models not installed: $(cat "$work/first.err")"; exit 77
fi
[ "$status" -eq 0 ] || { cat "$work/first.err"; fail "index exited $status, expected 0"; }

# Every file as the catalog has it: path bytes (hex) -> status, error, faces.
/usr/bin/python3 - "$work/lib/catalog.sqlite" > "$work/catalog.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
db.text_factory = bytes  # paths are bytes, not always UTF-8
rows = db.execute("SELECT p.path, p.status, p.error, COUNT(f.id) FROM photos p "
                  "LEFT JOIN faces f ON f.photo_id = p.id GROUP BY p.id").fetchall()
print(json.dumps({bytes(path).hex(): [bytes(status).decode(), bytes(error or b"").decode("utf-8", "replace"), n]
                  for path, status, error, n in rows}))
PY

/usr/bin/python3 - "$work/manifest.tsv" "$work/first.json" "$work/catalog.json" "$seconds" <<'PY' || exit 1
import collections, json, sys
manifest_file, summary_file, catalog_file, seconds = sys.argv[1:5]
problems = []
files, other_files = [], None
with open(manifest_file, "rb") as f:
    for line in f.read().split(b"\n"):
        fields = line.split(b"\t")
        if fields[0] == b"file":
            files.append((fields[1].decode(), fields[2].decode(), fields[3]))
        elif fields[0] == b"other_files":
            other_files = int(fields[1])
try:
    s = json.load(open(summary_file, encoding="utf-8"))
except ValueError as e:
    print("FAIL: index --json is not valid JSON: %s" % e); sys.exit(1)
catalog = json.load(open(catalog_file))
good = [f for f in files if f[0] == "ok"]
bad = [f for f in files if f[0] != "ok"]
want_reasons = collections.Counter(reason for reason, _, _ in bad)
failures = {f["path"]: f for f in s["failures"]}
for reason, what, path in files:
    shown = path.decode("utf-8", "replace")  # as --json prints it
    row = catalog.get(path.hex())
    if row is None:
        problems.append("%s: %r is not in the catalog" % (what, path)); continue
    status, error, faces = row
    if reason == "ok":
        if status != "indexed" or faces != 1 or shown in failures:
            problems.append("%s: want indexed with 1 face, catalog has %s, %d faces, %r"
                            % (what, status, faces, error))
    else:
        listed = failures.get(shown)
        if (status != "failed" or not error.startswith(reason + ": ") or faces != 0 or
                listed is None or listed["reason"] != reason or not listed["message"]):
            problems.append("%s: want failed as %s; catalog has %s %r (%d faces); summary lists %s"
                            % (what, reason, status, error, faces, listed))
if len(catalog) != len(files):
    problems.append("catalog holds %d photos, corpus has %d" % (len(catalog), len(files)))
checks = [("errors_by_reason", s["errors_by_reason"], dict(want_reasons)),
          ("files_found", s["files_found"], len(files)),
          ("photos_new", s["photos_new"], len(good)),
          ("faces_added", s["faces_added"], len(good)),
          ("failed", s["failed"], len(bad)),
          ("other_files", s["other_files"], other_files),
          ("interrupted", s["interrupted"], False),
          ("library_faces", s["library_faces"], len(good))]
problems += ["%s is %s, want %s" % (k, got, want) for k, got, want in checks if got != want]
if float(seconds) >= 30:
    problems.append("the run took %s s" % seconds)
if problems:
    print("FAIL: first run:\n  " + "\n  ".join(problems)); sys.exit(1)
print("first run: %d good photos indexed with their face, %d bad files with their reason %s, %s s"
      % (len(good), len(bad), dict(sorted(want_reasons.items())), seconds))
PY

# Second run, as text: nothing re-processed, nothing duplicated.
set +e
"${as_user[@]}" timeout 120 "$likeness" index --library "$work/lib" "$work/photos" \
  > "$work/second.txt" 2> "$work/second.err"
status=$?
set -e
[ "$status" -eq 0 ] || { cat "$work/second.err"; fail "second index exited $status, expected 0"; }
total=$(grep -c '^file' "$work/manifest.tsv")
retried=$(grep -c '^file	unreadable' "$work/manifest.tsv" || true)
good=$(grep -c '^file	ok' "$work/manifest.tsv")
grep -q "indexed 0 photos (0 new, 0 changed), 0 faces" "$work/second.txt" ||
  { cat "$work/second.txt"; fail "the second run indexed something"; }
grep -q "^Skipped $((total - retried)) unchanged, ignored 1 file that is not a photo\.$" \
  "$work/second.txt" || { cat "$work/second.txt"; fail "the second run did not skip $((total - retried)) files"; }
if [ "$retried" -gt 0 ]; then
  grep -q "^Errors: unreadable $retried$" "$work/second.txt" &&
    grep -qF "  $unreadable: " "$work/second.txt" ||
    { cat "$work/second.txt"; fail "the second run's errors"; }
fi
grep -q "^Library $work/lib: $good photos, $good faces\.$" "$work/second.txt" ||
  { cat "$work/second.txt"; fail "the library after the second run"; }

# A symlink loop given as the folder itself: a usage error (exit 1 and a
# message), not a crash.
set +e
"$likeness" index --library "$work/lib" "$work/photos/loop_a.jpg" > /dev/null 2> "$work/loop.err"
status=$?
set -e
{ [ "$status" -eq 1 ] && grep -q "no such folder or photo: .*symbolic links" "$work/loop.err"; } ||
  { cat "$work/loop.err"; fail "index of a symlink loop exited $status, expected 1 and a message"; }

"$likeness" library check --library "$work/lib" --json > "$work/check.json" ||
  { cat "$work/check.json"; fail "library check exited $?"; }
/usr/bin/python3 - "$work/check.json" "$good" <<'PY' || fail "library check"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["ok"] and c["index_entries"] == c["catalog_vectors"] == int(sys.argv[2]), c
PY
echo "index bad inputs: ok"
