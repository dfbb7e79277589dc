#!/usr/bin/env bash
# Creates (or reuses) the Python environment for this checkout's pyproject.toml and prints its path.
# The environment lives outside the checkout, keyed by the pyproject hash, so a fresh clone
# reuses it; the project's own code is put on the path by pytest/Makefile, not installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}
hash=$(sha256sum "$root/pyproject.toml" | cut -c1-12)
venv=$cache/venvs/$hash
if [[ ! -f $venv/.ready ]]; then
  echo "ensure-venv: creating $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" - "$root/pyproject.toml" >"$venv/requirements.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["dev"]))
PY
  "$venv/bin/pip" install -q -r "$venv/requirements.txt" >&2
  touch "$venv/.ready"
fi
echo "$venv"
