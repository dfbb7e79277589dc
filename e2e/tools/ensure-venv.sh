#!/usr/bin/env bash
# Creates (or reuses) the Python environment for this checkout's pyproject.toml and prints its path.
# The environment lives outside the checkout, keyed by the hash of the dependency list, so a fresh
# clone reuses it; the project's own code is put on the path by pytest/Makefile, not installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}
requirements=$(python3 - "$root/pyproject.toml" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["dev"]))
PY
)
hash=$(printf '%s\n%s\n' "$(python3 --version)" "$requirements" | sha256sum | cut -c1-12)
venv=$cache/venvs/$hash
mkdir -p "$cache/venvs"
exec 9>"$cache/venvs/.lock"
flock 9  # two make targets started at once must not build the same environment twice
if [[ ! -f $venv/.ready ]]; then
  echo "ensure-venv: creating $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  printf '%s\n' "$requirements" >"$venv/requirements.txt"
  "$venv/bin/pip" install -q -r "$venv/requirements.txt" >&2
  touch "$venv/.ready"
fi
echo "$venv"
