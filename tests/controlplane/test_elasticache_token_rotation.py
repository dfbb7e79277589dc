"""An AUTH token edit goes ROTATE, pod roll, SET, and no serving pod ever holds a token AWS refuses.

moto records no AUTH token after creation and applies a modification at once, so this module runs
moto in-process and extends exactly that: ModifyReplicationGroup with AuthToken and
AuthTokenUpdateStrategy is recorded, turns the group `modifying`, and changes the tokens the group
accepts (ROTATE: the old and the new one; SET: the new one alone) only when the modification ends,
a moment later, as AWS does. A kubelet stand-in starts each serving pod with the token its Secret key
holds at that moment, and checks all the time that every live pod's token is one the group accepts."""

import base64
import datetime
import threading
import time

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace, Pod, Secret
from lightkube.types import PatchType
from moto.core import DEFAULT_ACCOUNT_ID
from moto.elasticache import models as moto_models
from moto.elasticache import responses as moto_responses
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from predictflow_devtools import processes
from predictflow_devtools.featurestores import apply_featurestore, status
from predictflow_devtools.kubelet import finish_job_pods
from predictflow_devtools.operator_process import OperatorProcess
from predictflow_devtools.pytest_plugin import AWS_TEST_ENV
from predictflow_devtools.waiting import eventually
from predictflow_operator.builders import elasticache as builder

pytestmark = pytest.mark.controlplane
MODIFYING_SECONDS = 1.5


class AuthModel:
    """The tokens each group accepts, and the token modifications in the order AWS received them."""

    def __init__(self):
        self.accepted: dict[str, set[str]] = {}
        self.calls: list[tuple[str, str, float]] = []  # (strategy, token, when)
        self.on_set = lambda: None  # what the test checks at the moment SET arrives
        self.lock = threading.Lock()

    def install(self, monkeypatch):
        model, create, modify = self, moto_models.ElastiCacheBackend.create_replication_group, moto_responses.ElastiCacheResponse.modify_replication_group

        def created(backend, *args, **kwargs):
            group = create(backend, *args, **kwargs)
            with model.lock:
                model.accepted[kwargs["replication_group_id"]] = {kwargs["auth_token"]}
            return group

        def modified(response):
            group_id, token, strategy = (response._get_param(k) for k in ("ReplicationGroupId", "AuthToken", "AuthTokenUpdateStrategy"))
            if token:
                if strategy == "SET":
                    model.on_set()
                with model.lock:
                    model.calls.append((strategy or "ROTATE", token, time.monotonic()))
                group = response.elasticache_backend.replication_groups[group_id]
                group.status = "modifying"

                def done():
                    with model.lock:
                        model.accepted[group_id] = {token} if strategy == "SET" else model.accepted[group_id] | {token}
                    group.status = "available"

                threading.Timer(MODIFYING_SECONDS, done).start()
            return modify(response)

        monkeypatch.setattr(moto_models.ElastiCacheBackend, "create_replication_group", created)
        monkeypatch.setattr(moto_responses.ElastiCacheResponse, "modify_replication_group", modified)

    def accepts(self, group_id, token):
        with self.lock:
            return token in self.accepted.get(group_id, set())


class ServingStandIn(threading.Thread):
    """The kubelet for serving pods: each starts with the token its Secret key holds then (as a
    container's env is resolved), and every live pod's token is checked against what AWS accepts."""

    def __init__(self, kubeconfig, namespace, model):
        super().__init__(daemon=True)
        self.kube = Client(config=KubeConfig.from_file(str(kubeconfig)), field_manager="kubelet-stand-in")
        self.namespace, self.model = namespace, model
        self.tokens: dict[str, str] = {}  # pod name -> token it started with
        self.live: dict[str, str] = {}
        self.refused: list[str] = []
        self.group_id = ""
        self.stopping = threading.Event()

    def _token(self, pod):
        env = next(e for e in pod.spec.containers[0].env if e.name == "REDIS_PASSWORD")
        ref = env.valueFrom.secretKeyRef
        return base64.b64decode(self.kube.get(Secret, ref.name, namespace=self.namespace).data[ref.key]).decode()

    def _start(self, pod):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.tokens[pod.metadata.name] = self._token(pod)
        containers = [{"name": c.name, "image": c.image, "imageID": "", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": now}}}
                      for c in pod.spec.containers]
        conditions = [{"type": t, "status": "True", "lastTransitionTime": now} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
        self.kube.patch(Pod.Status, pod.metadata.name, {"status": {"phase": "Running", "startTime": now, "conditions": conditions, "containerStatuses": containers}},
                        namespace=self.namespace, patch_type=PatchType.MERGE)

    def run(self):
        while not self.stopping.is_set():
            try:
                pods = list(self.kube.list(Pod, namespace=self.namespace, labels={"app.kubernetes.io/component": "serving"}))
                for pod in pods:
                    if pod.metadata.name not in self.tokens and not pod.metadata.deletionTimestamp:
                        self._start(pod)
                self.live = {p.metadata.name: self.tokens[p.metadata.name] for p in pods if p.metadata.name in self.tokens}
                for name, token in self.live.items():
                    if self.group_id and not self.model.accepts(self.group_id, token):
                        self.refused.append(f"{name} holds a token {self.group_id} refuses")
            except ApiError:
                pass
            time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)
        self.kube.close()


@pytest.fixture
def auth_model(monkeypatch):
    model = AuthModel()
    model.install(monkeypatch)
    return model


@pytest.fixture
def aws(auth_model):
    port = processes.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    moto_models.elasticache_backends[DEFAULT_ACCOUNT_ID].reset()


def test_a_token_edit_rotates_then_rolls_then_sets_and_serving_never_loses_auth(own_plane, own_kube, aws, auth_model, tmp_path):
    kube, namespace = own_kube, "rotation"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    operator = OperatorProcess(own_plane.kubeconfig, tmp_path / "operator.log", AWS_ENDPOINT_URL=aws, PREDICTFLOW_ELASTICACHE_POLL_SECONDS="1",
                               PREDICTFLOW_CLUSTER_IDENTITY="rotation", **AWS_TEST_ENV).start()
    serving = ServingStandIn(own_plane.kubeconfig, namespace, auth_model)
    serving.start()
    try:
        apply_featurestore(kube, namespace, {
            "project": "churn", "materialization": {"suspend": True}, "serving": {"replicas": 2},
            "onlineStore": {"type": "elasticache", "elasticache": {"replicas": 0}},
        })
        job = eventually(lambda: next(iter(kube.list(Job, namespace=namespace, labels={"app.kubernetes.io/component": "backfill"})), None), what="the backfill")
        eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
        eventually(lambda: status(kube, namespace).get("phase") == "Ready", what="Ready on the managed group")
        group_id = serving.group_id = status(kube, namespace)["onlineStore"]["name"]
        old = base64.b64decode(kube.get(Secret, "churn-elasticache-auth", namespace=namespace).data["active"]).decode()
        assert set(serving.live.values()) == {old} and len(serving.live) == 2

        at_set = {}
        auth_model.on_set = lambda: at_set.update(serving.live)
        new = "rotated-token-" + "x" * 40
        kube.patch(Secret, "churn-elasticache-auth", {"stringData": {"token": new}}, namespace=namespace, patch_type=PatchType.MERGE)

        def finished():
            secret = kube.get(Secret, "churn-elasticache-auth", namespace=namespace)
            return secret.metadata.annotations[builder.TOKEN_STATE_ANNOTATION] == "Set" and auth_model.accepted[group_id] == {new} and secret

        done = eventually(finished, what="the rotation to finish", timeout=120)
        assert [(strategy, token) for strategy, token, _ in auth_model.calls] == [("ROTATE", new), ("SET", new)]
        assert at_set and set(at_set.values()) == {new}, f"SET arrived while pods still held the old token: {at_set}"
        assert base64.b64decode(done.data["active"]).decode() == new and builder.ROTATING_KEY not in done.data
        eventually(lambda: set(serving.live.values()) == {new} and len(serving.live) == 2, what="the serving pods on the new token")
        assert not serving.refused, serving.refused[:3]
        assert status(kube, namespace)["phase"] == "Ready"
    finally:
        serving.stop()
        operator.stop()
