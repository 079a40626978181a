#!/usr/bin/env bash
# No network, shown: the whole workflow (index, cluster, search, analyze,
# serve and query the API, erase, export) runs under strace, which records
# every connect() and sendto() of every process; the test fails on any
# address that is not loopback (or a local socket). Where unshare is allowed
# (root), the workflow also runs in a network namespace with loopback only,
# so that an attempt would fail as well as be seen. Set-up is excluded (it
# fetches the models once, by design).
set -euo pipefail
likeness=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
lfw=$datasets/lfw/images
if [ ! -d "$lfw" ]; then echo "SKIP: $lfw is absent (needs ../shared/datasets)"; exit 77; fi
if ! command -v strace > /dev/null; then echo "SKIP: strace is not installed (scripts/apt-packages.txt)"; exit 77; fi
if ! "$likeness" models verify > /dev/null 2>&1; then echo "SKIP: models not installed (scripts/setup.sh models)"; exit 77; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

photos=$work/photos
mkdir -p "$photos"
for name in Colin_Powell Tony_Blair; do
  for i in 1 2 3; do cp "$(printf '%s/%s/%s_%04d.jpg' "$lfw" "$name" "$name" "$i")" "$photos/"; done
done
query=$(printf '%s/Colin_Powell/Colin_Powell_%04d.jpg' "$lfw" 10)

cat > "$work/workflow.sh" <<WORKFLOW
set -euo pipefail
library=$work/library
"$likeness" index --quiet --library "\$library" "$photos"
"$likeness" people cluster --library "\$library" > /dev/null
"$likeness" search --library "\$library" "$query" --json > "$work/search.json"
"$likeness" analyze "$query" --json > /dev/null
"$likeness" serve --library "\$library" --port 0 > "$work/serve.log" 2>&1 &
server=\$!
for _ in \$(seq 100); do grep -q "http://" "$work/serve.log" && break; sleep 0.2; done
url=\$(grep -o "http://[^ ]*" "$work/serve.log" | head -1)
/usr/bin/python3 - "\$url" "$query" <<'PY'
import json, sys, urllib.request, uuid
url, query = sys.argv[1].rstrip("/"), sys.argv[2]
session = json.load(urllib.request.urlopen(url + "/api/session"))
token = session["token"]
boundary = uuid.uuid4().hex
body = (b"--" + boundary.encode() + b'\r\nContent-Disposition: form-data; name="photo"; filename="q.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + open(query, "rb").read() + b"\r\n--" + boundary.encode() + b"--\r\n")
req = urllib.request.Request(url + "/api/uploads", data=body, method="POST", headers={
    "Content-Type": "multipart/form-data; boundary=" + boundary, "X-Likeness-Token": token})
upload = json.load(urllib.request.urlopen(req))
req = urllib.request.Request(url + "/api/search", method="POST",
                             data=json.dumps({"upload_id": upload["upload_id"]}).encode(),
                             headers={"Content-Type": "application/json", "X-Likeness-Token": token})
found = json.load(urllib.request.urlopen(req))
assert found["results"] and "Colin_Powell" in found["results"][0]["path"], found
people = json.load(urllib.request.urlopen(url + "/api/people"))
assert people["total"] >= 1, people
urllib.request.urlopen(url + "/api/faces/%d/crop" % found["results"][0]["face_id"]).read()
PY
kill -INT \$server
wait \$server || true
"$likeness" export --library "\$library" --person 1 --out "$work/export" > /dev/null
"$likeness" erase --library "\$library" --like "$query" --yes > /dev/null
WORKFLOW

run=(bash "$work/workflow.sh")
if unshare -n true 2> /dev/null && command -v ip > /dev/null; then
  isolated=yes
  run=(unshare -n bash -c 'ip link set lo up && exec bash "$0"' "$work/workflow.sh")
else
  isolated=no
fi
strace -f -qq -e trace=connect,sendto,sendmsg -o "$work/trace" "${run[@]}"

/usr/bin/python3 - "$work/trace" "$work/search.json" <<'PY'
import json, re, sys
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
ADDRESS = re.compile(r'sa_family=AF_INET6?, [^}]*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')

def outside(line):
    """The non-loopback addresses a traced connect/sendto/sendmsg line names."""
    return [v4 or v6 for v4, v6 in ADDRESS.findall(line) if (v4 or v6) not in LOOPBACK]

# The detector itself: strace's own formats of an outside and a loopback call.
assert outside('123 connect(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("192.168.1.1")}, 16) = 0') == ["192.168.1.1"]
assert outside('123 connect(7, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2606:4700::1", &sin6_addr), sin6_scope_id=0}, 28) = -1') == ["2606:4700::1"]
assert outside('123 connect(7, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0') == []

calls = [l for l in open(sys.argv[1]) if re.search(r"\b(connect|sendto|sendmsg)\(", l)]
bad = [l.strip() for l in calls if outside(l)]
if bad:
    print("FAIL: non-loopback connections attempted:\n" + "\n".join(bad[:20]))
    sys.exit(1)
inet = sum("AF_INET" in l for l in calls)
# The trace saw the server being used (else the check proves little).
assert inet > 0, "no loopback connection traced: the API part of the workflow did not run under strace"
assert json.load(open(sys.argv[2]))["results"], "the CLI search found nothing"
print(f"{len(calls)} connect/send calls traced, {inet} of them to internet addresses, all loopback")
PY
echo "OK (network namespace: $isolated)"
