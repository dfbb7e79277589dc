"""Stand in for the kubelet the control-plane tier does not run: report pods Ready, Succeeded or Failed.

The controllers then do their real work from those pod statuses (StatefulSet and Deployment
availability, Job completion)."""

from __future__ import annotations

import datetime
import json

from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _containers(pod: Pod, **state) -> list[dict]:
    return [
        {"name": c.name, "image": c.image, "imageID": "", "ready": state.get("ready", False), "restartCount": 0,
         "state": state.get("state", {"running": {"startedAt": _now()}})}
        for c in pod.spec.containers
    ]


def _ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in ((pod.status.conditions if pod.status else None) or []))


def mark_pods_ready(kube: Client, namespace: str, labels: dict[str, str], only_new: bool = False) -> int:
    """Report matching pods Running and Ready; with `only_new`, leave pods already Ready alone (as a
    kubelet would: their Ready time stays, so minReadySeconds can pass). Returns how many match."""
    pods = list(kube.list(Pod, namespace=namespace, labels=labels))
    for pod in pods:
        if only_new and _ready(pod):
            continue
        now = _now()
        status = {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": _containers(pod, ready=True),
        }
        kube.patch(Pod.Status, pod.metadata.name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE)
    return len(pods)


# What a materialization pod writes to its termination log (predictflow_runtime.materialize).
FULL_REPORT = {"rows": 1000, "sourceRows": 1000}


def finish_job_pods(
    kube: Client, namespace: str, job_name: str, succeeded: bool = True, report: dict | None = FULL_REPORT, index: int | None = None
) -> int:
    """Report the Job's pods finished (with `index`, only the pods of that completion index)."""
    # by the Job's uid: a re-created Job of the same name must not be confused with pods of the old one
    uid = kube.get(Job, job_name, namespace=namespace).metadata.uid
    pods = list(kube.list(Pod, namespace=namespace, labels={"batch.kubernetes.io/controller-uid": uid}))
    if index is not None:
        pods = [pod for pod in pods if (pod.metadata.annotations or {}).get("batch.kubernetes.io/job-completion-index") == str(index)]
    for pod in pods:
        exit_code = 0 if succeeded else 1
        status = {
            "phase": "Succeeded" if succeeded else "Failed",
            "startTime": _now(),
            "containerStatuses": _containers(
                pod, state={"terminated": {
                    "exitCode": exit_code, "reason": "Completed" if succeeded else "Error", "finishedAt": _now(),
                    **({"message": json.dumps(report)} if report is not None else {}),
                }}
            ),
        }
        kube.patch(Pod.Status, pod.metadata.name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE)
    return len(pods)


def fail_job(kube: Client, namespace: str, job_name: str, message: str = "backfill failed") -> None:
    """Report the Job failed outright, as the job controller does once backoffLimit is exhausted."""
    now = _now()
    conditions = [
        {"type": t, "status": "True", "reason": "BackoffLimitExceeded", "message": message, "lastTransitionTime": now, "lastProbeTime": now}
        for t in ("FailureTarget", "Failed")
    ]
    status = {"active": 0, "ready": 0, "failed": 4, "conditions": conditions}
    kube.patch(Job.Status, job_name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE)
