#!/usr/bin/env bash
# Builds, from Go module sources, the programs a locally assembled kind node needs besides
# the Kubernetes binaries: etcd and CoreDNS at exactly the versions kubeadm asks for, the
# local-path-provisioner (kind's default StorageClass), kube-network-policies (the
# NetworkPolicy enforcer kind's kindnetd embeds), crictl, metrics-server (the resource metrics
# API, which no kind node ships), and this folder's own pause and runc shim programs. Each
# lands in $CACHE/bin/<name>-<version>/ and is reused.
#
# Usage: build-components.sh                  all of them
#        build-components.sh metrics-server   only metrics-server (clusters on kind's own nodes need no more)
# Prints nothing on stdout; logs on stderr.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND_LOG_PREFIX=components

LOCAL_PATH_PROVISIONER_VERSION=${LOCAL_PATH_PROVISIONER_VERSION:-v0.0.30}
CRICTL_VERSION=${CRICTL_VERSION:-v1.34.0}
export CGO_ENABLED=0

# go_install NAME VERSION PACKAGE@VERSION BINARY [LDFLAGS]: `go install` into $CACHE/bin/NAME-VERSION.
go_install() {
  local name=$1 version=$2 package=$3 binary=$4 ldflags=${5:-} out=$CACHE/bin/$1-$2
  [[ -x $out/$binary ]] && return
  say "compiling $name $version"
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  GOBIN=$out.partial go install -trimpath -ldflags="-s -w $ldflags" "$package"
  rm -rf "$out" && mv "$out.partial" "$out"
}

metrics_server() {
  # The version its /version endpoint and logs report (upstream's Makefile sets the same variable).
  go_install metrics-server "$METRICS_SERVER_VERSION" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" metrics-server \
    "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
}

case ${1:-all} in
  all) ;;
  metrics-server) metrics_server; exit 0 ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac

[[ -x $K8S_BIN/kubeadm ]] || "$REPO_DIR/e2e/tools/build-binaries.sh" k8s

etcd_tag=$(kubeadm_image_tag etcd)           # e.g. 3.6.5-0
coredns_tag=$(kubeadm_image_tag coredns/coredns)   # e.g. v1.12.1
[[ -n $etcd_tag && -n $coredns_tag ]] || die "kubeadm did not list etcd/coredns images"
ETCD_VERSION="v${etcd_tag%-*}" "$REPO_DIR/e2e/tools/build-binaries.sh" etcd
go_install coredns "$coredns_tag" "github.com/coredns/coredns@$coredns_tag" coredns
go_install local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" \
  "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" local-path-provisioner
# The module's main package is its cmd/ folder, so `go install` names the binary `cmd`.
go_install kube-network-policies "$KUBE_NETWORK_POLICIES_VERSION" \
  "sigs.k8s.io/kube-network-policies/cmd@$KUBE_NETWORK_POLICIES_VERSION" cmd
go_install crictl "$CRICTL_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" crictl
metrics_server

# This folder's own programs, keyed by their sources.
tools_out=$(kindtools_dir)
if [[ ! -x $tools_out/pause ]]; then
  say "compiling pause and runc-nosysres"
  rm -rf "$tools_out.partial" && mkdir -p "$tools_out.partial"
  (cd "$KIND_DIR" && go build -trimpath -ldflags="-s -w" -o "$tools_out.partial/" ./cmd/...)
  rm -rf "$tools_out" && mv "$tools_out.partial" "$tools_out"
fi
