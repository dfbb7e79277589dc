"""Materialization: the scheduled incremental CronJob and the one-off full backfill Job."""

from __future__ import annotations

from typing import Any

import predictflow_contract as contract

from ..api.models import FeatureStoreSpec
from .common import CHECKSUM_ANNOTATION, STORE_LABEL, STORE_TYPE_LABEL, Owner, checksum, child_name, labels, metadata, selector
from .placement import pod_placement
from .resources import MATERIALIZATION, container_resources
from .runtime_pod import compare_with, pod_spec
from .store import WRITER, StoreTarget

COMPONENT = "materialization"
BACKFILL_COMPONENT = "backfill"
BACKFILL_STORE_ANNOTATION = "predictflow.io/store"
MATERIALIZE = ["python", "-m", "predictflow_runtime.materialize"]


def cron_job_name(owner: Owner) -> str:
    return child_name(owner, "materialize")


def backfill_identity(spec: FeatureStoreSpec, store: StoreTarget, runtime_image: str, generation: int) -> str:
    """What a backfill is for: a change of any of these needs a new one. `generation` is the one the
    store was first prepared at, so a store re-created later is backfilled again, never matched to
    the Job that filled its predecessor."""
    return checksum(store.type, store.endpoint, spec.project, spec.feature_repo.model_dump(), spec.offline_store.path, runtime_image, generation)[:10]


def backfill_job_name(owner: Owner, store: StoreTarget, identity: str) -> str:
    return child_name(owner, f"backfill-{store.type}-{identity}")


def _store_labels(store: StoreTarget) -> dict[str, str]:
    return {STORE_TYPE_LABEL: store.type, STORE_LABEL: store.label}


def _placement(owner: Owner, spec: FeatureStoreSpec, component: str) -> dict[str, Any]:
    return pod_placement(spec.materialization, selector(owner, component))


def _container(spec: FeatureStoreSpec, image: str, args: list[str]) -> dict[str, Any]:
    return {
        "name": "materialize",
        "image": image,
        "command": MATERIALIZE + args,
        "env": [{"name": contract.REPORT_PATH_ENV, "value": contract.TERMINATION_LOG}],
        "resources": container_resources(spec.materialization.resources, MATERIALIZATION),
    }


def cron_job(owner: Owner, spec: FeatureStoreSpec, store: StoreTarget, runtime_image: str, config_checksum: str) -> dict[str, Any]:
    image = spec.materialization.image or runtime_image
    template_labels = labels(owner, COMPONENT, **_store_labels(store))
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(owner, cron_job_name(owner), COMPONENT, **_store_labels(store)),
        "spec": {
            "schedule": spec.materialization.schedule,
            "suspend": spec.materialization.suspend,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3600,
                    "template": {
                        "metadata": {"labels": template_labels, "annotations": {CHECKSUM_ANNOTATION: config_checksum}},
                        "spec": {
                            **pod_spec(owner, spec, store, WRITER, _container(spec, image, []), _placement(owner, spec, COMPONENT)),
                            "restartPolicy": "Never",
                        },
                    },
                },
            },
        },
    }


def _with_compare(owner: Owner, pod: dict[str, Any], compare: StoreTarget | None) -> dict[str, Any]:
    if compare is None:
        return pod
    volumes, mounts, env = compare_with(owner, compare)
    container = pod["containers"][0]
    container = {**container, "env": container["env"] + env, "volumeMounts": container["volumeMounts"] + mounts}
    return {**pod, "containers": [container], "volumes": pod["volumes"] + volumes}


def backfill_job(
    owner: Owner, spec: FeatureStoreSpec, store: StoreTarget, runtime_image: str, identity: str, compare: StoreTarget | None = None
) -> dict[str, Any]:
    """A full materialization into `store`; serving switches to it only once this succeeds and, when
    a store serves already (`compare`), a sample reads the same from both."""
    image = spec.materialization.image or runtime_image
    job_labels = labels(owner, BACKFILL_COMPONENT, **_store_labels(store))
    meta = metadata(owner, backfill_job_name(owner, store, identity), BACKFILL_COMPONENT, **_store_labels(store))
    meta["annotations"] = {BACKFILL_STORE_ANNOTATION: store.endpoint}
    container = _container(spec, image, ["--full"])
    slices = spec.materialization.backfill_parallelism
    indexed: dict[str, Any] = {}
    if slices > 1:
        # each pod writes the slice of the entities its completion index names
        container["env"] = [*container["env"], {"name": contract.BACKFILL_SLICES_ENV, "value": str(slices)}]
        indexed = {"completionMode": "Indexed", "completions": slices, "parallelism": slices}
    pod = pod_spec(owner, spec, store, WRITER, container, _placement(owner, spec, BACKFILL_COMPONENT))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            **indexed,
            "backoffLimit": 3,
            "activeDeadlineSeconds": 3600,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": job_labels},
                "spec": {
                    **_with_compare(owner, pod, compare),
                    "restartPolicy": "Never",
                },
            },
        },
    }
