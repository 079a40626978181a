#!/usr/bin/env bash
# `likeness analyze --json` on LFW photos checked by eye (a clear open smile, a
# relaxed neutral face): every face has age (with a range), gender (label and
# probability) and 7 expression probabilities; the smiling face is "happy" and
# happier than the neutral one; an unreadable file is reported and the exit
# code is 1. Text output names the attributes and the quality.
set -euo pipefail
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
smiling="$datasets/lfw/images/Cameron_Diaz/Cameron_Diaz_0001.jpg"
neutral="$datasets/lfw/images/Vladimir_Putin/Vladimir_Putin_0007.jpg"
if [ ! -f "$smiling" ] || [ ! -f "$neutral" ]; then
  echo "SKIP: datasets absent under $datasets"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$likeness" analyze --json "$smiling" "$neutral" > "$work/out.json"
/usr/bin/python3 - "$work/out.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["failed"] == 0, report
assert report["attribute_models"] == ["age_ssrnet", "gender_ssrnet", "emotion_minixception"], report
smiling, neutral = report["photos"]
labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
def centre_face(photo):
    def distance(face):
        x, y, w, h = face["box"]
        return abs(x + w / 2 - photo["width"] / 2) + abs(y + h / 2 - photo["height"] / 2)
    return min(photo["faces"], key=distance)
for photo in (smiling, neutral):
    assert photo["ok"] and photo["faces"], photo
    for face in photo["faces"]:
        a = face["attributes"]
        assert set(a) == {"age", "gender", "emotion", "model"}, a
        age = a["age"]
        assert 0 < age["years"] < 101 and age["low"] < age["years"] < age["high"], age
        assert a["gender"]["label"] in ("female", "male"), a
        assert 0.5 <= a["gender"]["probability"] <= 1.0, a
        p = a["emotion"]["probabilities"]
        assert sorted(p) == sorted(labels), p
        assert abs(sum(p.values()) - 1.0) < 0.01, p
        assert a["emotion"]["label"] == max(p, key=p.get), a
        assert 0.0 <= face["quality"]["overall"] <= 1.0, face
happy, calm = centre_face(smiling)["attributes"], centre_face(neutral)["attributes"]
assert happy["emotion"]["label"] == "happy", happy
assert happy["emotion"]["probabilities"]["happy"] > calm["emotion"]["probabilities"]["happy"], (happy, calm)
assert calm["emotion"]["probabilities"]["neutral"] > calm["emotion"]["probabilities"]["happy"], calm
PY

# Text output: one line per face with the attributes and the quality.
"$likeness" analyze "$smiling" > "$work/out.txt"
grep -q "age [0-9]* ([0-9]*-[0-9]*), \(female\|male\) 0\.[0-9]*, happy" "$work/out.txt" || { cat "$work/out.txt"; exit 1; }
grep -q "quality 0\.[0-9]*" "$work/out.txt" || { cat "$work/out.txt"; exit 1; }

# An unreadable file is reported, the other photo still analysed, exit code 1.
echo "not a photo" > "$work/broken.jpg"
set +e
"$likeness" analyze --json "$work/broken.jpg" "$smiling" > "$work/mixed.json" 2> "$work/err.txt"
status=$?
set -e
[ "$status" -eq 1 ] || { echo "expected exit 1, got $status"; exit 1; }
/usr/bin/python3 - "$work/mixed.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["failed"] == 1, report
broken, good = report["photos"]
assert not broken["ok"] and good["ok"] and good["faces"], report
PY

# An unknown model is a usage error naming the known ones.
if "$likeness" analyze --emotion-model nonsense "$smiling" 2> "$work/err2.txt"; then
  echo "unknown model accepted"; exit 1
fi
grep -q "emotion_minixception" "$work/err2.txt" || { cat "$work/err2.txt"; exit 1; }
echo OK
