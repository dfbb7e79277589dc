#!/usr/bin/env bash
# `make e2e`: everything the kind tier needs, then the suite, then cleanup; reports how long
# each stage took. Stages that find their result cached take seconds.
#
# Usage: e2e.sh        every stage, the tests, then delete the cluster
#        e2e.sh up     every stage up to loading the images, keep the cluster (make kind-up)
#
# Environment:
#   PREDICTFLOW_KEEP_CLUSTER=1   keep the cluster afterwards (also on failure) for debugging;
#                                `e2e/kind/cluster.sh down` deletes it later
#   PREDICTFLOW_KIND_NODE_IMAGE  use this node image instead of choosing one (see cluster.sh)
#   PYTEST_ARGS                  extra pytest arguments, split with shell quoting rules but never
#                                evaluated, e.g. "-x -k 'switch or outage'"
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND_LOG_PREFIX=e2e
mode=${1:-all}
[[ $mode == all || $mode == up ]] || { sed -n '2,16p' "$0" >&2; exit 2; }
[[ $mode == up ]] && export PREDICTFLOW_KEEP_CLUSTER=1

TIMINGS_FILE=$(mktemp)
export TIMINGS_FILE
suite_start=$(date +%s)

finish() {
  local rc=$?
  if [[ ${PREDICTFLOW_KEEP_CLUSTER:-0} == 1 ]]; then
    say "keeping cluster $CLUSTER_NAME: export KUBECONFIG=$("$KIND_DIR/cluster.sh" kubeconfig)"
  else
    timed cluster-delete "$KIND_DIR/cluster.sh" down || true
  fi
  echo "e2e stage timings:" >&2
  cat "$TIMINGS_FILE" >&2
  printf '%-28s %8ss\n' total "$(( $(date +%s) - suite_start ))" >&2
  rm -f "$TIMINGS_FILE"
  exit $rc
}
trap finish EXIT

timed docker "$REPO_DIR/e2e/tools/ensure-docker.sh"
timed tools "$REPO_DIR/e2e/tools/build-binaries.sh" k8s helm kind
node_image=$(timed node-image "$KIND_DIR/cluster.sh" node-image)
[[ -x $REPO_DIR/images/build.sh ]] || die "images/build.sh is missing: the project images cannot be built"
timed project-images "$REPO_DIR/images/build.sh"
venv=$("$REPO_DIR/e2e/tools/ensure-venv.sh")
version=$("$venv/bin/python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO_DIR/pyproject.toml")
project_images=(predictflow/operator:$version predictflow/runtime:$version predictflow/serving:$version predictflow/redis:$version
                predictflow/fraud-example:$version)

timed metrics-server-image "$KIND_DIR/cluster.sh" metrics-server-image >/dev/null
PREDICTFLOW_KIND_NODE_IMAGE=$node_image timed cluster "$KIND_DIR/cluster.sh" up >/dev/null
timed load-images "$KIND_DIR/cluster.sh" load "${project_images[@]}"
# metrics-server starts while the images load; what is left of its start-up is this stage.
timed metrics-api "$KIND_DIR/cluster.sh" metrics-ready
[[ $mode == up ]] && exit 0

export KUBECONFIG
KUBECONFIG=$("$KIND_DIR/cluster.sh" kubeconfig)
export PATH=$K8S_BIN:$(dirname "$HELM"):$PATH PREDICTFLOW_E2E=1 PREDICTFLOW_E2E_IMAGE_VERSION=$version
export PYTHONPATH=$REPO_DIR/contract:$REPO_DIR/operator:$REPO_DIR/serving:$REPO_DIR/feature_repo:$REPO_DIR/e2e
cd "$REPO_DIR"
mapfile -d '' -t pytest_args < <("$venv/bin/python" -c 'import shlex, sys; sys.stdout.write("".join(a + "\0" for a in shlex.split(sys.argv[1])))' "${PYTEST_ARGS:-}")
timed tests "$venv/bin/python" -m pytest -m kind e2e/tests "${pytest_args[@]}"
