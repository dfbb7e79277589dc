"""`make demo` on the loopback control plane: the operator's view and the data plane's answers.

1. The example FeatureStore applied to the control plane; the operator runs and creates its children
   (pods stay Pending: this control plane has no kubelet).
2. The same stack's data plane, run as local processes: a password-protected redis-server, the
   materialization job filling it from the offline Parquet store, Feast reading features back, and
   the BentoML churn service answering a prediction.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from .operator_process import OperatorProcess
from .processes import free_port
from .redis_server import start_redis

from .paths import REPO_ROOT
NAMESPACE = "demo"


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def kubectl(*args: str, check: bool = True) -> str:
    done = subprocess.run(["kubectl", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout


def control_plane_part(kubeconfig: Path, workdir: Path) -> None:
    banner("the FeatureStore API on the local control plane")
    kubectl("create", "namespace", NAMESPACE, check=False)
    print(kubectl("-n", NAMESPACE, "apply", "-f", str(REPO_ROOT / "examples" / "featurestore.yaml")), end="")
    operator = OperatorProcess(kubeconfig, workdir / "operator.log").start()
    try:
        for _ in range(60):
            if "Provisioning" in kubectl("-n", NAMESPACE, "get", "pfs", "churn", "--no-headers", check=False):
                break
            time.sleep(0.5)
        time.sleep(2)
    finally:
        operator.stop()
    print(kubectl("-n", NAMESPACE, "get", "pfs"), end="")
    print(kubectl("-n", NAMESPACE, "get", "statefulset,service,configmap,secret", "-l", "app.kubernetes.io/instance=churn"), end="")
    print(kubectl("-n", NAMESPACE, "get", "pfs", "churn", "-o", "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{'\\n'}{end}"), end="")


def data_plane_part(workdir: Path) -> None:
    from .devstack import BentoServer, prepare_stack
    from predictflow_runtime.store import open_store

    banner("materializing the churn features into a local Redis (password-protected)")
    redis = start_redis(workdir / "redis", password=secrets.token_urlsafe(18))
    server = None
    try:
        started = time.monotonic()
        stack = prepare_stack(workdir / "stack", redis)
        print(f"materialized 1000 customers and trained the model in {time.monotonic() - started:.1f} s; "
              f"{redis.client().dbsize()} keys in Redis")

        banner("reading features back with Feast's get_online_features")
        os.environ.update(stack.env)
        store = open_store()
        rows = store.get_online_features(
            features=[f"churn_features:{name}" for name in ("tenure_months", "monthly_charges", "contract_type", "support_tickets_90d")],
            entity_rows=[{"customer_id": cid} for cid in (1001, 1002, 1003)],
        ).to_dict()
        for index, customer in enumerate(rows["customer_id"]):
            print({key: values[index] for key, values in rows.items()} | {"customer_id": customer})

        banner("a prediction from the BentoML churn service")
        env = stack.process_env(PREDICTFLOW_WORK_DIR=str(workdir / "serving-work"))
        server = BentoServer("predictflow_serving.service:ChurnService", free_port(), env, workdir / "serving.log").start()
        response = httpx.post(f"{server.url}/predict", json={"customer_id": 1001}, timeout=10)
        print(f"POST {server.url}/predict {{\"customer_id\": 1001}} -> {response.status_code}")
        print(json.dumps(response.json(), indent=2))
    finally:
        if server is not None:
            server.stop()
        redis.stop()


def main() -> None:
    kubeconfig = Path(os.environ["KUBECONFIG"])
    with tempfile.TemporaryDirectory(prefix="predictflow-demo-") as tmp:
        workdir = Path(tmp)
        control_plane_part(kubeconfig, workdir)
        data_plane_part(workdir)
    banner("next")
    print(f"export KUBECONFIG={kubeconfig}")
    print("kubectl -n demo get pfs churn -o yaml      # status, conditions")
    print("make run                                   # the operator against this control plane")
    print("make e2e                                   # the whole stack in a kind cluster")
    print("make cluster-down                          # stop the control plane")


if __name__ == "__main__":
    sys.exit(main())
