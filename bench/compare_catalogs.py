#!/usr/bin/env python3
"""Compares the faces and vectors of two libraries indexed from the same photos.

    bench/compare_catalogs.py LIBRARY_A LIBRARY_B [--min-cosine 0.9999]

For checking that a speed change did not change results: index one photo set
twice (e.g. `bench/index_throughput.sh --keep-library --build build` and again
with the changed build) and compare. Faces are matched by photo (file name)
and box; every model's vector (members and "fused") is compared by cosine.
Prints a JSON summary; exits 1 when a face is missing on either side or a
cosine is below --min-cosine, 2 on bad arguments. Unencrypted libraries only.
"""
import argparse
import json
import math
import os
import sqlite3
import struct
import sys


def load(library):
    path = os.path.join(library, "catalog.sqlite")
    if not os.path.isfile(path):
        sys.exit(f"compare_catalogs: no catalog at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    faces = {}
    rows = db.execute(
        "SELECT f.id, p.path, f.box_x, f.box_y, f.box_w, f.box_h, f.q_overall, f.attributes "
        "FROM faces f JOIN photos p ON p.id = f.photo_id")
    for face_id, photo, x, y, w, h, quality, attributes in rows:
        faces[face_id] = {"photo": os.path.basename(photo), "box": (x, y, w, h),
                          "quality": quality, "attributes": attributes, "vectors": {}}
    for face_id, model, data in db.execute("SELECT face_id, model, data FROM vectors"):
        if face_id in faces:
            faces[face_id]["vectors"][model] = struct.unpack(f"<{len(data) // 4}f", data)
    photos = {}
    for face in faces.values():
        photos.setdefault(face["photo"], []).append(face)
    return photos


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--min-cosine", type=float, default=0.9999)
    args = parser.parse_args()
    a, b = load(args.a), load(args.b)
    unmatched = []
    worst = {}
    max_box_shift = 0.0
    max_quality_change = 0.0
    attributes_differ = 0
    matched = 0
    for photo in sorted(set(a) | set(b)):
        left = list(a.get(photo, []))
        right = list(b.get(photo, []))
        for face in left:
            best = max(right, key=lambda r: iou(face["box"], r["box"]), default=None)
            if best is None or iou(face["box"], best["box"]) < 0.9:
                unmatched.append({"photo": photo, "box": face["box"], "only_in": args.a})
                continue
            right.remove(best)
            matched += 1
            max_box_shift = max(max_box_shift,
                                max(abs(p - q) for p, q in zip(face["box"], best["box"])))
            max_quality_change = max(max_quality_change, abs(face["quality"] - best["quality"]))
            attributes_differ += face["attributes"] != best["attributes"]
            for model in set(face["vectors"]) | set(best["vectors"]):
                if model not in face["vectors"] or model not in best["vectors"]:
                    unmatched.append({"photo": photo, "box": face["box"], "model": model})
                    continue
                c = cosine(face["vectors"][model], best["vectors"][model])
                if model not in worst or c < worst[model]["cosine"]:
                    worst[model] = {"cosine": c, "photo": photo}
        for face in right:
            unmatched.append({"photo": photo, "box": face["box"], "only_in": args.b})
    ok = not unmatched and all(w["cosine"] >= args.min_cosine for w in worst.values())
    print(json.dumps({
        "faces_a": sum(len(v) for v in a.values()),
        "faces_b": sum(len(v) for v in b.values()),
        "matched": matched,
        "unmatched": unmatched,
        "min_cosine_by_model": worst,
        "max_box_difference_px": max_box_shift,
        "max_quality_difference": max_quality_change,
        "faces_with_different_attributes": attributes_differ,
        "min_cosine_required": args.min_cosine,
        "ok": ok,
    }, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
