#!/usr/bin/env bash
# `likeness compare` on LFW pairs from pairs.txt that every good model gets
# right: same person -> same_person true, different people -> false, by the
# calibrated ensemble (probability above its threshold) and by one model. Then
# `--pairs` with a missing photo and a malformed line: error objects for those
# lines, the run continues, output in input order.
set -euo pipefail
source "$(dirname "$0")/common.bash" "$@"

"$likeness" models --json > "$work/models.json" 2>/dev/null || true
if ! /usr/bin/python3 - "$work/models.json" <<'PY'
import json, sys
need = {"ultraface_rfb320", "faceplugin_landmark_68", "dlib_landmarks_5", "faceplugin_feature",
        "dlib_resnet", "mobilefacenet", "faceres", "mobileface"}
try:
    status = {m["name"]: m["status"] for m in json.load(open(sys.argv[1]))["models"]}
except Exception:
    sys.exit(1)
sys.exit(0 if all(status.get(n) == "ok" for n in need) else 1)
PY
then echo "SKIP: recognition models not installed (scripts/setup.sh models)"; exit 77; fi

img() { printf '%s/%s/%s_%04d.jpg' "$lfw" "$1" "$1" "$2"; }

# name i j (same person), then name1 i name2 j (different people): pairs.txt fold 1.
same=("Akhmed_Zakayev 1 3" "Amber_Tamblyn 1 2" "Anders_Fogh_Rasmussen 1 3")
diff=("Abdel_Madi_Shabneh 1 Dean_Barker 1" "Abdul_Rahman 1 Portia_de_Rossi 1"
      "Abel_Pacheco 1 Jong_Thae_Hwa 2")

check() {  # file expected
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2] == "true"
assert "error" not in r, r
assert r["same_person"] is want, r
assert r["model"] == "ensemble", r["model"]
assert 0.0 <= r["probability"] <= 1.0 and (r["probability"] > r["threshold"]) is want, r
assert len(r["scores"]) >= 2, r["scores"]
for name, s in r["scores"].items():
    assert -1.0 <= s["similarity"] <= 1.0, (name, s)
    assert 0.0 <= s["probability"] <= 1.0, (name, s)
for face in ("quality_a", "quality_b"):
    assert 0.0 <= r[face]["overall"] <= 1.0, r[face]
PY
}

for line in "${same[@]}"; do
  read -r name i j <<< "$line"
  "$likeness" compare "$(img "$name" "$i")" "$(img "$name" "$j")" --json > "$work/r.json"
  check "$work/r.json" true || { echo "FAIL: $line should be the same person"; exit 1; }
done
for line in "${diff[@]}"; do
  read -r n1 i n2 j <<< "$line"
  "$likeness" compare "$(img "$n1" "$i")" "$(img "$n2" "$j")" --json > "$work/r.json"
  check "$work/r.json" false || { echo "FAIL: $line should be different people"; exit 1; }
done

# --pairs: six good lines, a missing photo (line 3) and a line without a tab (line 6).
{
  read -r name i j <<< "${same[0]}"; printf '%s\t%s\n' "$(img "$name" "$i")" "$(img "$name" "$j")"
  read -r n1 i n2 j <<< "${diff[0]}"; printf '%s\t%s\n' "$(img "$n1" "$i")" "$(img "$n2" "$j")"
  printf '%s\t%s\n' "$work/no_such_photo.jpg" "$(img Akhmed_Zakayev 1)"
  read -r name i j <<< "${same[1]}"; printf '%s\t%s\n' "$(img "$name" "$i")" "$(img "$name" "$j")"
  read -r n1 i n2 j <<< "${diff[1]}"; printf '%s\t%s\n' "$(img "$n1" "$i")" "$(img "$n2" "$j")"
  printf 'not a pair line\n'
  read -r name i j <<< "${same[2]}"; printf '%s\t%s\n' "$(img "$name" "$i")" "$(img "$name" "$j")"
  read -r n1 i n2 j <<< "${diff[2]}"; printf '%s\t%s\n' "$(img "$n1" "$i")" "$(img "$n2" "$j")"
} > "$work/pairs.tsv"
set +e
"$likeness" compare --pairs "$work/pairs.tsv" --json --model all > "$work/out.jsonl" 2> "$work/err.txt"
status=$?
set -e
if [ "$status" -ne 1 ]; then echo "FAIL: --pairs with bad lines exited $status, expected 1"; cat "$work/err.txt"; exit 1; fi
/usr/bin/python3 - "$work/out.jsonl" "$work/pairs.tsv" <<'PY'
import json, sys
out = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lines = open(sys.argv[2]).read().splitlines()
assert len(out) == 8, len(out)
want = [True, False, None, True, False, None, True, False]
for k, (r, w) in enumerate(zip(out, want)):
    if w is None:
        assert "error" in r, (k, r)
        continue
    a, b = lines[k].split("\t")
    assert (r["a"], r["b"]) == (a, b), (k, r["a"], a)  # input order kept
    assert "error" not in r, (k, r)
    assert r["same_person"] is w, (k, r)
    assert len(r["scores"]) >= 2, r["scores"].keys()
    assert 0.0 <= r["probability"] <= 1.0, r
assert out[2]["error"] == "not_found", out[2]
assert out[5]["error"] == "bad_line", out[5]
PY
# One model alone: its own calibrated threshold decides.
read -r name i j <<< "${same[0]}"
"$likeness" compare "$(img "$name" "$i")" "$(img "$name" "$j")" --model faceplugin_feature --json > "$work/one.json"
/usr/bin/python3 - "$work/one.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["model"] == "faceplugin_feature" and list(r["scores"]) == ["faceplugin_feature"], r
s = r["scores"]["faceplugin_feature"]
assert r["same_person"] is True and s["same_person"] is True and s["similarity"] > s["threshold"], r
PY
echo "compare lfw: ok"
