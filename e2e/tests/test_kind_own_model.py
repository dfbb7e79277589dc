"""A user's own model on a real cluster: examples/fraud's FeatureStore names the example image as
its feature repo and its serving image, the operator materializes the image's Parquet data through
the image's Feast repo, and the serving Service scores cards with the image's model.

The expected scores are computed here, from the example's deterministic data generator and its
training code: the model the image trained at build time must give the same numbers.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kind_support import OPERATOR_NAMESPACE, REPO, Kubectl, dump_diagnostics, pod_ready, port_forward, terminal_writer

EXAMPLE = REPO / "examples" / "fraud"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from fraud_example import data as fraud_data  # noqa: E402
from fraud_example.model import FEATURES, FraudModel, train  # noqa: E402

pytestmark = [pytest.mark.kind, pytest.mark.timeout(600)]

VERSION = os.environ.get("PREDICTFLOW_E2E_IMAGE_VERSION", "0.1.0")
FRAUD_IMAGE = f"predictflow/fraud-example:{VERSION}"
REDIS_IMAGE = f"predictflow/redis:{VERSION}"
NAME = "fraud"
SERVING = f"{NAME}-serving"
SERVING_SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=serving"
CARDS = [fraud_data.FIRST_CARD_ID + offset for offset in (0, 1, 2, 17, 250, fraud_data.DEFAULT_CARDS - 1)]
UNKNOWN_CARD = 7


@pytest.fixture(scope="module")
def ns(kube: Kubectl, operator: None) -> Iterator[Kubectl]:
    namespace = f"pf-fraud-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    try:
        yield kube.in_namespace(namespace)
    finally:
        # While the operator still runs, so that it can release the FeatureStore's finalizer.
        for args in (["featurestores", "--all", "-n", namespace], ["namespace", namespace]):
            kube.run("delete", *args, "--wait=true", "--timeout=180s", timeout=200, check=False)


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    return terminal_writer(request.config)


@pytest.fixture(autouse=True)
def diagnostics_on_failure(request: pytest.FixtureRequest, ns: Kubectl, report: Callable[[str], None]) -> Iterator[None]:
    yield
    outcome = getattr(request.node, "report_call", None)
    if outcome is not None and outcome.failed:
        cache = Path(os.environ.get("PREDICTFLOW_CACHE", Path.home() / ".cache" / "predictflow"))
        directory = cache / "kind" / "logs" / f"{request.node.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        dump_diagnostics(ns, [ns.namespace, OPERATOR_NAMESPACE], directory)
        report(f"{request.node.name} failed; cluster state and logs in {directory}")


@pytest.fixture(scope="module")
def featurestore(ns: Kubectl, report: Callable[[str], None]) -> dict[str, Any]:
    """examples/fraud/featurestore.yaml as a user applies it, Ready; Redis from the project's image
    (kind has no registry for redis:7-alpine) and the image tags of this build."""
    example = yaml.safe_load((EXAMPLE / "featurestore.yaml").read_text())
    assert example["metadata"]["name"] == NAME
    spec = example["spec"]
    for part in (spec["featureRepo"], spec["serving"]):
        part["image"] = part["image"].rsplit(":", 1)[0] + f":{VERSION}"
        assert part["image"] == FRAUD_IMAGE
    spec["onlineStore"].setdefault("redis", {})["image"] = REDIS_IMAGE
    example["metadata"]["namespace"] = ns.namespace
    started = time.monotonic()
    ns.apply(example)
    ns.run("wait", "--for=condition=Ready", f"featurestore/{NAME}", "--timeout=420s", timeout=440)
    report(f"fraud FeatureStore Ready {time.monotonic() - started:.0f}s after kubectl apply")
    return ns.json("get", "featurestore", NAME)


@pytest.fixture(scope="module")
def expected() -> tuple[dict[int, dict[str, Any]], FraudModel]:
    """Each card's newest offline aggregates and the model trained on the generator's data."""
    activity, labels = fraud_data.generate()
    newest = fraud_data.newest_activity(activity)[list(FEATURES)].to_dict("index")
    return {int(card): features for card, features in newest.items()}, train(activity, labels)


@pytest.fixture(scope="module")
def serving_url(ns: Kubectl, featurestore: dict[str, Any], e2e_log_dir: Path) -> Iterator[str]:
    with port_forward(ns, f"svc/{SERVING}", 3000, e2e_log_dir) as url:
        yield url


def test_the_featurestore_runs_the_users_image(ns: Kubectl, featurestore: dict[str, Any]) -> None:
    status = featurestore["status"]
    assert status["phase"] == "Ready"
    assert status["lastMaterialization"]["succeeded"] is True
    template = ns.json("get", "deployment", SERVING)["spec"]["template"]["spec"]
    assert [c["image"] for c in template["containers"]] == [FRAUD_IMAGE]
    # the Feast repo and its data come out of the same image, copied in before the service starts
    assert [(c["name"], c["image"]) for c in template.get("initContainers", [])] == [("feature-repo", FRAUD_IMAGE)]
    pods = [p for p in ns.items("pods", "-l", SERVING_SELECTOR) if pod_ready(p)]
    assert pods, "no ready serving pod"
    for pod in pods:
        (running,) = pod["status"]["containerStatuses"]
        assert running["image"].endswith(FRAUD_IMAGE) and running["ready"], running


def test_cards_are_scored_by_the_images_model_over_their_offline_features(serving_url: str, expected) -> None:
    features, model = expected
    for card in CARDS:
        response = httpx.post(f"{serving_url}/score", json={"card_id": card}, timeout=10)
        assert response.status_code == 200, f"card {card}: {response.status_code} {response.text}"
        body = response.json()
        assert body["card_id"] == card and body["stale"] is False, body
        assert body["features"] == pytest.approx(features[card]), f"card {card}"
        assert body["fraud_score"] == pytest.approx(model.score(features[card]), rel=1e-9), f"card {card}: {body}"

    response = httpx.post(f"{serving_url}/score", json={"card_ids": [*CARDS, UNKNOWN_CARD]}, timeout=10)
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    assert [(s["card_id"], s["found"]) for s in scores] == [*((card, True) for card in CARDS), (UNKNOWN_CARD, False)]
    for answer in scores[:-1]:
        assert answer["fraud_score"] == pytest.approx(model.score(features[answer["card_id"]]), rel=1e-9)


def test_an_unknown_card_is_not_found(serving_url: str) -> None:
    response = httpx.post(f"{serving_url}/score", json={"card_id": UNKNOWN_CARD}, timeout=10)
    assert response.status_code == 404, response.text
