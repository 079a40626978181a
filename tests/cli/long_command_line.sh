#!/usr/bin/env bash
# Regression: ONNX Runtime's environment start-up recurses over the process's
# command line, and used to overflow the stack when a shell glob passed a few
# hundred photos (`likeness detect *.jpg`). 800 paths of ~70 bytes each.
set -euo pipefail
likeness=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/a-photo-with-a-rather-long-name-like-cameras-write-them-0001.png" <<'PY'
import struct, sys, zlib
width = height = 16
raw = b"".join(b"\x00" + bytes([200, 180, 160]) * width for _ in range(height))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
photo="$work/a-photo-with-a-rather-long-name-like-cameras-write-them-0001.png"
args=()
for _ in $(seq 1 800); do args+=("$photo"); done
"$likeness" detect --no-landmarks "${args[@]}" > "$work/out.txt"
lines=$(grep -c "0 face(s)" "$work/out.txt")
if [ "$lines" -ne 800 ]; then echo "FAIL: expected 800 result lines, got $lines"; exit 1; fi
echo "long command line: ok"
