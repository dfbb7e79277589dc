"""Autoscaling, default resources and placement on a real API server and controller manager.

The controller manager runs the real HorizontalPodAutoscaler controller. With no metrics API it
cannot read CPU use, but it still holds the replica count inside [minReplicas, maxReplicas],
which is what proves the autoscaler, not the operator, owns the count.
"""

import pytest
from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.batch_v1 import CronJob

from predictflow_devtools.featurestores import absent, apply_featurestore, bring_to_ready, backfill, patch_spec
from predictflow_devtools.waiting import eventually
from predictflow_operator.reconcilers.serving import HANDOVER_MANAGER

pytestmark = pytest.mark.controlplane
SERVING = "churn-serving"


def replicas(kube, namespace):
    return kube.get(Deployment, SERVING, namespace=namespace).spec.replicas


def replica_owners(deployment):
    return sorted(entry.manager for entry in deployment.metadata.managedFields or [] if "f:replicas" in ((entry.fieldsV1 or {}).get("f:spec") or {}))


def test_autoscaling_takes_over_the_replica_count_without_a_dip_and_hands_it_back(kube, namespace, operator):
    created = apply_featurestore(kube, namespace, {"project": "churn", "serving": {"replicas": 3}})
    bring_to_ready(kube, namespace, serving_pods=3)
    assert replicas(kube, namespace) == 3

    patch_spec(kube, namespace, {"serving": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60}}})
    hpa = eventually(lambda: None if absent(kube, HorizontalPodAutoscaler, SERVING, namespace) else kube.get(HorizontalPodAutoscaler, SERVING, namespace=namespace), what="the HPA")
    assert [(o.kind, o.uid, o.controller) for o in hpa.metadata.ownerReferences] == [("FeatureStore", created.metadata.uid, True)]
    assert (hpa.spec.minReplicas, hpa.spec.maxReplicas) == (2, 5)
    assert hpa.spec.scaleTargetRef.name == SERVING
    assert hpa.spec.metrics[0].resource.target.averageUtilization == 60

    # The operator's manifest no longer holds replicas, and the count it had was handed over, not reset to 1.
    handed = eventually(
        lambda: (d := kube.get(Deployment, SERVING, namespace=namespace)) and "predictflow-operator" not in replica_owners(d) and d,
        what="the operator to stop applying replicas",
    )
    assert handed.spec.replicas == 3, f"the replica count fell to {handed.spec.replicas} when autoscaling took over"
    assert HANDOVER_MANAGER in replica_owners(handed), replica_owners(handed)

    # The real autoscaler moves the count; the operator's later passes leave it there.
    patch_spec(kube, namespace, {"serving": {"autoscaling": {"minReplicas": 4}}})
    eventually(lambda: replicas(kube, namespace) == 4, what="the HPA controller to raise serving to minReplicas 4", timeout=60)
    patch_spec(kube, namespace, {"serving": {"autoscaling": {"targetCPUUtilizationPercentage": 70}}})
    eventually(
        lambda: kube.get(HorizontalPodAutoscaler, SERVING, namespace=namespace).spec.metrics[0].resource.target.averageUtilization == 70,
        what="the HPA's new target",
    )
    assert replicas(kube, namespace) == 4

    patch_spec(kube, namespace, {"serving": {"replicas": 2, "autoscaling": {"enabled": False}}})
    eventually(lambda: absent(kube, HorizontalPodAutoscaler, SERVING, namespace), what="the HPA to be deleted")
    eventually(lambda: replicas(kube, namespace) == 2, what="serving back at spec.serving.replicas")


def test_min_replicas_above_max_is_refused_by_the_api_server(kube, namespace):
    with pytest.raises(ApiError) as refused:
        apply_featurestore(kube, namespace, {"project": "churn", "serving": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}})
    assert "spec.serving.autoscaling.minReplicas must not exceed maxReplicas" in refused.value.status.message


def containers_of(template_spec):
    return list(template_spec.containers) + list(template_spec.initContainers or [])


def test_every_container_gets_default_resources_and_placement_follows_the_spec(kube, namespace, operator):
    apply_featurestore(
        kube,
        namespace,
        {"project": "churn", "featureRepo": {"image": "example/churn-repo:1"}, "onlineStore": {"redis": {"maxMemory": "512mb", "metrics": {"enabled": True}}}},
    )
    bring_to_ready(kube, namespace)
    templates = {
        "redis": kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.template.spec,
        "backfill": backfill(kube, namespace).spec.template.spec,
        "materialization": next(iter(kube.list(CronJob, namespace=namespace))).spec.jobTemplate.spec.template.spec,
        "serving": kube.get(Deployment, SERVING, namespace=namespace).spec.template.spec,
    }
    for component, template in templates.items():
        for container in containers_of(template):
            resources = container.resources
            assert resources.requests and {"cpu", "memory"} <= set(resources.requests), (component, container.name, resources)
            assert resources.limits and {"cpu", "memory"} <= set(resources.limits), (component, container.name, resources)
    redis_container = next(c for c in templates["redis"].containers if c.name == "redis")
    assert (redis_container.resources.requests["memory"], redis_container.resources.limits["memory"]) == ("512Mi", "1Gi")
    assert [c.topologyKey for c in templates["serving"].topologySpreadConstraints] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]

    patch_spec(
        kube,
        namespace,
        {
            "serving": {"nodeSelector": {"pool": "serving"}, "resources": {"requests": {"cpu": "750m"}}, "topologySpreadConstraints": []},
            "onlineStore": {"redis": {"tolerations": [{"key": "dedicated", "value": "redis", "effect": "NoSchedule"}]}},
            "materialization": {"priorityClassName": "batch-low"},
        },
    )

    def serving_moved():
        template = kube.get(Deployment, SERVING, namespace=namespace).spec.template.spec
        return template.nodeSelector == {"pool": "serving"} and not template.topologySpreadConstraints and template

    serving = eventually(serving_moved, what="serving's new placement")
    assert serving.containers[0].resources.requests["cpu"] == "750m"
    eventually(
        lambda: [(t.key, t.value, t.effect) for t in kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.template.spec.tolerations or []]
        == [("dedicated", "redis", "NoSchedule")],
        what="Redis's toleration",
    )
    eventually(
        lambda: next(iter(kube.list(CronJob, namespace=namespace))).spec.jobTemplate.spec.template.spec.priorityClassName == "batch-low",
        what="the CronJob's priority class",
    )
