#!/usr/bin/env bash
# `likeness detect --json` on an LFW image and a group photo: valid JSON with
# the expected faces and their quality measures; an unreadable file is reported, the others still
# processed, and the exit code is 1. `--draw` writes pictures.
set -euo pipefail
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
lfw_image="$datasets/lfw/images/Aaron_Eckhart/Aaron_Eckhart_0001.jpg"
group_photo="$datasets/group_photos/facenet-pytorch_multiface.jpg"
if [ ! -f "$lfw_image" ] || [ ! -f "$group_photo" ]; then
  echo "SKIP: datasets absent under $datasets"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$likeness" detect --json "$lfw_image" "$group_photo" > "$work/out.json"
/usr/bin/python3 - "$work/out.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["failed"] == 0, report["failed"]
lfw, group = report["photos"]
assert lfw["ok"] and group["ok"]
def covers_centre(face, photo):
    x, y, w, h = face["box"]
    return x <= photo["width"] / 2 <= x + w and y <= photo["height"] / 2 <= y + h
assert any(covers_centre(f, lfw) for f in lfw["faces"]), lfw
assert len(group["faces"]) >= 6, len(group["faces"])
for face in lfw["faces"] + group["faces"]:
    assert 0.0 <= face["score"] <= 1.0
    assert len(face["landmarks"]) == 5
    (lx, ly), (rx, ry), nose, (mlx, mly), (mrx, mry) = face["landmarks"]
    assert lx < rx and max(ly, ry) < min(mly, mry), face
    assert face["backends"], face
    q = face["quality"]
    for key in ("overall", "sharpness", "contrast", "size", "pose", "exposure"):
        assert 0.0 <= q[key] <= 1.0, (key, q)
    # The default "full" formula: the classic mean times pose and exposure.
    assert q["formula"] == "full", q
    classic = (q["sharpness"] + q["contrast"] + q["size"]) / 3
    assert abs(q["overall"] - classic * q["pose"] * q["exposure"]) < 1e-5, q
    assert -90 <= q["yaw"] <= 90 and abs(q["roll"]) < 45, q
PY

# The classic baseline: overall is the mean of three, high above 0.6.
"$likeness" detect --json --quality-formula classic "$lfw_image" > "$work/classic.json"
/usr/bin/python3 - "$work/classic.json" <<'PY'
import json, sys
for face in json.load(open(sys.argv[1]))["photos"][0]["faces"]:
    q = face["quality"]
    assert q["formula"] == "classic", q
    assert abs(q["overall"] - (q["sharpness"] + q["contrast"] + q["size"]) / 3) < 1e-5, q
    assert q["high"] == (q["overall"] > 0.6), q
PY

# A missing file: error line, the other photo still processed, exit 1.
set +e
"$likeness" detect --json "$work/missing.jpg" "$lfw_image" > "$work/mixed.json" 2> "$work/err.txt"
status=$?
set -e
[ "$status" -eq 1 ] || { echo "FAIL: exit $status with a missing file, expected 1"; exit 1; }
grep -q "missing.jpg" "$work/err.txt" || { echo "FAIL: no error line"; cat "$work/err.txt"; exit 1; }
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["failed"] == 1
assert [p["ok"] for p in r["photos"]] == [False, True], r["photos"]
assert r["photos"][0]["error"] == "not_found"
' "$work/mixed.json"

# --draw with several photos into a directory.
mkdir "$work/drawn"
"$likeness" detect --draw "$work/drawn" "$lfw_image" "$group_photo" > /dev/null
[ -s "$work/drawn/Aaron_Eckhart_0001.detect.png" ] && [ -s "$work/drawn/facenet-pytorch_multiface.detect.png" ] ||
  { echo "FAIL: --draw wrote nothing"; ls "$work/drawn"; exit 1; }
echo "detect json: ok"
