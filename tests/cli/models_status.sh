#!/usr/bin/env bash
# `likeness models` shows every installed model as ok; a deleted or corrupted
# model makes `likeness models` and `likeness models verify` fail with the
# repair command, naming the file.
set -euo pipefail
likeness=$1
models_dir=${LIKENESS_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/likeness/models}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$likeness" models > "$work/ok.txt"
grep -q " ok " "$work/ok.txt"
if grep -Eq "missing|checksum mismatch" "$work/ok.txt"; then
  echo "FAIL: installed models are not all ok:"; cat "$work/ok.txt"; exit 1
fi

# A models directory of links to the real files, with one deleted and one corrupted.
mkdir "$work/models"
for file in "$models_dir"/*; do ln -s "$file" "$work/models/$(basename "$file")"; done
rm "$work/models/fr_feature.onnx"
rm "$work/models/fr_age.onnx"
cp "$models_dir/fr_age.onnx" "$work/models/fr_age.onnx"
printf '\x00' | dd of="$work/models/fr_age.onnx" bs=1 seek=1000 conv=notrunc status=none

for command in "models" "models verify"; do
  set +e
  # shellcheck disable=SC2086
  "$likeness" --models "$work/models" $command > "$work/out.txt" 2> "$work/err.txt"
  status=$?
  set -e
  if [ "$status" -ne 1 ]; then echo "FAIL: '$command' exited $status, expected 1"; exit 1; fi
  grep -Eq "faceplugin_feature +recognition +- +missing" "$work/out.txt" ||
    { echo "FAIL: '$command' does not show fr_feature missing"; cat "$work/out.txt"; exit 1; }
  grep -Eq "age_ssrnet .*checksum mismatch" "$work/out.txt" ||
    { echo "FAIL: '$command' does not show fr_age corrupt"; cat "$work/out.txt"; exit 1; }
  grep -q "scripts/setup.sh models" "$work/err.txt" ||
    { echo "FAIL: '$command' gives no repair hint"; cat "$work/err.txt"; exit 1; }
done
grep -q "$work/models/fr_age.onnx" "$work/out.txt" ||
  { echo "FAIL: verify does not name the corrupt file"; exit 1; }

# JSON form for scripts.
set +e
"$likeness" --models "$work/models" models --json > "$work/out.json" 2>/dev/null
set -e
/usr/bin/python3 - "$work/out.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
status = {m["name"]: m["status"] for m in report["models"]}
assert status["faceplugin_feature"] == "missing", status
assert status["age_ssrnet"] == "checksum mismatch", status
assert report["problems"] == 2, report["problems"]
PY
echo "models status: ok"
