#!/usr/bin/env bash
# The e2e kind cluster.
#
# Usage: cluster.sh up            create the cluster (or reuse a running one); prints `export KUBECONFIG=...`
#        cluster.sh down          delete it
#        cluster.sh load IMAGE... `kind load docker-image` the images into it
#        cluster.sh kubeconfig    print its kubeconfig path
#        cluster.sh node-image    print the node image `up` would use (building it when needed)
#        cluster.sh metrics-server-image  print the metrics-server image (building it when needed)
#        cluster.sh metrics-ready         wait until the resource metrics API answers (`kubectl top nodes`)
#
# Node image: $PREDICTFLOW_KIND_NODE_IMAGE when set; else kindest/node:$K8S_VERSION when it is
# present or can be pulled; else one assembled locally by build-node-image.sh.
# Set PREDICTFLOW_KIND_PULL=0 to skip the pull attempt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND_LOG_PREFIX=cluster
KUBECONFIG_PATH=$KIND_CACHE/$CLUSTER_NAME.kubeconfig

cluster_exists() { "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; }

# Prints the node image to use.
choose_node_image() {
  if [[ -n ${PREDICTFLOW_KIND_NODE_IMAGE:-} ]]; then
    echo "$PREDICTFLOW_KIND_NODE_IMAGE"; return
  fi
  local upstream=kindest/node:$K8S_VERSION
  if image_exists "$upstream"; then echo "$upstream"; return; fi
  if [[ ${PREDICTFLOW_KIND_PULL:-1} != 0 ]] && timeout 60 docker pull -q "$upstream" >/dev/null 2>&1; then
    echo "$upstream"; return
  fi
  say "kindest/node:$K8S_VERSION cannot be pulled here; using a locally assembled node image"
  "$KIND_DIR/build-node-image.sh"
}

# kind's own node images bring kindnet; the local ones have a static CNI config instead.
cluster_config_for() {
  if [[ $1 == kindest/node:* || $1 == */kindest/node:* ]]; then
    grep -v disableDefaultCNI "$KIND_DIR/cluster.yaml" >"$KIND_CACHE/cluster-upstream.yaml"
    echo "$KIND_CACHE/cluster-upstream.yaml"
  else
    echo "$KIND_DIR/cluster.yaml"
  fi
}

# Locally built nodes have no kindnetd, hence no NetworkPolicy enforcer: run ours (idempotent).
ensure_network_policies() {
  local image
  image=$(docker inspect -f '{{.Config.Image}}' "$CLUSTER_NAME-control-plane")
  [[ $image == "$NODE_IMAGE_REPO":* ]] || return 0
  sed "s#@IMAGE@#$NETWORK_POLICIES_IMAGE#" "$KIND_DIR/manifests/kube-network-policies.yaml" \
    | "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" apply -f - >&2
  "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" -n kube-system rollout status daemonset/kube-network-policies \
    --timeout=180s >&2
}

# metrics-server from build-components.sh in an image of its own; the tag carries the hash of
# the binary and the Dockerfile, so an unchanged one is reused.
metrics_server_image() {
  "$KIND_DIR/build-components.sh" metrics-server
  local dockerfile=$KIND_DIR/images/metrics-server/Dockerfile
  local image=$METRICS_SERVER_IMAGE_REPO:$METRICS_SERVER_VERSION-$(hash_inputs "$dockerfile" "$METRICS_SERVER_BIN")
  if ! image_exists "$image"; then
    local ctx=$KIND_CACHE/build/images/metrics-server
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$dockerfile" "$METRICS_SERVER_BIN" "$ctx/"
    docker_build -q -t "$image" "$ctx" >/dev/null
    say "built $image"
  fi
  echo "$image"
}

# Every cluster, on kind's node images or ours, gets the resource metrics API (idempotent: kind
# skips an image the node already holds, and re-applying the same manifest rolls nothing out). Not
# waited for here: it becomes ready while the project's images load (`metrics-ready`).
ensure_metrics_server() {
  local image
  image=$(metrics_server_image)
  say "installing metrics-server ($image)"
  load "$image"
  sed "s#@IMAGE@#$image#" "$KIND_DIR/manifests/metrics-server.yaml" \
    | "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" apply -f - >&2
  say "metrics-server applied"
}

metrics_ready() {
  local kubectl=("$KUBECTL" --kubeconfig "$KUBECONFIG_PATH") deadline=$((SECONDS + 240))
  "${kubectl[@]}" -n kube-system rollout status deployment/metrics-server --timeout=180s >&2
  "${kubectl[@]}" wait apiservice/v1beta1.metrics.k8s.io --for=condition=Available --timeout=120s >&2
  # Available means the API server reaches metrics-server; `top` needs a node's first sample.
  until "${kubectl[@]}" top nodes >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { "${kubectl[@]}" top nodes >&2 || true; die "kubectl top nodes does not answer"; }
    sleep 1
  done
  "${kubectl[@]}" top nodes >&2
}

up() {
  mkdir -p "$KIND_CACHE"
  [[ -x $KIND ]] || "$REPO_DIR/e2e/tools/build-binaries.sh" kind
  if cluster_exists && "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" get --raw /readyz >/dev/null 2>&1; then
    say "reusing the running cluster $CLUSTER_NAME"
    ensure_network_policies
    ensure_metrics_server
    echo "export KUBECONFIG=$KUBECONFIG_PATH"
    return
  fi
  cluster_exists && "$KIND" delete cluster --name "$CLUSTER_NAME" >&2
  local image config
  image=$(choose_node_image)
  config=$(cluster_config_for "$image")
  "$KIND_DIR/ensure-privileged.sh" "$image"
  say "creating cluster $CLUSTER_NAME from $image"
  if ! "$KIND" create cluster --retain --name "$CLUSTER_NAME" --image "$image" --config "$config" \
      --kubeconfig "$KUBECONFIG_PATH" --wait 5m >&2; then
    local logs
    logs=$KIND_CACHE/logs/$CLUSTER_NAME-$(date +%Y%m%d-%H%M%S)
    "$KIND" export logs --name "$CLUSTER_NAME" "$logs" >&2 || true
    [[ ${PREDICTFLOW_KEEP_CLUSTER:-0} == 1 ]] || "$KIND" delete cluster --name "$CLUSTER_NAME" >&2 || true
    die "kind create cluster failed; node logs in $logs"
  fi
  ensure_network_policies
  ensure_metrics_server
  # The small image the cluster smoke tests run (e2e/tests/test_kind_cluster.py).
  load "$("$KIND_DIR/build-node-image.sh" smoke)"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
}

down() {
  [[ -x $KIND ]] || return 0
  cluster_exists && "$KIND" delete cluster --name "$CLUSTER_NAME" >&2
  rm -f "$KUBECONFIG_PATH"
}

load() {
  (( $# > 0 )) || die "load: no images given"
  "$KIND" load docker-image --name "$CLUSTER_NAME" "$@" >&2
}

case ${1:-} in
  up) up ;;
  down) down ;;
  load) shift; load "$@" ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  node-image) choose_node_image ;;
  metrics-server-image) metrics_server_image ;;
  metrics-ready) metrics_ready ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
