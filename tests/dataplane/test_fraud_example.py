"""The fraud example (examples/fraud) as its user runs it, on a real Redis.

The example's data generator writes the offline Parquet, the project's materialization job fills
Redis from it through the example's Feast repo, the example's model is trained into a BentoML
home, and `bentoml serve fraud_example.service:FraudService` runs as a process with the
environment a serving pod gets. Every score must be the model applied to exactly the features
Feast's own get_online_features returns for the card.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import predictflow_contract as contract
from predictflow_devtools import feast_config
from predictflow_devtools.devstack import BentoServer, LocalStack
from predictflow_devtools.paths import REPO_ROOT
from predictflow_devtools.processes import free_port
from predictflow_runtime.store import open_store

EXAMPLE = REPO_ROOT / "examples" / "fraud"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from fraud_example import data as fraud_data  # noqa: E402
from fraud_example.model import FEATURES, MODEL_FILE, MODEL_NAME, FraudModel  # noqa: E402

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(600)]

TARGET = "fraud_example.service:FraudService"
CARDS = list(range(fraud_data.FIRST_CARD_ID, fraud_data.FIRST_CARD_ID + fraud_data.DEFAULT_CARDS))
UNKNOWN_CARD = 7


def run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def stack(redis, tmp_path_factory) -> LocalStack:
    """What the operator and the example image provide, with local paths."""
    directory = tmp_path_factory.mktemp("fraud-stack")
    data = directory / "data"
    fraud_data.write(data)
    config = directory / contract.CONFIG_KEY
    config.write_text(feast_config.feature_store_yaml("fraud", redis))
    stack = LocalStack(
        directory,
        {
            contract.CONFIG_ENV: str(config),
            contract.FEATURE_REPO_ENV: str(EXAMPLE / "feature_repo"),
            contract.OFFLINE_PATH_ENV: str(data),
            contract.STORE_TYPE_ENV: "redis",
            **feast_config.credentials_env(redis),
            "BENTOML_HOME": str(directory / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "PYTHONPATH": str(EXAMPLE),
        },
    )
    materialize = stack.process_env(**{contract.WORK_DIR_ENV: str(directory / "materialize-work")})
    run([sys.executable, "-m", "predictflow_runtime.materialize", "--full"], materialize, "materialization")
    run([sys.executable, "-m", "fraud_example.model", "--data", str(data)], stack.process_env(), "training")
    return stack


@pytest.fixture(scope="module")
def service(stack: LocalStack) -> Iterator[BentoServer]:
    server = BentoServer(
        TARGET,
        free_port(),
        stack.process_env(**{contract.WORK_DIR_ENV: str(stack.directory / "serving-work")}),
        stack.directory / "serve.log",
    )
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(service: BentoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def model(stack: LocalStack) -> FraudModel:
    (saved,) = (stack.directory / "bentoml" / "models" / MODEL_NAME).glob(f"*/{MODEL_FILE}")
    return FraudModel.from_json(saved.read_text())


@pytest.fixture(scope="module")
def feast_features(stack: LocalStack) -> dict[int, dict[str, Any]]:
    """Feast's own online read of the repo's fraud_scoring FeatureService, for every card."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.env.items():
            patch.setenv(name, value)
        store = open_store(work_dir=stack.directory / "feast-work")
        answer = store.get_online_features(
            features=store.get_feature_service("fraud_scoring"),
            entity_rows=[{"card_id": card} for card in CARDS],
        ).to_dict()
    assert sorted(answer) == sorted(("card_id", *FEATURES))
    return {card: {name: answer[name][i] for name in FEATURES} for i, card in enumerate(answer["card_id"])}


def score(client: httpx.Client, **body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post("/score", json=body)
    return response.status_code, response.json()


def test_a_card_is_scored_on_the_features_feast_serves(client, feast_features, model) -> None:
    newest = fraud_data.newest_activity(fraud_data.generate()[0])
    for card in CARDS[:5]:
        status, body = score(client, card_id=card)
        assert status == 200, body
        assert body["features"] == feast_features[card]
        assert body["fraud_score"] == pytest.approx(model.score(feast_features[card]), rel=1e-12)
        assert body["stale"] is False
        # and what Feast serves is the generator's newest snapshot of the card
        assert body["features"] == {name: newest.loc[card, name].item() for name in FEATURES}


def test_a_batch_scores_every_card_and_the_fraudulent_ones_score_higher(client, feast_features, model) -> None:
    status, body = score(client, card_ids=CARDS)
    assert status == 200, body
    assert body["stale"] is False
    answers = body["scores"]
    assert [answer["card_id"] for answer in answers] == CARDS
    for answer in answers:
        expected = feast_features[answer["card_id"]]
        assert answer["found"] is True and answer["features"] == expected, answer
        assert answer["fraud_score"] == pytest.approx(model.score(expected), rel=1e-12)
    labels = fraud_data.generate()[1].set_index("card_id")["fraud"].to_dict()
    fraudulent = [a["fraud_score"] for a in answers if labels[a["card_id"]]]
    honest = [a["fraud_score"] for a in answers if not labels[a["card_id"]]]
    assert sum(fraudulent) / len(fraudulent) > 0.5 > 5 * sum(honest) / len(honest), (len(fraudulent), len(honest))


def test_an_unknown_card_is_404_alone_and_not_found_in_a_batch(client) -> None:
    status, body = score(client, card_id=UNKNOWN_CARD)
    assert status == 404, body
    assert body["card_id"] == UNKNOWN_CARD
    status, body = score(client, card_ids=[CARDS[0], UNKNOWN_CARD])
    assert status == 200, body
    assert [(a["card_id"], a["found"], a["fraud_score"]) for a in body["scores"]][1] == (UNKNOWN_CARD, False, None)
    assert body["scores"][0]["found"] is True


def test_a_body_names_exactly_one_of_card_id_and_card_ids(client) -> None:
    assert score(client)[0] == 400
    assert score(client, card_id=CARDS[0], card_ids=[CARDS[1]])[0] == 400


def wait_for(check, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.2)


def test_probes_follow_the_store_and_answers_go_stale_while_it_hangs(client, service, redis) -> None:
    """The probes are the library's ready()/alive(); onStoreDown=stale (the default) is its too."""
    assert service.status(contract.READY_PATH) == 200
    assert service.status(contract.LIVE_PATH) == 200
    status, before = score(client, card_id=CARDS[0])
    assert status == 200, before

    os.kill(redis._proc.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        started = time.monotonic()
        assert service.status(contract.READY_PATH, timeout=5) == 503
        assert service.status(contract.LIVE_PATH, timeout=5) == 503
        assert time.monotonic() - started < 4, "the probes must answer within their own timeout"
        status, stale = score(client, card_id=CARDS[0])
        assert status == 200, stale
        assert stale["stale"] is True and stale["fraud_score"] == before["fraud_score"]
        status, body = score(client, card_ids=[CARDS[0], UNKNOWN_CARD])
        assert status == 503, body
        assert body["missing"] == [UNKNOWN_CARD]
    finally:
        os.kill(redis._proc.pid, signal.SIGCONT)
    wait_for(lambda: service.status(contract.READY_PATH) == 200, "ready again once Redis answers")
    status, body = score(client, card_id=CARDS[0])
    assert status == 200 and body["stale"] is False, body
