"""Freshness, memory pressure and cost are pure verdicts on what was read from the serving store."""

import datetime

import pytest

from predictflow_operator import capacity, freshness, pricing
from predictflow_operator.api.models import FeatureStoreSpec, Materialization
from predictflow_operator.capacity import MIB, MemoryReading
from predictflow_operator.reconcilers.serving_store import Inputs, LastTold, assessment
from predictflow_operator.reconcilers.store import BilledNodes
from predictflow_operator.reconcilers.store_reading import StoreReading
from predictflow_operator.status import FRESH, MEMORY_PRESSURE, Check

pytestmark = pytest.mark.unit

NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)  # a Thursday
HOUR = datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [("*/30 * * * *", 1800), ("@hourly", 3600), ("15 2 * * *", 86400), ("0 9 * * 1-5", 3 * 86400)],
)
def test_the_interval_is_the_schedules_longest_gap(schedule, seconds):
    assert freshness.longest_interval(schedule, NOW) == seconds


def test_the_default_threshold_is_three_intervals_and_the_spec_can_set_its_own():
    assert freshness.threshold(Materialization(), NOW).seconds == 3 * 1800
    own = freshness.threshold(Materialization(freshness_threshold_seconds=600), NOW)
    assert (own.seconds, own.why) == (600, "spec.materialization.freshnessThresholdSeconds")


def test_fresh_names_every_stale_view_and_its_message_does_not_age():
    limit = freshness.Threshold(3600, "why")
    marks = {"orders": NOW - 2 * HOUR, "stats": NOW - 3 * HOUR, "profile": NOW - HOUR / 2}
    stale = freshness.fresh_check(marks, limit, NOW, suspended=False)
    assert (stale.status, stale.reason) == ("False", "Stale")
    assert "orders" in stale.message and "stats" in stale.message and "profile" not in stale.message
    later = NOW + datetime.timedelta(minutes=10)
    assert freshness.fresh_check(marks, limit, later, suspended=False) == stale, "a later pass must not rewrite the status"
    assert "suspended" in freshness.fresh_check(marks, limit, NOW, suspended=True).message

    fresh = freshness.fresh_check({"profile": NOW - HOUR / 2}, limit, NOW, suspended=False)
    assert (fresh.status, fresh.reason) == ("True", "Fresh")
    assert freshness.fresh_check({}, limit, NOW, suspended=False).status == "Unknown"


def test_the_status_records_when_each_view_turns_stale_and_a_pass_is_due_then():
    limit = freshness.Threshold(3600, "why")
    marks = {"b": NOW - HOUR / 2, "a": NOW - 2 * HOUR}
    recorded = freshness.freshness_status(marks, limit)
    assert recorded == {
        "thresholdSeconds": 3600,
        "oldestWatermark": "2026-12-03T10:00:00Z",
        "views": [
            {"featureView": "a", "watermark": "2026-12-03T10:00:00Z", "staleAt": "2026-12-03T11:00:00Z"},
            {"featureView": "b", "watermark": "2026-12-03T11:30:00Z", "staleAt": "2026-12-03T12:30:00Z"},
        ],
    }
    assert freshness.seconds_until_stale(marks, limit, NOW) == 1800
    assert freshness.seconds_until_stale({"a": NOW - 2 * HOUR}, limit, NOW) is None


def reading(used, maxmemory=0, evicted=0, expired=0):
    return MemoryReading(used_bytes=used, maxmemory=maxmemory, evicted_keys=evicted, expired_keys=expired)


def test_memory_figures_move_only_when_they_change_materially():
    first = capacity.memory_status(reading(300 * MIB, 1000 * MIB), None, None)
    assert first == {"usedBytes": 300 * MIB, "maxBytes": 1000 * MIB, "maxSource": "maxmemory", "usedPercent": 30, "evictedKeys": 0, "expiredKeys": 0}
    assert capacity.memory_status(reading(300 * MIB + 4096, 1000 * MIB), None, first) is first, "kilobytes of client buffers are noise"
    assert capacity.memory_status(reading(312 * MIB, 1000 * MIB), None, first)["usedBytes"] == 312 * MIB
    assert capacity.memory_status(reading(300 * MIB, 1000 * MIB, evicted=1), None, first)["evictedKeys"] == 1, "the first eviction counts"
    assert capacity.memory_status(reading(300 * MIB, 2000 * MIB), None, first)["maxBytes"] == 2000 * MIB


def test_the_cap_is_maxmemory_else_the_container_limit():
    assert capacity.memory_status(reading(10 * MIB), 64 * MIB, None)["maxSource"] == "containerLimit"
    assert capacity.memory_status(reading(10 * MIB, 32 * MIB), 64 * MIB, None)["maxBytes"] == 32 * MIB


def test_pressure_at_the_threshold_gives_the_remedy_and_no_cap_is_unknown():
    high = capacity.pressure_check(capacity.memory_status(reading(85 * MIB, 100 * MIB, evicted=12), None, None), 80)
    assert (high.status, high.reason) == ("True", "AboveThreshold")
    assert "keyTTLSeconds" in high.message and "shards" in high.message and "12 keys evicted" in high.message
    low = capacity.pressure_check(capacity.memory_status(reading(50 * MIB, 100 * MIB), None, None), 80)
    assert (low.status, low.reason) == ("False", "BelowThreshold")
    assert capacity.pressure_check(capacity.memory_status(reading(50 * MIB), None, None), 80).status == "Unknown"


def test_the_design_reference_two_t4g_small_nodes_cost_about_54_dollars_a_month():
    estimate = pricing.monthly_cost(pricing.price_list(), "us-east-1", "cache.t4g.small", 2)
    assert estimate["amount"] == round(2 * PRICE("us-east-1", "cache.t4g.small") * 730, 2)
    assert abs(estimate["amount"] - 54) < 1
    assert estimate["priceListDate"] == pricing.PRICE_LIST["date"] and estimate["currency"] == "USD"


def PRICE(region, node_type):
    return pricing.PRICE_LIST["hourly"][region][node_type]


def test_the_chart_overrides_rows_and_an_unknown_node_type_is_said_not_guessed():
    prices = pricing.price_list('{"date": "2027-01-15", "hourly": {"eu-west-1": {"cache.t4g.small": 0.036}}}')
    assert pricing.monthly_cost(prices, "eu-west-1", "cache.t4g.small", 3)["amount"] == round(3 * 0.036 * 730, 2)
    assert pricing.monthly_cost(prices, "us-east-1", "cache.t4g.small", 1)["priceListDate"] == "2027-01-15"
    unknown = pricing.monthly_cost(prices, "eu-west-1", "cache.x9.huge", 2)
    assert "amount" not in unknown and "cache.x9.huge" in unknown["note"]
    broken = pricing.monthly_cost(pricing.usable_price_list("{not json"), "us-east-1", "cache.t4g.small", 2)
    assert "amount" not in broken and "pricing.elasticache" in broken["note"]
    with pytest.raises(ValueError):
        pricing.price_list('{"hourly": {"us-east-1": {"cache.t4g.small": "cheap"}}}')


def test_an_assessment_says_unknown_before_serving_and_when_the_store_cannot_be_read():
    spec = FeatureStoreSpec(project="churn")
    waiting = assessment(spec, Inputs(None, prices=pricing.price_list()), NOW)
    assert {kind: c.reason for kind, c in waiting.checks.items()} == {FRESH: "NotServing", MEMORY_PRESSURE: "NotServing"}
    previous = {"usedBytes": 1}
    failed = assessment(spec, Inputs(StoreReading(error="Connection refused"), endpoint="h:1", last=LastTold(memory=previous), prices=pricing.price_list()), NOW)
    assert failed.checks[FRESH].status == "Unknown" and "Connection refused" in failed.checks[FRESH].message
    assert failed.memory is previous, "the last figures stay; the condition says they could not be read"
    told = LastTold(checks={FRESH: failed.checks[FRESH], MEMORY_PRESSURE: failed.checks[MEMORY_PRESSURE]})
    again = assessment(spec, Inputs(StoreReading(error="TimeoutError"), endpoint="h:1", last=told, prices=pricing.price_list()), NOW)
    assert again.checks == told.checks, "a still-unreadable store keeps the error first told: no write per changing error"

    billed = BilledNodes("us-east-1", "cache.t4g.small", 2)
    read = StoreReading(watermarks={"stats": NOW - 10 * datetime.timedelta(minutes=1)}, memory=reading(90 * MIB, 100 * MIB))
    done = assessment(spec, Inputs(read, billed=billed, prices=pricing.price_list()), NOW)
    assert (done.checks[FRESH].status, done.checks[MEMORY_PRESSURE].status) == ("True", "True")
    assert done.cost["amount"] == pricing.monthly_cost(pricing.price_list(), "us-east-1", "cache.t4g.small", 2)["amount"]
    assert done.next_stale_in == 3 * 1800 - 600


def test_a_schedule_that_never_fires_leaves_fresh_unknown_and_the_pass_going():
    spec = FeatureStoreSpec(project="churn", materialization=Materialization(schedule="0 0 30 2 *"))
    read = StoreReading(watermarks={"stats": NOW}, memory=reading(10 * MIB, 100 * MIB))
    judged = assessment(spec, Inputs(read, prices=pricing.price_list()), NOW)
    assert (judged.checks[FRESH].status, judged.checks[FRESH].reason) == ("Unknown", "ScheduleUnreadable")
    assert "freshnessThresholdSeconds" in judged.checks[FRESH].message
    assert judged.checks[MEMORY_PRESSURE].reason == "BelowThreshold"


def test_before_the_first_reading_what_status_said_stays_so_a_restart_writes_nothing():
    spec = FeatureStoreSpec(project="churn")
    endpoint = "churn-redis.ml.svc:6379"
    first = assessment(spec, Inputs(None, endpoint=endpoint, prices=pricing.price_list()), NOW)
    assert {c.reason for c in first.checks.values()} == {"NotReadYet"}
    told = LastTold(memory={"usedBytes": 1}, freshness={"views": []}, checks={FRESH: Check(True, "Fresh", "m"), MEMORY_PRESSURE: Check(False, "BelowThreshold", "m")})
    restarted = assessment(spec, Inputs(None, endpoint=endpoint, last=told, prices=pricing.price_list()), NOW)
    assert restarted.checks == told.checks and restarted.memory is told.memory and restarted.freshness is told.freshness


def test_the_reader_wakes_the_passes_only_for_what_status_would_show():
    from predictflow_operator.reconcilers.store_reading import changed

    base = StoreReading(watermarks={"v": NOW}, memory=reading(100 * MIB, 1000 * MIB))
    assert not changed(base, StoreReading(watermarks={"v": NOW}, memory=reading(100 * MIB + 4096, 1000 * MIB)))
    assert changed(base, StoreReading(watermarks={"v": NOW + HOUR}, memory=base.memory))
    assert changed(base, StoreReading(watermarks={"v": NOW}, memory=reading(120 * MIB, 1000 * MIB)))
    assert changed(base, StoreReading(error="Connection refused"))
    assert not changed(StoreReading(error="Name or service not known"), StoreReading(error="TimeoutError")), "one error for another is no news"
    assert changed(StoreReading(error="TimeoutError"), base)
