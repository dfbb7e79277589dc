"""The switch state machine, transition by transition: decide() is pure, so each row is a table entry.

A "restart" is decide() called again on the status a previous pass wrote: nothing else carries state.
"""

import pytest

from predictflow_operator.api.models import FeatureStoreSpec, FeatureStoreStatus, SecretKeyRef, StoreRecord
from predictflow_operator.builders import elasticache, redis
from predictflow_operator.builders.common import Owner
from predictflow_operator.builders.store import store_key, store_label
from predictflow_operator.api.models import ElastiCacheStore
from predictflow_operator.reconcilers.materialization import JobState
from predictflow_operator.reconcilers.serving import ServingState
from predictflow_operator.reconcilers.store import StoreObservation
from predictflow_operator.reconcilers.switch import (
    CollectConfigs,
    DeleteJob,
    Observed,
    Provision,
    Retire,
    Serve,
    StartBackfill,
    decide,
)

pytestmark = pytest.mark.unit
OWNER = Owner("churn", "ml", "uid-1")
REDIS = redis.record(OWNER, FeatureStoreSpec(project="churn"))
EXISTING = elasticache.existing_record(ElastiCacheStore(mode="existing", endpoint="master.example:6379", auth_secret_ref=SecretKeyRef(name="ec", key="token")))
OTHER_EXISTING = EXISTING.model_copy(update={"endpoint": "other.example:6379"})
MANAGED_DELETE = elasticache.managed_record(OWNER, ElastiCacheStore(deletion_policy="Delete"))

READY = StoreObservation(True, "Ready", "ready", secret_checksum="sum")
STARTING = StoreObservation(False, "Starting", "starting", secret_checksum="sum")
GONE = StoreObservation(False, "Gone", "gone", gone=True)
ROWS = {"rows": 2000, "sourceRows": 2000}


def job_name(record):
    return f"backfill-{record.type}-{record.generation}"


def job(record, phase, report=None, **extra):
    return JobState(job_name(record), phase, store=store_label(record), report=report, **extra)


def serving(on=None, done=True):
    return ServingState(True, on is not None, store_label(on) if on else "", done, 1 if done else 0, 1)


def observed(desired, stores=None, jobs=(), on=None, done=True):
    return Observed(
        desired=desired,
        stores={store_key(r): seen for r, seen in (stores or {desired: READY}).items()},
        jobs={j.name: j for j in jobs},
        serving=serving(on, done),
        backfill_name=job_name,
    )


def status(active=None, pending=None, retiring=()):
    return FeatureStoreStatus(
        online_store=active or StoreRecord(), pending_online_store=pending or StoreRecord(), retiring_online_stores=list(retiring)
    )


def at(record, state, generation=1, **update):
    record = record.model_copy(update={"state": state, "generation": generation, **update})
    if state in ("Backfilling", "Verifying") and not record.backfill_job:
        record = record.model_copy(update={"backfill_job": job_name(record)})
    return record


def starts_backfill(decision, compare=None):
    """One backfill into the pending store, comparing with the serving one (whatever its state)."""
    starts = [a for a in decision.actions if isinstance(a, StartBackfill)]
    wanted = compare or decision.active
    return len(starts) == 1 and starts[0].record == decision.pending and (
        store_key(starts[0].compare) == store_key(wanted) if wanted else starts[0].compare is None
    )


def kinds(decision):
    return [type(a).__name__ for a in decision.actions]


def as_status(decision):
    return status(decision.active, decision.pending, decision.retiring)


# --- the first store --------------------------------------------------------------------------


def test_first_store_is_provisioned_and_nothing_serves_yet():
    d = decide(status(), 1, observed(REDIS, {REDIS: STARTING}))
    assert d.active is None and d.pending.state == "Provisioning" and d.pending.generation == 1
    assert kinds(d) == ["Provision", "CollectConfigs"]
    assert d.progress.reason == "Starting" and not d.failed


def test_first_store_ready_starts_its_backfill():
    d = decide(status(pending=at(REDIS, "Provisioning")), 1, observed(REDIS))
    assert d.pending.state == "Backfilling" and d.pending.backfill_job == "backfill-redis-1"
    assert starts_backfill(d) and not any(isinstance(a, Serve) for a in d.actions)


def test_a_running_backfill_is_waited_for():
    pending = at(REDIS, "Backfilling")
    d = decide(status(pending=pending), 1, observed(REDIS, jobs=[job(pending, "Running")]))
    assert d.pending == pending and d.progress.reason == "BackfillRunning" and kinds(d) == ["Provision", "CollectConfigs"]


def test_a_verified_backfill_cuts_the_first_store_over():
    pending = at(REDIS, "Backfilling")
    d = decide(status(pending=pending), 1, observed(REDIS, jobs=[job(pending, "Succeeded", ROWS)], on=None))
    # no serving pod exists that could read another store, so the cutover is complete at once
    assert d.pending is None and d.active.state == "Serving" and d.active.backfill_job == pending.backfill_job
    assert Serve(d.active, "sum") in d.actions
    assert [e.reason for e in d.events] == ["SwitchedOnlineStore"] and "wrote 2000 rows" in d.events[0].message


def test_cutting_over_ends_once_every_serving_pod_runs_on_the_new_store():
    active = at(REDIS, "CuttingOver")
    rolling = decide(status(active), 1, observed(REDIS, on=None))  # no Deployment yet: nothing reads another store
    assert rolling.active.state == "Serving"
    old_pods = decide(status(active), 1, observed(REDIS, on=EXISTING))
    assert old_pods.active.state == "CuttingOver"
    unfinished = decide(status(active), 1, observed(REDIS, on=REDIS, done=False))
    assert unfinished.active.state == "CuttingOver"


# --- a switch ---------------------------------------------------------------------------------


def serving_redis():
    return at(REDIS, "Serving")


def test_a_type_change_prepares_the_new_store_while_the_old_one_serves():
    d = decide(status(serving_redis()), 2, observed(EXISTING, {EXISTING: STARTING, REDIS: READY}, on=REDIS))
    assert d.active == serving_redis() and d.pending.type == "elasticache" and d.pending.state == "Provisioning"
    assert d.pending.generation == 2
    assert Provision(EXISTING) in d.actions and Serve(serving_redis(), "sum") in d.actions


def test_the_switch_cuts_over_after_a_verified_backfill_and_retires_the_old_store_after_the_rollout():
    pending = at(EXISTING, "Backfilling", 2)
    stores = {EXISTING: READY, REDIS: READY}
    cut = decide(status(serving_redis(), pending), 2, observed(EXISTING, stores, [job(pending, "Succeeded", ROWS)], on=REDIS))
    assert cut.active.type == "elasticache" and cut.active.state == "CuttingOver" and cut.pending is None
    assert [r.type for r in cut.retiring] == ["redis"] and cut.retiring[0].state == "Retiring"
    assert not any(isinstance(a, Retire) for a in cut.actions), "the old store stays while pods still read it"

    rolled = decide(as_status(cut), 2, observed(EXISTING, stores, on=EXISTING))
    assert rolled.active.state == "Serving"
    assert Retire(cut.retiring[0]) in rolled.actions and rolled.retiring == cut.retiring  # until it is gone

    gone = decide(as_status(rolled), 2, observed(EXISTING, {EXISTING: READY, REDIS: GONE}, on=EXISTING))
    assert gone.retiring == [] and not any(isinstance(a, Retire) for a in gone.actions)
    assert CollectConfigs((gone.active,)) in gone.actions


def test_a_failed_backfill_keeps_serving_on_the_old_store():
    pending = at(EXISTING, "Backfilling", 2)
    failed = job(pending, "Failed", message="BackoffLimitExceeded: connection refused")
    d = decide(status(serving_redis(), pending), 2, observed(EXISTING, {EXISTING: READY, REDIS: READY}, [failed], on=REDIS))
    assert d.failed and d.progress.reason == "BackfillFailed" and "connection refused" in d.progress.message
    assert d.active == serving_redis() and d.pending == pending
    assert Serve(serving_redis(), "sum") in d.actions and not any(isinstance(a, StartBackfill) for a in d.actions)


def test_a_switchs_backfill_compares_a_sample_with_the_serving_store():
    d = decide(status(serving_redis(), at(EXISTING, "Provisioning", 2)), 2, observed(EXISTING, {EXISTING: READY, REDIS: READY}, on=REDIS))
    assert starts_backfill(d, compare=serving_redis())


def test_a_backfill_whose_sample_reads_differently_from_the_serving_store_is_never_cut_over():
    pending = at(EXISTING, "Backfilling", 2)
    differs = job(pending, "Succeeded", {**ROWS, "compared": {"sampled": 100, "mismatched": 3, "examples": [{"customer_id": 1007}]}})
    d = decide(status(serving_redis(), pending), 2, observed(EXISTING, {EXISTING: READY, REDIS: READY}, [differs], on=REDIS))
    assert d.failed and d.progress.reason == "BackfillMismatch" and "3 of 100 sampled entities" in d.progress.message
    assert d.active == serving_redis() and d.pending.state == "Verifying"
    same = job(pending, "Succeeded", {**ROWS, "compared": {"sampled": 100, "mismatched": 0}})
    cut = decide(status(serving_redis(), pending), 2, observed(EXISTING, {EXISTING: READY, REDIS: READY}, [same], on=REDIS))
    assert cut.active.type == "elasticache" and "100 sampled entities read the same from both stores" in cut.events[0].message
    unreadable = job(pending, "Succeeded", {**ROWS, "compared": {"error": "Connection refused"}})
    anyway = decide(status(serving_redis(), pending), 2, observed(EXISTING, {EXISTING: READY, REDIS: READY}, [unreadable], on=REDIS))
    assert anyway.active.type == "elasticache" and "could not be compared" in anyway.events[0].message


def test_a_backfill_that_wrote_zero_rows_over_a_full_source_is_never_cut_over():
    pending = at(EXISTING, "Backfilling", 2)
    empty = job(pending, "Succeeded", {"rows": 0, "sourceRows": 5000})
    d = decide(status(serving_redis(), pending), 2, observed(EXISTING, {EXISTING: READY, REDIS: READY}, [empty], on=REDIS))
    assert d.failed and d.progress.reason == "BackfillEmpty"
    assert "wrote 0 rows but the offline source holds 5000 rows" in d.progress.message
    assert d.active == serving_redis() and d.pending.state == "Verifying"


def test_an_empty_source_is_not_a_failure_and_an_unreported_backfill_is_not_trusted():
    pending = at(REDIS, "Backfilling")
    empty_source = decide(status(pending=pending), 1, observed(REDIS, jobs=[job(pending, "Succeeded", {"rows": 0, "sourceRows": 0})]))
    assert empty_source.active is not None and "holds none" in empty_source.events[0].message
    silent = decide(status(pending=pending), 1, observed(REDIS, jobs=[job(pending, "Succeeded", None)]))
    assert silent.active is None and silent.failed and silent.progress.reason == "BackfillUnverified"


@pytest.mark.parametrize("state", ["Provisioning", "Backfilling", "Verifying"])
def test_reverting_the_spec_cancels_the_switch_from_any_state(state):
    pending = at(EXISTING, state, 2)
    running = job(pending, "Running")
    d = decide(status(serving_redis(), pending), 3, observed(REDIS, {REDIS: READY, EXISTING: READY}, [running], on=REDIS))
    assert d.pending is None and d.active == serving_redis()
    assert [r.endpoint for r in d.retiring] == [] or d.retiring[0].state == "Retiring"
    assert Retire(pending.model_copy(update={"state": "Retiring"})) in d.actions  # an adopted endpoint: let go at once
    assert DeleteJob(running.name, "the spec no longer needs this backfill") in d.actions
    assert [e.reason for e in d.events] == ["SwitchCancelled"]


def test_editing_the_pending_store_mid_switch_retargets_it():
    pending = at(EXISTING, "Backfilling", 2)
    running = job(pending, "Running")
    d = decide(status(serving_redis(), pending), 3, observed(OTHER_EXISTING, {OTHER_EXISTING: READY, REDIS: READY}, [running], on=REDIS))
    assert d.pending.endpoint == "other.example:6379" and d.pending.generation == 3
    assert d.pending.state == "Backfilling" and starts_backfill(d)
    assert DeleteJob(running.name, "the spec no longer needs this backfill") in d.actions
    assert [e.reason for e in d.events] == ["SwitchRetargeted"]


def test_switching_back_to_a_store_that_is_still_retiring_rescues_it_and_backfills_it_again():
    retiring = at(REDIS, "Retiring", 1)
    active = at(EXISTING, "CuttingOver", 2)
    old_backfill = job(at(REDIS, "Backfilling", 1), "Succeeded", ROWS)
    d = decide(status(active, retiring=[retiring]), 3, observed(REDIS, {REDIS: READY, EXISTING: READY}, [old_backfill], on=EXISTING))
    assert d.retiring == [] and not any(isinstance(a, Retire) for a in d.actions)
    assert d.pending.type == "redis" and d.pending.generation == 3
    assert d.pending.backfill_job == "backfill-redis-3" != old_backfill.name
    assert starts_backfill(d)


def test_retiring_uses_the_recorded_store_never_todays_spec():
    """Back from an adopted endpoint to redis, with the elasticache block now defaulted to managed mode."""
    retiring = at(EXISTING, "Retiring", 2)
    d = decide(status(serving_redis(), retiring=[retiring]), 4, observed(REDIS, {REDIS: READY, EXISTING: READY}, on=REDIS))
    (retire,) = [a for a in d.actions if isinstance(a, Retire)]
    assert retire.record.mode == "existing" and retire.record.deletion_policy == "Retain"
    assert d.retiring == []  # nothing to wait for: an adopted endpoint is never deleted


def test_a_managed_group_recorded_with_delete_is_kept_in_status_until_it_is_gone():
    retiring = at(MANAGED_DELETE, "Retiring", 2)
    waiting = decide(status(serving_redis(), retiring=[retiring]), 4, observed(REDIS, {REDIS: READY, MANAGED_DELETE: READY}, on=REDIS))
    assert Retire(retiring) in waiting.actions and waiting.retiring == [retiring]
    gone = decide(as_status(waiting), 4, observed(REDIS, {REDIS: READY, MANAGED_DELETE: GONE}, on=REDIS))
    assert gone.retiring == []


def test_a_store_that_errors_while_serving_keeps_serving_and_starts_no_switch():
    down = StoreObservation(False, "RedisStarting", "Waiting for the Redis primary pod (0/1 pods ready)", secret_checksum="sum")
    d = decide(status(serving_redis()), 1, observed(REDIS, {REDIS: down}, on=REDIS))
    assert d.pending is None and d.active == serving_redis() and Serve(serving_redis(), "sum") in d.actions


def test_a_pending_store_that_will_not_come_up_is_a_failure_that_keeps_serving():
    missing = StoreObservation(False, "AuthSecretMissing", "Secret ec with key token not found", error=True)
    d = decide(status(serving_redis()), 2, observed(EXISTING, {EXISTING: missing, REDIS: READY}, on=REDIS))
    assert d.failed and d.pending.state == "Provisioning" and d.active == serving_redis()


def test_a_change_of_what_the_backfill_is_for_starts_a_new_one():
    pending = at(EXISTING, "Backfilling", 2, backfill_job="backfill-for-the-old-repo")
    old = JobState("backfill-for-the-old-repo", "Running", store=store_label(pending))
    d = decide(status(serving_redis(), pending), 3, observed(EXISTING, {EXISTING: READY, REDIS: READY}, [old], on=REDIS))
    assert d.pending.backfill_job == "backfill-elasticache-2"
    assert starts_backfill(d) and DeleteJob(old.name, "the spec no longer needs this backfill") in d.actions


def test_a_managed_groups_endpoint_is_recorded_once_aws_reports_it():
    managed = elasticache.managed_record(OWNER, ElastiCacheStore())
    available = StoreObservation(True, "Available", "available", endpoint="pf.cache.example:6379", secret_checksum="t")
    d = decide(status(serving_redis()), 2, observed(managed, {managed: available, REDIS: READY}, on=REDIS))
    assert d.pending.endpoint == "pf.cache.example:6379" and d.pending.state == "Backfilling"


# --- restarts: every step is a fixed point of its own output -------------------------------------

STEPS = {
    "provisioning": (status(serving_redis(), at(EXISTING, "Provisioning", 2)), observed(EXISTING, {EXISTING: STARTING, REDIS: READY}, on=REDIS)),
    "backfilling": (status(serving_redis(), at(EXISTING, "Backfilling", 2)), observed(EXISTING, {EXISTING: READY, REDIS: READY}, [job(at(EXISTING, "Backfilling", 2), "Running")], on=REDIS)),
    "verifying-failed": (status(serving_redis(), at(EXISTING, "Verifying", 2)), observed(EXISTING, {EXISTING: READY, REDIS: READY}, [job(at(EXISTING, "Backfilling", 2), "Succeeded", {"rows": 0, "sourceRows": 9})], on=REDIS)),
    "cutting-over": (status(at(EXISTING, "CuttingOver", 2), retiring=[at(REDIS, "Retiring")]), observed(EXISTING, {EXISTING: READY, REDIS: READY}, on=REDIS, done=False)),
    "retiring": (status(at(EXISTING, "Serving", 2), retiring=[at(REDIS, "Retiring")]), observed(EXISTING, {EXISTING: READY, REDIS: READY}, on=EXISTING)),
}


@pytest.mark.parametrize("step", STEPS)
def test_an_operator_restarted_at_any_step_decides_the_same_and_then_holds(step):
    previous, seen = STEPS[step]
    first, again = decide(previous, 2, seen), decide(previous, 2, seen)
    assert (first.active, first.pending, first.retiring, first.actions) == (again.active, again.pending, again.retiring, again.actions)
    settled = decide(as_status(first), 2, seen)
    assert (settled.active, settled.pending, settled.retiring) == (first.active, first.pending, first.retiring)
    assert not settled.events


def test_deleting_the_featurestore_mid_switch_deletes_what_the_records_say_not_the_spec():
    """The deletion handler (and its finalizer) follow the recorded stores: a managed group being
    prepared with deletionPolicy Delete is deleted even when today's spec says Retain."""
    from predictflow_operator.handlers import _has_stores_outside_cluster, _records

    mid_switch = status(serving_redis(), at(MANAGED_DELETE, "Backfilling", 2)).model_dump(by_alias=True)
    retain_spec = {"onlineStore": {"type": "elasticache", "elasticache": {"deletionPolicy": "Retain"}}}
    assert _has_stores_outside_cluster(status=mid_switch, spec=retain_spec)
    assert [r.name for r in _records(mid_switch) if r.type == "elasticache"] == [MANAGED_DELETE.name]
    only_redis = status(serving_redis()).model_dump(by_alias=True)
    delete_spec = {"onlineStore": {"type": "elasticache", "elasticache": {"deletionPolicy": "Delete"}}}
    assert not _has_stores_outside_cluster(status=only_redis, spec=delete_spec)  # nothing in AWS was ever recorded
