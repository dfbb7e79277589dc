# Shared settings and helpers for the kind tooling; sourced by the scripts in this folder.
# Everything built lands under $CACHE (outside the checkout), keyed by its inputs.

KIND_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$KIND_DIR/../.." && pwd)
CACHE=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}
export PREDICTFLOW_CACHE=$CACHE
export K8S_VERSION=${K8S_VERSION:-v1.34.4}
export ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
export HELM_VERSION=${HELM_VERSION:-v3.22.0}
export KIND_VERSION=${KIND_VERSION:-v0.33.0}
export KUBE_NETWORK_POLICIES_VERSION=${KUBE_NETWORK_POLICIES_VERSION:-v0.8.0}
export METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.9.0}
export GOFLAGS=${GOFLAGS:--mod=mod}

K8S_BIN=$CACHE/bin/k8s-$K8S_VERSION
KIND=$CACHE/bin/kind-$KIND_VERSION/kind
HELM=$CACHE/bin/helm-$HELM_VERSION-k8s1.$(echo "$K8S_VERSION" | cut -d. -f2)/helm
KUBECTL=$K8S_BIN/kubectl
KIND_CACHE=$CACHE/kind
CLUSTER_NAME=${PREDICTFLOW_KIND_CLUSTER:-predictflow}
# The docker image name of nodes built here; the tag carries the input hash.
NODE_IMAGE_REPO=predictflow-kind/node
# The NetworkPolicy enforcer of locally built nodes (build-components.sh, build-node-image.sh).
NETWORK_POLICIES_BIN=$CACHE/bin/kube-network-policies-$KUBE_NETWORK_POLICIES_VERSION/cmd
NETWORK_POLICIES_IMAGE=predictflow-kind/kube-network-policies:$KUBE_NETWORK_POLICIES_VERSION
# The resource metrics API (kubectl top, HorizontalPodAutoscalers) on every cluster (cluster.sh).
METRICS_SERVER_BIN=$CACHE/bin/metrics-server-$METRICS_SERVER_VERSION/metrics-server
METRICS_SERVER_IMAGE_REPO=predictflow-kind/metrics-server

say() { echo "[$(date +%H:%M:%S)] ${KIND_LOG_PREFIX:-kind}: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# timed NAME COMMAND...: runs COMMAND and records "NAME <seconds>" in $TIMINGS_FILE (when set).
timed() {
  local name=$1 start end rc=0
  shift
  start=$(date +%s.%N)
  "$@" || rc=$?
  end=$(date +%s.%N)
  local took
  took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  say "stage $name took ${took}s$([[ $rc == 0 ]] || echo " (failed, exit $rc)")"
  [[ -n ${TIMINGS_FILE:-} ]] && printf '%-28s %8ss%s\n' "$name" "$took" "$([[ $rc == 0 ]] || echo '  FAILED')" >>"$TIMINGS_FILE"
  return $rc
}

# hash_inputs FILE_OR_STRING...: a short stable hash of files' contents and literal strings.
hash_inputs() {
  local item
  for item in "$@"; do
    if [[ -f $item ]]; then sha256sum "$item" | cut -d' ' -f1; else echo "$item"; fi
  done | sha256sum | cut -c1-12
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The images kubeadm needs for $K8S_VERSION, one per line.
kubeadm_images() { "$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null; }
kubeadm_image_tag() { kubeadm_images | sed -n "s#^registry.k8s.io/$1:##p"; }

kind_module_dir() {
  local dir
  dir=$(cd "$KIND_CACHE" && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [[ -d $dir ]] || die "could not download sigs.k8s.io/kind@$KIND_VERSION"
  echo "$dir"
}

# Where build-components.sh puts this folder's own Go programs (pause, runc-nosysres).
kindtools_dir() {
  echo "$CACHE/bin/kindtools-$(hash_inputs "$KIND_DIR/go.mod" "$KIND_DIR"/cmd/*/*.go "$(go env GOVERSION)")"
}

# docker build without the legacy builder's deprecation banner (this Docker has no buildx).
docker_build() {
  docker build "$@" 2> >(grep -v -e '^[[:space:]]*$' -e DEPRECATED -e BuildKit -e buildx -e 'docs.docker.com/go/buildx' >&2)
}
