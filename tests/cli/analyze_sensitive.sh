#!/usr/bin/env bash
# The sensitive attribute (ethnicity, GDPR Art. 9) is opt-in:
#  - `analyze` and `index` without --sensitive-attributes compute and store
#    nothing of it (no "sensitive" key, the model not loaded, no notice);
#  - with it, `analyze --json` has a separate "sensitive" key with the model's
#    five categories as probabilities, and a one-line notice goes to stderr;
#  - the flag's help names GDPR Art. 9 and says why it is off by default;
#  - `people show --attributes` never aggregates it, even from a library
#    indexed with the flag;
#  - it cannot be combined with --no-analytics.
set -euo pipefail
source "$(dirname "$0")/common.bash" "$@"
photo="$lfw/Colin_Powell/Colin_Powell_0001.jpg"
five_celeb="$datasets/five_celeb"
if [ ! -f "$photo" ] || [ ! -d "$five_celeb/madonna" ]; then
  echo "SKIP: datasets absent under $datasets"; exit 77
fi

# Help: both commands name GDPR Art. 9 and say why the flag is off by default.
for command in analyze index; do
  "$likeness" "$command" --help > "$work/help_$command.txt"
  tr '\n' ' ' < "$work/help_$command.txt" | tr -s ' ' > "$work/help_flat.txt"
  grep -q -- "--sensitive-attributes" "$work/help_flat.txt" || { cat "$work/help_$command.txt"; exit 1; }
  grep -q "GDPR Art. 9" "$work/help_flat.txt" || { cat "$work/help_$command.txt"; exit 1; }
  grep -q "off by default because" "$work/help_flat.txt" || { cat "$work/help_$command.txt"; exit 1; }
done

"$likeness" analyze --json "$photo" > "$work/off.json" 2> "$work/off.err"
"$likeness" analyze --json --sensitive-attributes "$photo" > "$work/on.json" 2> "$work/on.err"
if grep -q "GDPR" "$work/off.err"; then echo "notice printed without the flag"; exit 1; fi
[ "$(grep -c "GDPR Art. 9" "$work/on.err")" -eq 1 ] || { cat "$work/on.err"; exit 1; }
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
off = json.load(open(f"{work}/off.json"))
on = json.load(open(f"{work}/on.json"))
assert "ethnicity_gear" not in off["attribute_models"], off
assert on["attribute_models"] == off["attribute_models"] + ["ethnicity_gear"], on
labels = {"white", "black", "asian", "indian", "others"}
for face in off["photos"][0]["faces"]:
    a = face["attributes"]
    assert "sensitive" not in a, a
    assert not any(label in json.dumps(a) for label in labels), a
faces = on["photos"][0]["faces"]
assert faces, on
for face in faces:
    a = face["attributes"]
    assert set(a) == {"age", "gender", "emotion", "model", "sensitive"}, a
    assert "ethnicity" not in a["model"], a
    s = a["sensitive"]
    assert set(s) == {"ethnicity", "model"} and s["model"] == "ethnicity_gear", s
    p = s["ethnicity"]["probabilities"]
    assert set(p) == labels, p
    assert abs(sum(p.values()) - 1.0) < 0.01, p
    assert all(0.0 <= v <= 1.0 for v in p.values()), p
    assert s["ethnicity"]["label"] == max(p, key=p.get), s
    # The descriptive attributes are the same with or without the flag.
PY
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
off = json.load(open(f"{work}/off.json"))["photos"][0]["faces"]
on = json.load(open(f"{work}/on.json"))["photos"][0]["faces"]
assert len(off) == len(on)
for a, b in zip(off, on):
    b = dict(b["attributes"]); b.pop("sensitive")
    assert a["attributes"] == b, (a, b)
PY

# Text output shows it apart, as the model's category.
"$likeness" analyze --sensitive-attributes "$photo" > "$work/on.txt" 2> /dev/null
grep -q 'sensitive: ethnicity model category "[a-z]*" [01]\.[0-9]*' "$work/on.txt" || { cat "$work/on.txt"; exit 1; }
"$likeness" analyze "$photo" > "$work/off.txt"
if grep -q "sensitive" "$work/off.txt"; then cat "$work/off.txt"; exit 1; fi

# Index with the flag: people summaries never aggregate it.
"$likeness" index --library "$work/lib" --sensitive-attributes --quiet "$five_celeb/madonna" \
  2> "$work/index.err"
grep -q "GDPR Art. 9" "$work/index.err" || { cat "$work/index.err"; exit 1; }
"$likeness" people cluster --library "$work/lib" > /dev/null
"$likeness" people show 1 --library "$work/lib" --attributes --json > "$work/person.json"
"$likeness" people show 1 --library "$work/lib" --attributes > "$work/person.txt"
/usr/bin/python3 - "$work/person.json" <<'PY'
import json, sys
person = json.load(open(sys.argv[1]))
a = person["attributes"]
assert a["faces_with_attributes"] > 0, a
text = json.dumps(a)
for word in ("sensitive", "ethnicity", "white", "black", "asian", "indian", "others"):
    assert word not in text, (word, a)
PY
if grep -qiE "sensitive|ethnicity" "$work/person.txt"; then cat "$work/person.txt"; exit 1; fi

# It needs the analytics it belongs to.
if "$likeness" index --library "$work/lib2" --sensitive-attributes --no-analytics --quiet \
  "$five_celeb/madonna" 2> "$work/excl.err"; then
  echo "--sensitive-attributes accepted with --no-analytics"; exit 1
fi
grep -q "no-analytics" "$work/excl.err" || { cat "$work/excl.err"; exit 1; }
echo OK
