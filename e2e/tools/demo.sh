#!/usr/bin/env bash
# The main job on the local control plane: the CRD installed, the example FeatureStore applied,
# the operator creating its children. (Pods stay Pending here: the control plane has no kubelet.)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=$(e2e/tools/ensure-venv.sh)
echo "== kubectl get crd"
kubectl get crd featurestores.predictflow.io
kubectl apply -f examples/featurestore.yaml
echo "== running the operator for 20 s"
PREDICTFLOW_RESYNC_SECONDS=3 timeout 20 "$VENV/bin/python" -m predictflow_operator >/tmp/predictflow-demo-operator.log 2>&1 || true
echo "== kubectl get pfs"
kubectl get pfs
echo "== children"
kubectl get statefulset,service,configmap,secret,cronjob,job,deployment -l app.kubernetes.io/instance=churn
