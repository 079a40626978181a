#!/usr/bin/env bash
# An encrypted library end to end, through the real CLI, on LFW photos:
#  - `library init --encrypt` with --passphrase-file creates it;
#  - index, people cluster, search and export work with the passphrase (file
#    or LIKENESS_PASSPHRASE), and `library check` passes;
#  - without the passphrase a command fails with a message naming
#    --passphrase-file; with a wrong one it says "wrong passphrase";
#  - no file in the library folder shows a photo path, a person's name or
#    SQLite's header, and the vector index is saved only sealed;
#  - `library encrypt` converts an unencrypted library; the same holds after;
#  - the key file records the authenticated format, and `library upgrade` has
#    nothing to do on such a library;
#  - one flipped bit in the middle of the catalog makes `library check` fail
#    with "failed authentication", naming the file; `people list` and `search`
#    either fail the same way or answer exactly as before the change.
set -euo pipefail
source "$(dirname "$0")/common.bash" "$@"
require_models
unset LIKENESS_PASSPHRASE

photos=$work/photos_MARKERDIR
mkdir -p "$photos"
for name in Colin_Powell Tony_Blair; do
  for i in 1 2 3; do cp "$(printf '%s/%s/%s_%04d.jpg' "$lfw" "$name" "$name" "$i")" "$photos/"; done
done
printf 'a long passphrase\n' > "$work/pass"

# No file of the library may show these.
check_unreadable() {
  local library=$1
  [ ! -e "$library/faces.hnsw" ] || fail "an encrypted library saved its vector index unencrypted"
  [ -e "$library/faces.hnsw.sealed" ] || fail "no sealed vector index in $library"
  for needle in photos_MARKERDIR Colin_Powell Ada_MARKER "SQLite format 3" "CREATE TABLE"; do
    if grep -rlaF -- "$needle" "$library" > "$work/found"; then
      fail "'$needle' is readable in: $(cat "$work/found")"
    fi
  done
}

library=$work/library
"$likeness" library init --encrypt --library "$library" --passphrase-file "$work/pass" 2> "$work/init.err"
grep -q "no recovery" "$work/init.err" || fail "init --encrypt did not warn that a lost passphrase is final"
"$likeness" index --quiet --library "$library" --passphrase-file "$work/pass" "$photos"
"$likeness" library info --json --library "$library" --passphrase-file "$work/pass" > "$work/info.json"
/usr/bin/python3 - "$work/info.json" <<'PY' || fail "library info after indexing: $(cat "$work/info.json")"
import json, sys
info = json.load(open(sys.argv[1]))
assert info["encrypted"] is True, info
assert info["faces"] == 6, info
PY
export LIKENESS_PASSPHRASE='a long passphrase'
"$likeness" people cluster --library "$library" > /dev/null
"$likeness" people list --library "$library" --json > "$work/people.json"
person=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["people"][0]["id"])' "$work/people.json")
"$likeness" people name --library "$library" "$person" Ada_MARKER > /dev/null
"$likeness" search --library "$library" --json "$lfw/Tony_Blair/Tony_Blair_0004.jpg" > "$work/search.json"
/usr/bin/python3 - "$work/search.json" <<'PY' || fail "search in the encrypted library: $(head -c 600 "$work/search.json")"
import json, sys
results = json.load(open(sys.argv[1]))["results"]
assert results and "Tony_Blair" in results[0]["path"], results[:1]
PY
"$likeness" library check --library "$library" > "$work/check.txt" || fail "library check: $(cat "$work/check.txt")"
unset LIKENESS_PASSPHRASE
check_unreadable "$library"

# Without, and with a wrong, passphrase.
if "$likeness" people list --library "$library" < /dev/null > "$work/out" 2> "$work/err"; then
  fail "people list ran without the passphrase"
fi
grep -q -- "--passphrase-file" "$work/err" || fail "no hint about --passphrase-file: $(cat "$work/err")"
if LIKENESS_PASSPHRASE=wrong "$likeness" people list --library "$library" > "$work/out" 2> "$work/err"; then
  fail "people list ran with a wrong passphrase"
fi
grep -q "wrong passphrase" "$work/err" || fail "no 'wrong passphrase' message: $(cat "$work/err")"

# Converting an unencrypted library.
plain=$work/plain
"$likeness" index --quiet --library "$plain" "$photos"
"$likeness" people cluster --library "$plain" > /dev/null
grep -rqaF photos_MARKERDIR "$plain" || fail "the unencrypted catalog shows no path (the scan proves nothing)"
"$likeness" library encrypt --library "$plain" --passphrase-file "$work/pass" > "$work/encrypt.txt" 2>&1 ||
  fail "library encrypt: $(cat "$work/encrypt.txt")"
[ ! -e "$plain/faces.hnsw" ] || fail "library encrypt left the unencrypted index"
"$likeness" search --library "$plain" --passphrase-file "$work/pass" --json \
  "$lfw/Colin_Powell/Colin_Powell_0004.jpg" > "$work/search2.json"
/usr/bin/python3 - "$work/search2.json" <<'PY' || fail "search after library encrypt: $(head -c 600 "$work/search2.json")"
import json, sys
results = json.load(open(sys.argv[1]))["results"]
assert results and "Colin_Powell" in results[0]["path"], results[:1]
PY
check_unreadable "$plain"
"$likeness" library check --library "$plain" --passphrase-file "$work/pass" > /dev/null || fail "library check after encrypt"

grep -q '"likeness-catalog-key-2"' "$library/catalog.key" || fail "the key file does not record format 2: $(cat "$library/catalog.key")"
"$likeness" library upgrade --library "$library" --passphrase-file "$work/pass" > "$work/upgrade.txt" ||
  fail "library upgrade on a current library: $(cat "$work/upgrade.txt")"
grep -q "nothing to do" "$work/upgrade.txt" || fail "library upgrade: $(cat "$work/upgrade.txt")"

# One flipped bit in the middle of the (closed) catalog: `library check`
# refuses it, naming the file; a command that reads the changed page fails
# the same way, one that does not answers exactly as before.
export LIKENESS_PASSPHRASE='a long passphrase'
"$likeness" people list --library "$library" --json > "$work/people_before.json"
"$likeness" search --library "$library" --json "$lfw/Tony_Blair/Tony_Blair_0004.jpg" > "$work/search_before.json"
[ ! -e "$library/catalog.sqlite-wal" ] || fail "the library was left open"
/usr/bin/python3 - "$library/catalog.sqlite" <<'PY'
import os, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0x10]))
PY
if "$likeness" library check --library "$library" > "$work/out" 2> "$work/err"; then
  fail "library check accepted a changed catalog: $(cat "$work/out")"
fi
grep -q "catalog.sqlite failed authentication at page" "$work/err" ||
  fail "library check did not report the change: $(cat "$work/err") $(cat "$work/out")"
for command in people search; do
  if [ "$command" = people ]; then
    args=(people list --library "$library" --json)
  else
    args=(search --library "$library" --json "$lfw/Tony_Blair/Tony_Blair_0004.jpg")
  fi
  if "$likeness" "${args[@]}" > "$work/after.json" 2> "$work/err"; then
    cmp -s "$work/after.json" "$work/${command}_before.json" ||
      fail "$command answered differently from a changed catalog: $(head -c 300 "$work/after.json")"
  else
    grep -q "catalog.sqlite failed authentication at page" "$work/err" ||
      fail "$command failed without naming the change: $(cat "$work/err")"
  fi
done
unset LIKENESS_PASSPHRASE
echo "PASS"
