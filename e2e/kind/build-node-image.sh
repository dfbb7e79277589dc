#!/usr/bin/env bash
# Assembles a kind node image for $K8S_VERSION with no registry at all, and prints its
# reference on stdout. `kind build node-image` cannot do this offline (it pulls etcd,
# CoreDNS, pause and kindnet inside the build), so this script does it step by step:
#   1. a Debian bookworm base from debootstrap (cached as a tarball);
#   2. the images kubeadm needs, built locally from Go-built binaries and tagged exactly as
#      `kubeadm config images list` prints them, plus the local-path-provisioner images and
#      the NetworkPolicy enforcer's (kube-network-policies, run by cluster.sh);
#   3. the node root filesystem (node/Dockerfile): Debian's systemd, containerd, runc and
#      CNI plugins, kind's base-image files from the sigs.k8s.io/kind module, node/overlay,
#      and kubelet/kubeadm/kubectl/crictl;
#   4. those images imported into the node's containerd (content only; containerd's CRI
#      unpacks on first use), committed as predictflow-kind/node:<k8s version>-<input hash>.
# A node image whose tag (the hash of every input) already exists is reused as is.
#
# Usage: build-node-image.sh          build (or reuse) the node image, print its reference
#        build-node-image.sh base     only the Debian base image, print its reference
#        build-node-image.sh smoke    the small image the cluster smoke tests run, print its reference
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND_LOG_PREFIX=node-image

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=predictflow-kind/bookworm:minbase
PROVISIONER_IMAGE=predictflow-kind/local-path-provisioner:${LOCAL_PATH_PROVISIONER_VERSION:-v0.0.30}
HELPER_IMAGE=predictflow-kind/local-path-helper:bookworm
SMOKE_IMAGE=predictflow-kind/smoke:bookworm
BUILD=$KIND_CACHE/build
BUILD_CONTAINER=predictflow-kind-build-$$
trap 'docker rm -f "$BUILD_CONTAINER" >/dev/null 2>&1 || true' EXIT

build_base() {
  image_exists "$BASE_IMAGE" && return
  local tarball=$KIND_CACHE/bookworm-minbase.tar.gz
  if [[ ! -f $tarball ]]; then
    local root
    root=$(mktemp -d "$KIND_CACHE/debootstrap.XXXXXX")
    say "debootstrap bookworm (minbase) from $DEBIAN_MIRROR"
    debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR" >"$KIND_CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$KIND_CACHE/debootstrap.log" >&2; rm -rf "$root"; die "debootstrap failed"; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" --numeric-owner -czf "$tarball.partial" .
    rm -rf "$root"
    mv "$tarball.partial" "$tarball"
  fi
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$BASE_IMAGE" >/dev/null
}

# static_image TAG BINARY [ENTRYPOINT]: an image holding one static binary in /usr/local/bin.
static_image() {
  local tag=$1 binary=$2 entrypoint=${3:-} name
  name=$(basename "$binary")
  local ctx=$BUILD/images/$name
  rm -rf "$ctx" && mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc"
  chmod 1777 "$ctx/rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
  echo 'hosts: files dns' >"$ctx/rootfs/etc/nsswitch.conf"
  cp "$binary" "$ctx/rootfs/usr/local/bin/"
  {
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "ENV PATH=/usr/local/bin"
    [[ -n $entrypoint ]] && echo "ENTRYPOINT [\"/usr/local/bin/$name\"]"
  } >"$ctx/Dockerfile"
  docker_build -q -t "$tag" "$ctx" >/dev/null
}

build_component_images() {
  local tools etcd_tag coredns_tag pause_tag
  tools=$(kindtools_dir)
  etcd_tag=$(kubeadm_image_tag etcd)
  coredns_tag=$(kubeadm_image_tag coredns/coredns)
  pause_tag=$(kubeadm_image_tag pause)
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    static_image "registry.k8s.io/$c:$K8S_VERSION" "$K8S_BIN/$c"
  done
  static_image "registry.k8s.io/etcd:$etcd_tag" "$CACHE/bin/etcd-v${etcd_tag%-*}/etcd"
  static_image "registry.k8s.io/coredns/coredns:$coredns_tag" "$CACHE/bin/coredns-$coredns_tag/coredns" entrypoint
  static_image "registry.k8s.io/pause:$pause_tag" "$tools/pause" entrypoint
  static_image "$PROVISIONER_IMAGE" \
    "$CACHE/bin/local-path-provisioner-${PROVISIONER_IMAGE##*:}/local-path-provisioner"
  # The provisioner's helper pod only needs a shell, mkdir and rm.
  docker tag "$BASE_IMAGE" "$HELPER_IMAGE"

  iptables_image "registry.k8s.io/kube-proxy:$K8S_VERSION" kube-proxy "$K8S_BIN/kube-proxy"
  iptables_image "$NETWORK_POLICIES_IMAGE" kube-network-policies "$NETWORK_POLICIES_BIN"
}

# iptables_image TAG NAME BINARY: images/NAME with BINARY (as NAME) and the iptables backend chooser.
iptables_image() {
  local tag=$1 name=$2 binary=$3 ctx=$BUILD/images/$2
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$KIND_DIR/images/$name/"* "$KIND_DIR/images/select-iptables.sh" "$ctx/"
  cp "$binary" "$ctx/$name"
  docker_build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$tag" "$ctx" >/dev/null
}

node_images() {
  kubeadm_images
  echo "$PROVISIONER_IMAGE"
  echo "$HELPER_IMAGE"
  echo "$NETWORK_POLICIES_IMAGE"
}

prepare_node_context() {
  local ctx=$BUILD/node kind_files
  kind_files="$(kind_module_dir)/images/base/files"
  rm -rf "$ctx" && mkdir -p "$ctx/kind-base" "$ctx/bin"
  cp "$KIND_DIR/node/Dockerfile" "$ctx/"
  # kind's node base files, as its module ships them (unit files, entrypoint, sysctls, /kind).
  cp -r "$kind_files/etc" "$kind_files/kind" "$kind_files/usr" "$ctx/kind-base/"
  chmod -R u+w "$ctx/kind-base"
  find "$ctx/kind-base" -type d -exec chmod 0755 {} +
  find "$ctx/kind-base" -type f -exec chmod 0644 {} +
  chmod 0755 "$ctx"/kind-base/usr/local/bin/* "$ctx"/kind-base/kind/bin/*
  rm -f "$ctx/kind-base/etc/containerd/config.toml"   # replaced by node/overlay's
  cp -r "$KIND_DIR/node/overlay" "$ctx/overlay"
  sed -i "s#@SANDBOX_IMAGE@#registry.k8s.io/pause:$(kubeadm_image_tag pause)#" \
    "$ctx/overlay/etc/containerd/config.toml"
  sed -i "s#@PROVISIONER_IMAGE@#$PROVISIONER_IMAGE#; s#@HELPER_IMAGE@#$HELPER_IMAGE#" \
    "$ctx/overlay/kind/manifests/default-storage.yaml"
  echo "$K8S_VERSION" >"$ctx/overlay/kind/version"
  cp "$K8S_BIN/kubelet" "$K8S_BIN/kubeadm" "$K8S_BIN/kubectl" "$CACHE/bin/crictl-${CRICTL_VERSION:-v1.34.0}/crictl" "$ctx/bin/"
}

# Imports the node's images into its containerd content store and commits the result.
commit_node_image() {
  local rootfs=$1 target=$2 archive=$BUILD/node-images.tar container=$BUILD_CONTAINER
  local images
  mapfile -t images < <(node_images)
  docker save -o "$archive" "${images[@]}"
  docker run -d --name "$container" --entrypoint sleep --security-opt seccomp=unconfined \
    -v "$archive:/kind-images.tar:ro" "$rootfs" infinity >/dev/null
  docker exec "$container" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &
    for _ in $(seq 50); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done
    cat /var/log/containerd-build.log; exit 1'
  docker exec "$container" ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests /kind-images.tar >/dev/null
  local listed missing=()
  listed=$(docker exec "$container" ctr --namespace=k8s.io images list -q)
  local image
  for image in "${images[@]}"; do
    grep -qx "$(normalize_image "$image")" <<<"$listed" || missing+=("$image")
  done
  (( ${#missing[@]} == 0 )) || die "not imported into the node's containerd: ${missing[*]}"
  docker exec "$container" bash -c 'kill $(pidof containerd); while pidof containerd >/dev/null; do sleep 0.1; done
    rm -f /var/log/containerd-build.log'
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' "$container" "$target" >/dev/null
  rm -f "$archive"
}

# docker.io names as containerd records them.
normalize_image() {
  local image=$1
  [[ ${image%%/*} == *.* ]] || image=docker.io/$image
  echo "$image"
}

node_image_key() {
  local files=(
    "$KIND_DIR/build-node-image.sh" "$KIND_DIR/lib.sh" "$KIND_DIR/node/Dockerfile"
    $(find "$KIND_DIR/node/overlay" "$KIND_DIR/images" -type f | sort)
    "$K8S_BIN"/kube* "$(kindtools_dir)/pause" "$NETWORK_POLICIES_BIN"
  )
  hash_inputs "${files[@]}" "$K8S_VERSION" "$KIND_VERSION" "$(kubeadm_images)" \
    "$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")"
}

main() {
  mkdir -p "$KIND_CACHE" "$BUILD"
  build_base
  case ${1:-} in
    base) echo "$BASE_IMAGE"; return ;;
    smoke)
      docker_build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$SMOKE_IMAGE" "$KIND_DIR/images/smoke" >/dev/null
      echo "$SMOKE_IMAGE"; return ;;
  esac
  "$KIND_DIR/build-components.sh"
  local target
  target=$NODE_IMAGE_REPO:$K8S_VERSION-$(node_image_key)
  if image_exists "$target"; then say "reusing $target"; echo "$target"; return; fi
  say "building component images"
  build_component_images
  say "building the node root filesystem"
  prepare_node_context
  local rootfs=$NODE_IMAGE_REPO-rootfs:$K8S_VERSION
  docker_build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$rootfs" "$BUILD/node" >"$BUILD/node-build.log" 2>&1 \
    || { tail -n 30 "$BUILD/node-build.log" >&2; die "node root filesystem build failed"; }
  say "importing $(node_images | wc -l) images into the node's containerd"
  commit_node_image "$rootfs" "$target"
  say "built $target"
  # Older node images are superseded (a running cluster keeps its own image in use).
  docker images --format '{{.Repository}}:{{.Tag}}' "$NODE_IMAGE_REPO" | grep -vx "$target" \
    | xargs -r docker rmi >/dev/null 2>&1 || true
  echo "$target"
}

main "$@"
