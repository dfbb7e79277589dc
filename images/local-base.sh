#!/usr/bin/env bash
# Makes a Debian base image without any registry: debootstrap a minimal bookworm with the
# packages a flavour needs, then `docker import` the root filesystem. Prints the image reference.
#
# Usage: local-base.sh python|redis
#   python  stands in for python:3.11-slim (bookworm's python3 is 3.11)
#   redis   stands in for redis:7-alpine (bookworm's redis-server 7)
#
# The root filesystem tarball is cached under $PREDICTFLOW_CACHE/images/base/, keyed by the
# suite, the packages, the mirror and this script; the image carries the key as a label, so an
# unchanged base is neither bootstrapped nor imported again.
set -euo pipefail

flavour=${1:?usage: local-base.sh python|redis}
case $flavour in
  python) packages=python3,python3-venv,ca-certificates ;;
  redis) packages=redis-server ;;
  *) echo "local-base: unknown flavour $flavour (python|redis)" >&2; exit 2 ;;
esac
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}/images/base
image=predictflow/base-$flavour:$suite
key=$( { echo "$suite $packages $mirror"; cat "$0"; } | sha256sum | cut -c1-16)
label=io.predictflow.inputs
say() { echo "local-base: $*" >&2; }

if [[ $(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null) == "$key" ]]; then
  echo "$image"
  exit 0
fi

tarball=$cache/$flavour-$suite-$key.tar
if [[ ! -f $tarball ]]; then
  mkdir -p "$cache"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$tarball.partial"' EXIT
  say "debootstrap $suite ($packages) from $mirror"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  # What an image does not need: package caches and indexes, documentation, the host's identity.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/log/* "$rootfs"/dev/* "$rootfs"/tmp/* "$rootfs"/root/.[!.]*
  : >"$rootfs/etc/resolv.conf"
  echo localhost >"$rootfs/etc/hostname"
  tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
fi

say "importing $tarball as $image"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL $label=$key" \
  --change 'CMD ["bash"]' \
  "$tarball" "$image" >/dev/null
echo "$image"
