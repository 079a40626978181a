# Sourced by the CLI tests (tests/cli/*.sh; this file is not a test itself):
#   source "$(dirname "$0")/common.bash" "$@"
# sets `likeness` (the binary, the script's first argument), `datasets`, `lfw`
# and a `work` folder removed on exit, and defines fail, require_models and
# person_holding_only.
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
lfw=$datasets/lfw/images
if [ ! -d "$lfw" ]; then echo "SKIP: $lfw is absent (needs ../shared/datasets)"; exit 77; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# Skips (exit 77) unless the models a library run needs are installed.
require_models() {
  if "$likeness" models verify > /dev/null 2>&1; then return 0; fi
  "$likeness" models --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = {m["name"]: m["status"] for m in json.load(sys.stdin)["models"]}
sys.exit(0 if all(s.get(n) == "ok" for n in ("ultraface_rfb320", "faceplugin_landmark_68", "faceplugin_feature")) else 1)' ||
    { echo "SKIP: models not installed (scripts/setup.sh models)"; exit 77; }
}

# The id of a person of library $1 all of whose faces (rejections aside) are
# in photos whose path contains $2, with at least $3 of them (exactly $3 when
# $4 is "exactly"); nothing when there is none. Reads the catalog read-only.
person_holding_only() {
  "$likeness" people list --library "$1" --json | /usr/bin/python3 -c '
import json, sqlite3, sys
library, needle, count, exact = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "exactly"
db = sqlite3.connect("file:" + library + "/catalog.sqlite?mode=ro", uri=True)
for p in json.load(sys.stdin)["people"]:
    paths = [r[0] for r in db.execute(
        "SELECT ph.path FROM face_person l JOIN faces f ON f.id = l.face_id "
        "JOIN photos ph ON ph.id = f.photo_id WHERE l.person_id = ? AND l.origin != \"rejected\"",
        (p["id"],))]
    if paths and all(needle in x for x in paths) and (len(paths) == count if exact else len(paths) >= count):
        print(p["id"])
        break' "$1" "$2" "$3" "${4:-}"
}
