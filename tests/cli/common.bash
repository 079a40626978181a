# Sourced by the CLI tests (tests/cli/*.sh; this file is not a test itself):
#   source "$(dirname "$0")/common.bash" "$@"
# sets `likeness` (the binary, the script's first argument), `datasets`, `lfw`
# and a `work` folder removed on exit, and defines fail and require_models.
likeness=$1
datasets=${LIKENESS_DATASETS_DIR:-$(dirname "$0")/../../../shared/datasets}
lfw=$datasets/lfw/images
if [ ! -d "$lfw" ]; then echo "SKIP: $lfw is absent (needs ../shared/datasets)"; exit 77; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# Skips (exit 77) unless the models a library run needs are installed.
require_models() {
  if "$likeness" models verify > /dev/null 2>&1; then return 0; fi
  "$likeness" models --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = {m["name"]: m["status"] for m in json.load(sys.stdin)["models"]}
sys.exit(0 if all(s.get(n) == "ok" for n in ("ultraface_rfb320", "faceplugin_landmark_68", "faceplugin_feature")) else 1)' ||
    { echo "SKIP: models not installed (scripts/setup.sh models)"; exit 77; }
}
