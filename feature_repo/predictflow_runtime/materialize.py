"""Materialize the offline store into the online store, driven by watermarks kept in Redis.

`python -m predictflow_runtime.materialize [--full] [--feature-view NAME ...]` is what the
materialization CronJob and the one-off backfill Job run. For each online feature view:
no marker in the online store -> full backfill (the view's ttl window, or all history);
a marker -> the interval from the marker to now; `--full` ignores markers. After a view
is written its marker moves to the run's end time, and after the run a freshness message
goes out on `predictflow:freshness:<project>`.

Views are written by the fast path (`fast_path`: Arrow reads the Parquet source, encodes Feast's
layout and pipelines it), which writes what Feast's own materialization writes, several times
faster; `--writer feast` (or a view the fast path does not cover) uses `FeatureStore.materialize`.

Rows are counted as they are handed to the online store (after the newest row per entity in the
interval is kept), so the count is what was written, not what the offline store held.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.repo_config import FeastConfigError

import predictflow_contract as contract

from .compare import compare_sample
from .connection import OnlineClient, holds_no_keys, redis_client, redis_cluster_client
from .fast_path import WHOLE, Slice, sample_filter, write_view
from .freshness import freshness_message, publish_freshness
from .offline_rows import UnsupportedSource
from .redaction import RedactingFormatter, secrets_from_env
from .store import StoreConfigError, open_store
from .watermark import Interval, advance_watermark, format_watermark, next_interval, read_watermark

log = logging.getLogger("predictflow.materialize")

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

EXIT_FAILED = 1
EXIT_CONFIG = 2

WRITER_FAST = "fast"
WRITER_FEAST = "feast"
WRITERS = (WRITER_FAST, WRITER_FEAST)


@dataclass(frozen=True)
class WriteOptions:
    """How one run writes: which path, which slice of the entities, and whether the store held no
    key at all when the run began (then no stored event time can be newer: the reads are skipped)."""

    writer: str = WRITER_FAST
    part: Slice = WHOLE
    store_was_empty: bool = False


@dataclass(frozen=True)
class ViewResult:
    feature_view: str
    interval: Interval
    rows: int
    seconds: float


@dataclass
class RunReport:
    project: str
    watermark: datetime
    results: list[ViewResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(result.rows for result in self.results)

    @property
    def succeeded(self) -> bool:
        return not self.failures


def source_rows(view: Any) -> int | None:
    """Rows the view's offline source holds (all time), from Parquet metadata; None when not countable."""
    path = getattr(getattr(view, "batch_source", None), "path", None)
    if not path:
        return None
    try:
        import pyarrow.dataset as ds

        return int(ds.dataset(path, format="parquet").count_rows())
    except Exception as error:  # an unreadable source is reported by the materialization itself
        log.debug("%s: cannot count the offline rows of %s: %s", view.name, path, error)
        return None


def compared_with_serving(store: FeatureStore, repo: Path | None, feature_views: Sequence[str] | None, part: Slice = WHOLE) -> dict[str, Any] | None:
    """The sample comparison with the serving store, when $PREDICTFLOW_COMPARE_CONFIG names it; a
    slice compares only entities it wrote (the others may still be on their way)."""
    config = os.environ.get(contract.COMPARE_CONFIG_ENV)
    if not config:
        return None
    try:
        serving = open_store(config, repo, work_dir=tempfile.mkdtemp(prefix="predictflow-compare-"))
        views = [v for v in online_feature_views(store, feature_views) if getattr(v, "batch_source", None)]
        result = compare_sample(store, serving, views, keep=lambda view: sample_filter(store, view, part))
    except Exception as error:  # reported, not fatal: the new store is what the offline store holds
        log.warning("could not compare a sample with the serving store: %s", error)
        return {"error": f"{type(error).__name__}: {error}"}
    log.info("compared %d sampled entities with the serving store: %d differ", result["sampled"], result["mismatched"])
    return result


def report_json(report: RunReport, sources: dict[str, int | None], compared: dict[str, Any] | None = None, part: Slice = WHOLE) -> str:
    """What the operator checks before it trusts a backfill: rows written and rows the source holds
    (the whole source, whatever slice this process wrote)."""
    counted = [n for n in sources.values() if n is not None]
    return json.dumps(
        {
            "rows": report.rows,
            "sourceRows": sum(counted) if counted else None,
            "views": {r.feature_view: {"rows": r.rows, "sourceRows": sources.get(r.feature_view)} for r in report.results},
            "failures": sorted(report.failures),
            "watermark": format_watermark(report.watermark),
            **({"compared": compared} if compared is not None else {}),
            **({"slice": str(part)} if not part.whole else {}),
        },
        sort_keys=True,
        default=str,
    )


def write_report(text: str, path: str | None) -> None:
    if not path:
        return
    try:
        Path(path).write_text(text)
    except OSError as error:
        log.warning("cannot write the run report to %s: %s", path, error)


@dataclass
class _WriteCount:
    rows: int = 0


@contextmanager
def feast_prints_as_debug_log() -> Iterator[None]:
    """Feast prints colored progress to stdout; keep the job's output to our own log lines."""
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            yield
    finally:
        text = _ANSI_ESCAPE.sub("", printed.getvalue()).strip()
        if text:
            log.debug("feast: %s", " ".join(text.split()))


@contextmanager
def counting_online_writes(store: FeatureStore) -> Iterator[_WriteCount]:
    """Count the rows Feast hands to the online store while the block runs."""
    online_store = store.provider.online_store
    write_batch = online_store.online_write_batch
    count = _WriteCount()

    def counted_write_batch(config: Any, table: Any, data: list[Any], progress: Any = None) -> None:
        write_batch(config, table, data, progress)
        count.rows += len(data)

    # An instance attribute shadows the method (set through vars(): mypy refuses assigning to a method).
    vars(online_store)["online_write_batch"] = counted_write_batch
    try:
        yield count
    finally:
        del online_store.online_write_batch  # the class's method shows through again


def online_feature_views(store: FeatureStore, names: Sequence[str] | None = None) -> list[Any]:
    """The views materialization writes online, in a stable order, optionally narrowed to `names`."""
    views = [
        *(v for v in store.list_feature_views() if v.online and v.enabled),
        *(v for v in store.list_stream_feature_views() if v.online and v.enabled),
        *(v for v in store.list_on_demand_feature_views() if v.write_to_online_store and v.enabled),
    ]
    by_name = {view.name: view for view in sorted(views, key=lambda v: v.name)}
    if not names:
        return list(by_name.values())
    unknown = [name for name in names if name not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none"
        raise StoreConfigError(f"no online feature view named {', '.join(unknown)} (online views: {known})")
    return [by_name[name] for name in dict.fromkeys(names)]


def _current_watermark(client: OnlineClient, project: str, view: str) -> datetime | None:
    try:
        return read_watermark(client, project, view)
    except ValueError:
        log.warning("%s: unreadable watermark, treating the store as empty", view)
        return None


def _write_with_feast(store: FeatureStore, view: Any, interval: Interval) -> int:
    with counting_online_writes(store) as count, feast_prints_as_debug_log():
        store.materialize(start_date=interval.start, end_date=interval.end, feature_views=[view.name])
    return count.rows


def write_interval(store: FeatureStore, client: OnlineClient, view: Any, interval: Interval, options: WriteOptions) -> int:
    """Rows written for `view` over `interval`, by the fast path unless Feast must (or is asked to)
    write. Feast cannot write a slice: slice 0 writes such a view whole, the other slices skip it."""
    part = options.part
    if options.writer == WRITER_FAST:
        try:
            return write_view(store, client, view, interval, part, read_stored_times=not options.store_was_empty).rows
        except UnsupportedSource as reason:
            log.info("%s: written by Feast: %s", view.name, reason)
    if part.index != 0:
        log.info("%s: slice 0 of %d writes this view whole", view.name, part.count)
        return 0
    return _write_with_feast(store, view, interval)


def materialize_view(store: FeatureStore, client: OnlineClient, view: Any, now: datetime, full: bool, options: WriteOptions = WriteOptions()) -> ViewResult:
    project = store.config.project
    interval = next_interval(_current_watermark(client, project, view.name), now, getattr(view, "ttl", None), full)
    kind = "full backfill" if interval.full else "incremental"
    span = f"{format_watermark(interval.start)} .. {format_watermark(interval.end)}"
    started = time.monotonic()
    rows = 0
    if interval.empty:
        log.info("%s: %s %s: nothing to do, the watermark is not behind now", view.name, kind, span)
    else:
        log.info("%s: %s %s: materializing", view.name, kind, span)
        rows = write_interval(store, client, view, interval, options)
        advance_watermark(client, project, view.name, interval.end)
    seconds = time.monotonic() - started
    log.info(
        "%s: %s done: %d rows written in %.2f s, watermark %s",
        view.name,
        kind,
        rows,
        seconds,
        format_watermark(interval.end),
    )
    return ViewResult(view.name, interval, rows, seconds)


def utc_now() -> datetime:
    return datetime.now(UTC)


def run(
    store: FeatureStore,
    client: OnlineClient,
    *,
    full: bool = False,
    feature_views: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    writer: str = WRITER_FAST,
    part: Slice = WHOLE,
) -> RunReport:
    """Materialize every selected view up to one common `now`; publish freshness for what succeeded."""
    now = clock()
    report = RunReport(project=store.config.project, watermark=now)
    options = WriteOptions(writer, part, writer == WRITER_FAST and holds_no_keys(client))
    for view in online_feature_views(store, feature_views):
        try:
            report.results.append(materialize_view(store, client, view, now, full, options))
        except Exception as error:  # one broken view must not keep the others stale
            log.error("%s: materialization failed: %s", view.name, error, exc_info=log.isEnabledFor(logging.DEBUG))
            report.failures[view.name] = str(error)
    if report.results:
        message = freshness_message(report.project, [r.feature_view for r in report.results], report.rows, now, clock())
        receivers = publish_freshness(client, report.project, message)
        log.info("freshness published to %d subscriber(s)", receivers)
    return report


def online_store_client(store: FeatureStore) -> OnlineClient:
    """The client watermarks, freshness and the fast path use: the online store Feast writes to."""
    online = store.config.online_store
    if getattr(online, "type", None) != contract.FEAST_ONLINE_STORE_TYPE:
        raise StoreConfigError("watermarks need a Redis online store (online_store.type: redis)")
    redis_type = str(getattr(getattr(online, "redis_type", None), "value", None) or contract.FEAST_REDIS_TYPE)
    if redis_type == contract.FEAST_REDIS_CLUSTER_TYPE:
        return redis_cluster_client(online.connection_string, socket_connect_timeout=10, socket_timeout=60)
    if redis_type != contract.FEAST_REDIS_TYPE:
        raise StoreConfigError(f"redis_type {redis_type} is not supported: watermarks need redis or redis_cluster")
    return redis_client(online.connection_string, socket_connect_timeout=10, socket_timeout=60)


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets_from_env()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("predictflow").setLevel(logging.DEBUG if verbose else logging.INFO)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m predictflow_runtime.materialize",
        description="Materialize offline features into the online store, incrementally from watermarks kept in it.",
    )
    parser.add_argument("--full", action="store_true", help="ignore watermarks: backfill every selected view")
    parser.add_argument("--feature-view", action="append", dest="feature_views", metavar="NAME", help="only this view (repeatable)")
    parser.add_argument("--writer", choices=WRITERS, default=WRITER_FAST, help="fast (Arrow, pipelined; default) or feast (FeatureStore.materialize)")
    parser.add_argument(
        "--slice",
        type=Slice.parse,
        metavar="INDEX/COUNT",
        help="write only the entities of this slice of the hash-slot space (default: $JOB_COMPLETION_INDEX of $PREDICTFLOW_BACKFILL_SLICES, else all)",
    )
    parser.add_argument("--config", type=Path, help="feature_store.yaml (default: $PREDICTFLOW_FEAST_CONFIG)")
    parser.add_argument("--repo", type=Path, help="feature definitions (default: $PREDICTFLOW_FEATURE_REPO)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging with tracebacks")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _configure_logging(args.verbose)
    try:
        store = open_store(args.config, args.repo)
        client = online_store_client(store)
        part = args.slice or Slice.from_env()
        report = run(store, client, full=args.full, feature_views=args.feature_views, writer=args.writer, part=part)
        sources = {view.name: source_rows(view) for view in online_feature_views(store, args.feature_views)}
        compared = compared_with_serving(store, args.repo, args.feature_views, part) if report.succeeded else None
        write_report(report_json(report, sources, compared, part), os.environ.get(contract.REPORT_PATH_ENV))
    except (StoreConfigError, FeastConfigError) as error:
        log.error("configuration error: %s", error)
        return EXIT_CONFIG
    except Exception as error:
        log.error("materialization failed: %s: %s", type(error).__name__, error, exc_info=args.verbose)
        return EXIT_FAILED
    if not report.succeeded:
        log.error("materialization failed for %s", ", ".join(sorted(report.failures)))
        return EXIT_FAILED
    views = ", ".join(r.feature_view for r in report.results) or "no views"
    log.info("materialized %s: %d rows, watermark %s", views, report.rows, format_watermark(report.watermark))
    return 0


if __name__ == "__main__":
    sys.exit(main())
