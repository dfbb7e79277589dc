#!/usr/bin/env bash
# kind runs its nodes as privileged containers. Where the host's capability bounding set
# lacks a capability Docker asks for (these machines miss CAP_SYS_RESOURCE), `docker run
# --privileged` fails with "unable to apply caps". Only then this script registers the
# runc-nosysres shim (cmd/runc-nosysres) as Docker's default runtime and reloads dockerd's
# configuration (SIGHUP: running containers are left alone), then checks again.
#
# Usage: ensure-privileged.sh PROBE_IMAGE
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND_LOG_PREFIX=privileged
probe_image=${1:?usage: ensure-privileged.sh PROBE_IMAGE}
RUNTIME_NAME=predictflow-nosysres
DAEMON_JSON=/etc/docker/daemon.json

privileged_run() { docker run --rm --privileged --entrypoint true "$probe_image" 2>&1; }

out=$(privileged_run) && { say "privileged containers run"; exit 0; }
grep -q "unable to apply caps" <<<"$out" || die "docker run --privileged failed: $out"
say "privileged run fails (unable to apply caps); installing the $RUNTIME_NAME runtime shim"

"$KIND_DIR/build-components.sh"
shim=$CACHE/runtime/runc-nosysres
mkdir -p "$(dirname "$shim")"
install -m 0755 "$(kindtools_dir)/runc-nosysres" "$shim.new" && mv -f "$shim.new" "$shim"

mkdir -p "$(dirname "$DAEMON_JSON")"
current='{}'
[[ -s $DAEMON_JSON ]] && current=$(cat "$DAEMON_JSON")
jq --arg name "$RUNTIME_NAME" --arg path "$shim" \
  '.runtimes[$name] = {path: $path} | ."default-runtime" = $name' <<<"$current" >"$DAEMON_JSON.new"
mv "$DAEMON_JSON.new" "$DAEMON_JSON"

pid=$(pidof dockerd) || die "dockerd is not running"
kill -HUP $pid
for _ in $(seq 1 30); do
  [[ $(docker info --format '{{.DefaultRuntime}}' 2>/dev/null) == "$RUNTIME_NAME" ]] && break
  sleep 1
done
[[ $(docker info --format '{{.DefaultRuntime}}') == "$RUNTIME_NAME" ]] || die "dockerd did not pick up $DAEMON_JSON"
out=$(privileged_run) || die "privileged run still fails with the shim: $out"
say "privileged containers run with the $RUNTIME_NAME runtime"
