"""The predictflow-serving wheel, installed alone into a fresh virtualenv, reads what Feast reads.

The wheel (images/library_wheel.py) goes into a virtualenv outside the checkout with its
dependencies only (no PYTHONPATH into the repository, no BentoML). A script run by that venv's
python opens FeatureClient from the operator's environment against a real redis-server filled
by the materialization job and compares every answer with Feast's get_online_features: by
feature references and by feature service, one row at a time and in a batch. Then the
redis-server is stopped and the same clients must answer from the stale cache, or raise
StoreUnavailable.

The dependency wheels are built once (pinned to the project venv's `pip freeze`) into
~/.cache/predictflow/library-deps/<key>/ and installed from there with --no-index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

from predictflow_devtools.devstack import prepare_stack
from predictflow_devtools.paths import CHURN_REPO, REPO_ROOT

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(900)]

CACHE = Path(os.environ.get("PREDICTFLOW_CACHE") or Path.home() / ".cache" / "predictflow")
FEATURE_SERVICE = "churn_scoring"
# A feature service over part of the churn view, in another order than the view's schema.
FEATURE_SERVICE_DEFINITION = f'''

from feast import FeatureService

churn_scoring = FeatureService(
    name="{FEATURE_SERVICE}",
    features=[churn_features[["support_tickets_90d", "contract_type", "tenure_months"]]],
)
'''

CLIENT_SCRIPT = r"""
import asyncio, json, os, sys, time

import predictflow_serving
from predictflow_runtime.store import open_store
from predictflow_serving.client import FeatureClient, StoreUnavailable

REFERENCES = ["churn_features:tenure_months", "churn_features:monthly_charges", "churn_features:total_charges",
              "churn_features:contract_type", "churn_features:support_tickets_90d"]
SERVICE = sys.argv[1]
KNOWN, UNKNOWN = [1001, 1002, 1003, 1500], [99, 5_000_000]
ROWS = [{"customer_id": c} for c in KNOWN + UNKNOWN + KNOWN[:1]]
checks = {"compared_values": 0}


def same(ours, theirs):
    return (ours is None and theirs is None) or (type(ours) is type(theirs) and ours == theirs)


def compare(client, results, theirs, label):
    assert len(results) == len(ROWS), label
    for i, result in enumerate(results):
        for name in client.feature_names:
            assert same(result.features[name], theirs[name][i]), (label, ROWS[i], name, result.features[name], theirs[name][i])
            moment = result.event_timestamps["churn_features"]
            assert (int(moment.timestamp()) if moment else 0) == theirs[name + "__ts"][i], (label, ROWS[i], name)
            checks["compared_values"] += 1
        assert result.found is (ROWS[i]["customer_id"] in KNOWN) and result.stale is False, (label, ROWS[i])


async def timed(call):
    started = time.monotonic()
    try:
        return await call, time.monotonic() - started
    except StoreUnavailable as error:
        return error, time.monotonic() - started


async def main():
    store = open_store()
    by_reference = FeatureClient.from_env(features=REFERENCES)
    by_service = FeatureClient.from_env(feature_service=SERVICE)
    unavailable = FeatureClient.from_env(features=REFERENCES, environ={**os.environ, "PREDICTFLOW_ON_STORE_DOWN": "unavailable"})
    assert by_service.feature_names == ("support_tickets_90d", "contract_type", "tenure_months"), by_service.feature_names

    fresh = {}
    for label, client, features in (("references", by_reference, REFERENCES),
                                    ("feature_service", by_service, store.get_feature_service(SERVICE))):
        theirs = store.get_online_features(features=features, entity_rows=ROWS).to_dict(include_event_timestamps=True)
        compare(client, [await client.get(row) for row in ROWS], theirs, label + "/single")
        batch = await client.get_many(ROWS)
        compare(client, batch, theirs, label + "/batch")
        fresh[label] = {row["customer_id"]: result.features for row, result in zip(ROWS, batch)}
    await unavailable.get_many(ROWS)
    for client in (by_reference, by_service, unavailable):
        assert await client.ready() and await client.alive()

    print("STOP REDIS", flush=True)
    assert sys.stdin.readline().strip() == "stopped"

    outage = {}
    for label, client in (("references", by_reference), ("feature_service", by_service)):
        for attempt in ("meets the failure", "meets the open breaker"):
            result, elapsed = await timed(client.get({"customer_id": KNOWN[0]}))
            assert not isinstance(result, StoreUnavailable), (label, attempt, result)
            assert result.stale and result.found and result.features == fresh[label][KNOWN[0]], (label, attempt, result)
            outage[f"{label}: get ({attempt}) s"] = round(elapsed, 3)
        results, elapsed = await timed(client.get_many([{"customer_id": c} for c in KNOWN]))
        assert [r.stale for r in results] == [True] * len(KNOWN), label
        assert [r.features for r in results] == [fresh[label][c] for c in KNOWN], label
        assert results[0].event_timestamps["churn_features"] is not None, label
        error, elapsed = await timed(client.get_many([{"customer_id": c} for c in [UNKNOWN[0], KNOWN[1], UNKNOWN[0], 4242]]))
        assert isinstance(error, StoreUnavailable), (label, error)
        assert error.missing == ({"customer_id": UNKNOWN[0]}, {"customer_id": 4242}), (label, error.missing)

    error, elapsed = await timed(unavailable.get({"customer_id": KNOWN[0]}))
    assert isinstance(error, StoreUnavailable) and error.missing == () and "unreachable" in error.reason, error
    outage["unavailable: get s"] = round(elapsed, 3)
    for name in ("ready", "alive"):
        started = time.monotonic()
        assert await getattr(by_reference, name)() is False, name
        outage[f"{name} s"] = round(time.monotonic() - started, 3)
    for client in (by_reference, by_service, unavailable):
        await client.aclose()
    checks.update(module=predictflow_serving.__file__, outage=outage)
    print("CHECKS " + json.dumps(checks), flush=True)


asyncio.run(main())
"""


def _run(args: list[str], **kwargs) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{args[:4]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


@pytest.fixture(scope="module")
def timings() -> dict[str, float]:
    measured: dict[str, float] = {}
    yield measured
    print("\nserving library test timings (s): " + json.dumps({k: round(v, 1) for k, v in measured.items()}))


@pytest.fixture(scope="module")
def library_wheel(timings) -> Path:
    started = time.monotonic()
    wheel = Path(_run([sys.executable, str(REPO_ROOT / "images" / "library_wheel.py")], cwd=REPO_ROOT).strip().splitlines()[-1])
    timings["wheel"] = time.monotonic() - started
    return wheel


@pytest.fixture(scope="module")
def dependency_wheels(library_wheel, timings, tmp_path_factory) -> Path:
    """The wheel's dependencies as wheels, at the project venv's versions, built once."""
    started = time.monotonic()
    freeze = [line for line in _run([sys.executable, "-m", "pip", "freeze", "--all"]).splitlines() if "==" in line]
    requirements = _requirements(library_wheel)
    key = hashlib.sha256("\n".join(requirements + ["--"] + freeze).encode()).hexdigest()[:16]
    directory = CACHE / "library-deps" / key
    if not (directory / "complete").exists():
        partial = directory.with_name(key + ".partial")
        for leftover in (partial, directory):  # an interrupted build
            shutil.rmtree(leftover, ignore_errors=True)
        constraints = tmp_path_factory.mktemp("constraints") / "constraints.txt"
        constraints.write_text("\n".join(freeze) + "\n")
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(partial), "--constraint", str(constraints), *requirements])
        (partial / "complete").write_text("\n".join(requirements) + "\n")
        partial.rename(directory)
    timings["dependency wheels"] = time.monotonic() - started
    return directory


@pytest.fixture(scope="module")
def library_venv(library_wheel, dependency_wheels, timings, tmp_path_factory) -> Path:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("library-venv")
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    # The project's pip installs into the new venv (`--python`): no ensurepip run per test.
    install = ["install", "--quiet", "--no-index", "--no-compile", "--find-links", str(dependency_wheels), str(library_wheel)]
    _run([sys.executable, "-m", "pip", "--python", str(python), *install])
    timings["venv install"] = time.monotonic() - started
    return python


@pytest.fixture(scope="module")
def stack(redis, tmp_path_factory):
    return prepare_stack(tmp_path_factory.mktemp("library-stack"), redis)


@pytest.fixture(scope="module")
def feature_repo(tmp_path_factory) -> Path:
    """The churn definitions plus a FeatureService, as a user's repo would hold them."""
    repo = tmp_path_factory.mktemp("user-feature-repo")
    (repo / "definitions.py").write_text((CHURN_REPO / "definitions.py").read_text() + FEATURE_SERVICE_DEFINITION)
    return repo


def client_env(stack, feature_repo: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH" and not name.startswith("PREDICTFLOW_")}
    env.update(stack.env)
    env["PREDICTFLOW_FEATURE_REPO"] = str(feature_repo)
    return env


def test_the_wheel_installs_without_operator_libraries_or_bentoml(library_venv):
    probe = "import importlib.util as u; print([m for m in ('kopf', 'lightkube', 'bentoml', 'boto3') if u.find_spec(m)])"
    assert _run([str(library_venv), "-c", probe], cwd=library_venv.parent).strip() == "[]"
    _run([sys.executable, "-m", "pip", "--python", str(library_venv), "check"])  # every dependency is satisfied


def test_feature_client_from_the_wheel_equals_feast_and_answers_stale_when_redis_stops(library_venv, stack, feature_repo, redis, timings, tmp_path):
    script = tmp_path / "use_feature_client.py"
    script.write_text(CLIENT_SCRIPT)
    stderr = tmp_path / "client.stderr"
    started = time.monotonic()
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [str(library_venv), str(script), FEATURE_SERVICE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=tmp_path,
            env=client_env(stack, feature_repo),
        )
        try:
            line = process.stdout.readline()
            assert line.strip() == "STOP REDIS", f"{line}\n{stderr.read_text()[-4000:]}"
            redis.stop()
            process.stdin.write("stopped\n")
            process.stdin.flush()
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            redis.start()
    timings["client script"] = time.monotonic() - started
    assert process.returncode == 0, stderr.read_text()[-4000:]
    [report] = [line for line in output.splitlines() if line.startswith("CHECKS ")]
    checks = json.loads(report.removeprefix("CHECKS "))
    assert Path(checks["module"]).is_relative_to(library_venv.parent.parent), checks["module"]
    # 2 clients x (single + batch) x 7 rows x their features (5 and 3)
    assert checks["compared_values"] == 2 * 7 * (5 + 3)
    outage = checks["outage"]
    assert all(seconds < 1.0 for name, seconds in outage.items() if "get" in name), outage
    assert outage["ready s"] < 2.0 and outage["alive s"] < 2.0, outage
    print(f"\noutage timings (s): {outage}")
