#!/usr/bin/env bash
# `make demo`: the whole stack on a kind cluster, the way a user runs it: the operator installed
# with helm, the sample FeatureStore applied, Ready, and a prediction through the serving Service.
# The cluster is kept; the last lines say what to run next.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND_LOG_PREFIX=demo
cd "$REPO_DIR"

"$KIND_DIR/e2e.sh" up   # docker, tools, node image, project images, cluster, images loaded
export KUBECONFIG
KUBECONFIG=$("$KIND_DIR/cluster.sh" kubeconfig)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
kubectl() { "$KUBECTL" "$@"; }

say "helm install predictflow charts/predictflow-operator"
kubectl apply --server-side -f crds/ >/dev/null   # helm installs crds/ only on a first install
"$HELM" upgrade --install predictflow charts/predictflow-operator \
  --namespace predictflow-system --create-namespace \
  --set featureStoreDefaults.redisImage.repository=predictflow/redis \
  --set-string featureStoreDefaults.redisImage.tag="$version" \
  --wait --timeout 5m

say "kubectl apply -f examples/featurestore.yaml"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n demo apply -f examples/featurestore.yaml
started=$(date +%s)
kubectl -n demo wait --for=condition=Ready featurestore/churn --timeout=10m
say "Ready after $(( $(date +%s) - started )) s"
kubectl -n demo get pfs
kubectl -n demo get statefulset,pvc,deployment,cronjob,job -l app.kubernetes.io/instance=churn

say "POST /predict through the serving Service"
log=$(mktemp)
kubectl -n demo port-forward svc/churn-serving :3000 --address 127.0.0.1 >"$log" 2>&1 &
forward=$!
trap 'kill $forward 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
  [[ -n $port ]] && break
  sleep 0.2
done
[[ -n ${port:-} ]] || die "kubectl port-forward did not start: $(cat "$log")"
echo "curl -s -X POST localhost:$port/predict -H 'content-type: application/json' -d '{\"customer_id\": 1001}'"
curl -sS --fail-with-body -X POST "http://127.0.0.1:$port/predict" -H 'content-type: application/json' -d '{"customer_id": 1001}'
echo

cat <<NEXT

Next:
  export KUBECONFIG=$KUBECONFIG PATH=$K8S_BIN:\$PATH
  kubectl -n demo get pfs churn -o yaml                      # status and conditions
  kubectl -n demo port-forward svc/churn-serving 3000:3000   # then POST localhost:3000/predict
  kubectl -n demo patch pfs churn --type merge -p '{"spec":{"onlineStore":{"keyTTLSeconds":86400}}}'
  make kind-down                                             # delete the cluster
NEXT
