"""The switch between online stores, as a pure function.

`decide(previous status, generation, observed)` returns the actions to take and the records of
the next status; it reads nothing and writes nothing, so every transition is a table row in the
unit tests. One store moves through these states:

    Provisioning -> Backfilling -> Verifying -> CuttingOver -> Serving
                                                            \\-> (the old store) Retiring -> gone

`status.pendingOnlineStore` holds a store in Provisioning, Backfilling or Verifying; it becomes
`status.onlineStore` (CuttingOver, then Serving once every serving pod runs on it) only after its
backfill succeeded and reported the rows it wrote. Any failure keeps serving on the old store.
A spec that asks for the serving store again cancels the switch from any state; one that asks for a
third store retires the half-made one. Retiring waits until no serving pod reads the old store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..api.models import FeatureStoreStatus, StoreRecord
from ..builders.store import same_store, store_key, store_label
from ..status import Check
from .materialization import JobState
from .serving import ServingState
from .store import StoreObservation


@dataclass(frozen=True)
class Observed:
    desired: StoreRecord  # the store the spec asks for, from its driver
    stores: dict[str, StoreObservation]  # by store_key: the desired, serving, pending and retiring stores
    jobs: dict[str, JobState]  # every backfill and scheduled Job of the FeatureStore, by name
    serving: ServingState
    backfill_name: Callable[[StoreRecord], str]  # the Job that fills a store (a pure naming rule)

    def store(self, record: StoreRecord) -> StoreObservation | None:
        return self.stores.get(store_key(record))


@dataclass(frozen=True)
class Provision:
    record: StoreRecord


@dataclass(frozen=True)
class StartBackfill:
    record: StoreRecord
    compare: StoreRecord | None = None  # the store that serves: the backfill compares a sample with it


@dataclass(frozen=True)
class DeleteJob:
    name: str
    why: str


@dataclass(frozen=True)
class Serve:
    record: StoreRecord
    secret_checksum: str


@dataclass(frozen=True)
class Retire:
    record: StoreRecord


@dataclass(frozen=True)
class CollectConfigs:
    keep: tuple[StoreRecord, ...]


Action = Provision | StartBackfill | DeleteJob | Serve | Retire | CollectConfigs


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Decision:
    active: StoreRecord | None
    pending: StoreRecord | None
    retiring: list[StoreRecord]
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    progress: Check | None = None  # how the store being prepared is doing; ok=False with failed=True is a failure
    failed: bool = False  # the switch cannot progress until someone changes something
    backfill: JobState | None = None


def _present(record: StoreRecord) -> StoreRecord | None:
    return record if record.type else None


def _refreshed(recorded: StoreRecord, desired: StoreRecord) -> StoreRecord:
    """The same store with the spec's current access settings; its place in the switch is kept."""
    return desired.model_copy(
        update={
            "generation": recorded.generation,
            "state": recorded.state,
            "backfill_job": recorded.backfill_job,
            "endpoint": desired.endpoint or recorded.endpoint,
        }
    )


def _with(record: StoreRecord, **update: object) -> StoreRecord:
    return record.model_copy(update=update)


def verify(job: JobState) -> Check:
    """A backfill is trusted when it reported what it wrote and that is not an empty store over a
    non-empty source."""
    report = job.report
    if report is None:
        return Check(
            False, "BackfillUnverified", f"Job {job.name} succeeded but reported no row counts; the runtime image must be this operator's version or newer"
        )
    rows, source = int(report.get("rows") or 0), report.get("sourceRows")
    compared = _compared(job.name, report.get("compared"))
    if compared is not None and not compared.ok:
        return compared
    checked = f"; {compared.message}" if compared is not None else ""
    if rows > 0:
        held = f" (the offline source holds {source})" if source is not None else ""
        return Check(True, "BackfillVerified", f"Job {job.name} wrote {rows} rows{held}{checked}")
    if source == 0:
        return Check(True, "BackfillVerified", f"Job {job.name} wrote 0 rows: the offline source holds none{checked}")
    held = f"the offline source holds {source} rows" if source is not None else "the offline source could not be counted"
    return Check(
        False,
        "BackfillEmpty",
        f"Job {job.name} wrote 0 rows but {held}; the store would serve nothing. Check spec.offlineStore.path and the "
        "feature views' ttl, then delete the Job to run it again",
    )


def _compared(job: str, compared: object) -> Check | None:
    """The backfill's comparison of a sample with the store that serves (absent for a first store)."""
    if not isinstance(compared, dict):
        return None
    if compared.get("error"):
        # the serving store could not be read: the new one is still what the offline store holds
        return Check(True, "BackfillVerified", f"the sample could not be compared with the serving store ({compared['error']})")
    sampled, mismatched = int(compared.get("sampled") or 0), int(compared.get("mismatched") or 0)
    if mismatched:
        examples = ", ".join(str(e) for e in (compared.get("examples") or [])[:3])
        return Check(
            False,
            "BackfillMismatch",
            f"Job {job}: {mismatched} of {sampled} sampled entities read differently from the new store than from the serving one "
            f"(for example {examples}); delete the Job to run it again",
        )
    return Check(True, "BackfillVerified", f"{sampled} sampled entities read the same from both stores")


def _advance(pending: StoreRecord, active: StoreRecord | None, observed: Observed, decision: Decision) -> StoreRecord:
    """Move the store being prepared as far as what was observed allows."""
    seen = observed.store(pending)
    if pending.state == "Provisioning":
        if seen is None or not seen.ready:
            decision.progress = Check(False, seen.reason if seen else "Observing", seen.message if seen else "Not observed yet")
            decision.failed = bool(seen and seen.error)
            return pending
        pending = _with(pending, state="Backfilling", backfill_job=observed.backfill_name(pending))
    wanted = observed.backfill_name(pending)
    if pending.backfill_job != wanted:  # what the backfill is for changed (repo, offline path, runtime image)
        pending = _with(pending, state="Backfilling", backfill_job=wanted)
    job = observed.jobs.get(pending.backfill_job)
    decision.backfill = job
    if job is None or job.phase == "Absent":
        decision.actions.append(StartBackfill(pending, active))
        decision.progress = Check(False, "BackfillRunning", f"Starting backfill Job {pending.backfill_job}")
        return _with(pending, state="Backfilling")
    if job.deleting:
        decision.progress = Check(False, "BackfillRunning", f"Waiting for an earlier run of Job {job.name} to be deleted")
        return pending
    if job.phase == "Running":
        decision.progress = Check(False, "BackfillRunning", f"Backfill Job {job.name} is filling the {pending.type} store")
        return _with(pending, state="Backfilling")
    if job.phase == "Failed":
        decision.progress = Check(False, "BackfillFailed", f"Backfill Job {job.name} failed ({job.message}); delete the Job to retry")
        decision.failed = True
        return _with(pending, state="Backfilling")
    verdict = verify(job)
    decision.progress = verdict
    if not verdict.ok:
        decision.failed = True
        return _with(pending, state="Verifying")
    return _with(pending, state="CuttingOver")


def _cancel_stale_backfills(observed: Observed, pending: StoreRecord | None, decision: Decision) -> None:
    wanted = pending.backfill_job if pending is not None else None
    for job in observed.jobs.values():
        if not job.scheduled and job.phase == "Running" and not job.deleting and job.name != wanted:
            decision.actions.append(DeleteJob(job.name, "the spec no longer needs this backfill"))


def decide(previous: FeatureStoreStatus, generation: int, observed: Observed) -> Decision:
    desired = observed.desired
    seen = observed.store(desired)
    if seen is not None and seen.endpoint and not desired.endpoint:
        desired = _with(desired, endpoint=seen.endpoint)
    active = _present(previous.online_store)
    pending = _present(previous.pending_online_store)
    # A store asked for again is rescued from retirement (it is backfilled again before it serves).
    retiring = [r for r in previous.retiring_online_stores if not same_store(r, desired)]
    decision = Decision(active, pending, retiring, actions=[Provision(desired)])

    if active is not None and same_store(active, desired):
        active = _refreshed(active, desired)
        if pending is not None:
            decision.events.append(
                Event("Normal", "SwitchCancelled", f"spec.onlineStore asks for the serving {active.type} store again: cancelled the switch to {pending.type}")
            )
            retiring.append(_with(pending, state="Retiring"))
            pending = None
    else:
        if pending is not None and not same_store(pending, desired):
            decision.events.append(
                Event("Normal", "SwitchRetargeted", f"spec.onlineStore changed during the switch: retiring the half-made {pending.type} store")
            )
            retiring.append(_with(pending, state="Retiring"))
            pending = None
        pending = _refreshed(pending, desired) if pending is not None else _with(desired, generation=generation, state="Provisioning")
        pending = _advance(pending, active, observed, decision)
        if pending.state == "CuttingOver":
            if active is not None:
                retiring.append(_with(active, state="Retiring"))
            decision.events.append(Event("Normal", "SwitchedOnlineStore", _switched_message(active, pending, decision.progress)))
            active, pending = pending, None
            decision.progress = None

    _cancel_stale_backfills(observed, pending, decision)
    if active is not None:
        if active.state in ("CuttingOver", "") and observed.serving.rolled_onto(store_label(active)):
            active = _with(active, state="Serving")
        active_seen = observed.store(active)
        decision.actions.append(Serve(active, active_seen.secret_checksum if active_seen else ""))
    if active is None or active.state == "Serving":
        retiring = _retire(retiring, observed, decision)
        if not retiring:
            decision.actions.append(CollectConfigs(tuple(r for r in (active, pending) if r is not None)))
    decision.active, decision.pending, decision.retiring = active, pending, retiring
    return decision


def _retire(retiring: list[StoreRecord], observed: Observed, decision: Decision) -> list[StoreRecord]:
    """Retire every store no pod reads any more; keep a record until its store is gone."""
    left = []
    for record in retiring:
        seen = observed.store(record)
        if record.deletion_policy == "Delete" and seen is not None and seen.gone:
            continue
        decision.actions.append(Retire(record))
        if record.deletion_policy == "Delete":
            left.append(record)
    return left


def _switched_message(old: StoreRecord | None, new: StoreRecord, verdict: Check | None) -> str:
    checked = f" ({verdict.message})" if verdict else ""
    if old is None:
        return f"Backfilled {new.type} at {new.endpoint}{checked}; it now serves"
    return f"Switched the online store from {old.type} ({old.endpoint}) to {new.type} ({new.endpoint}) after a verified backfill{checked}"
