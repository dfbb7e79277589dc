#!/usr/bin/env bash
# Makes a Docker engine answer: installs Debian's docker.io when missing and starts dockerd
# in the background when no daemon runs (this machine has no systemd-managed service).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/ensure-apt.sh" docker.io containerd runc debootstrap iptables
docker info >/dev/null 2>&1 && exit 0
log=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}/logs/dockerd.log
mkdir -p "$(dirname "$log")"
echo "ensure-docker: starting dockerd (log: $log)" >&2
setsid nohup /usr/sbin/dockerd >>"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "ensure-docker: dockerd did not come up; last lines of $log:" >&2
tail -n 30 "$log" >&2
exit 1
