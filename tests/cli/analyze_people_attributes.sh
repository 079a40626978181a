#!/usr/bin/env bash
# `likeness index` stores attributes with every face unless --no-analytics;
# `people show --attributes` summarises them per person (median estimated
# age, most frequent expression); without --attributes the output is as before.
set -euo pipefail
source "$(dirname "$0")/common.bash" "$@"
five_celeb="$datasets/five_celeb"
if [ ! -d "$five_celeb/jerry_seinfeld" ] || [ ! -d "$five_celeb/madonna" ]; then
  echo "SKIP: datasets absent under $datasets"; exit 77
fi

for mode in on off; do
  flag=""
  [ "$mode" = off ] && flag="--no-analytics"
  "$likeness" index --library "$work/lib_$mode" $flag --quiet \
    "$five_celeb/jerry_seinfeld" "$five_celeb/madonna"
  "$likeness" people cluster --library "$work/lib_$mode" > /dev/null
  "$likeness" people show 1 --library "$work/lib_$mode" --attributes --json > "$work/$mode.json"
  "$likeness" people show 1 --library "$work/lib_$mode" --json > "$work/${mode}_plain.json"
done
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
on = json.load(open(f"{work}/on.json"))
off = json.load(open(f"{work}/off.json"))
a = on["attributes"]
assert a["faces"] == len(on["faces"]) >= 5, a
assert a["faces_with_attributes"] == a["faces"], a
assert 15 < a["median_age"] < 90, a
assert a["most_frequent_expression"] in a["expression_counts"], a
assert sum(a["expression_counts"].values()) == a["faces"], a
# five_celeb photos carry no capture date: no age progression to show.
assert a["age_by_year"] == [] and a["age_change_per_year"] is None, a
b = off["attributes"]
assert b["faces_with_attributes"] == 0 and b["median_age"] is None, b
assert b["most_frequent_expression"] is None and b["expression_counts"] == {}, b
for mode in ("on", "off"):
    plain = json.load(open(f"{work}/{mode}_plain.json"))
    assert "attributes" not in plain, plain.keys()
PY
"$likeness" people show 1 --library "$work/lib_on" --attributes > "$work/on.txt"
grep -q "median estimated age [0-9]*" "$work/on.txt" || { cat "$work/on.txt"; exit 1; }
grep -q "most frequent expression: " "$work/on.txt" || { cat "$work/on.txt"; exit 1; }
echo OK
