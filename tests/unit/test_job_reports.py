"""One report per Job from its pods' termination messages, the slices of a parallel backfill added up."""

import pytest

from predictflow_operator.reconcilers.materialization import PodReport, job_report

pytestmark = pytest.mark.unit


def slice_report(rows, compared=None, **extra):
    report = {"rows": rows, "sourceRows": 3000, "views": {"churn_features": {"rows": rows, "sourceRows": 3000}}, "failures": [], **extra}
    return {**report, "compared": compared} if compared is not None else report


def test_a_single_pod_job_reports_what_its_succeeded_pod_said():
    failed, retried = PodReport(0, False, {"rows": 0, "failures": ["churn_features"]}), PodReport(0, True, slice_report(1000))
    assert job_report([failed, retried]) == slice_report(1000)
    assert job_report([retried, failed]) == slice_report(1000)
    assert job_report([failed]) == {"rows": 0, "failures": ["churn_features"]}, "a failed run's report still tells why"
    assert job_report([]) is None


def test_slices_add_up_once_every_index_has_reported():
    pods = [
        PodReport(0, True, slice_report(300, {"sampled": 40, "mismatched": 0, "examples": []}, watermark="2026-01-02T00:00:00.000000Z")),
        PodReport(1, True, slice_report(280, {"sampled": 30, "mismatched": 1, "examples": [{"customer_id": 7}]}, watermark="2026-01-01T00:00:00.000000Z")),
    ]
    assert job_report(pods, completions=3) is None, "an index that has not reported leaves the Job unverified"
    combined = job_report([*pods, PodReport(2, True, slice_report(420, {"sampled": 30, "mismatched": 0, "examples": []}))], completions=3)
    assert combined is not None
    assert (combined["rows"], combined["sourceRows"], combined["slices"]) == (1000, 3000, 3)
    assert combined["views"] == {"churn_features": {"rows": 1000, "sourceRows": 3000}}
    assert combined["compared"] == {"sampled": 100, "mismatched": 1, "examples": [{"customer_id": 7}]}
    assert combined["watermark"] == "2026-01-01T00:00:00.000000Z"


def test_a_slice_that_could_not_compare_or_failed_shows_in_the_whole():
    pods = [
        PodReport(0, True, slice_report(300, {"error": "ConnectionError: refused"})),
        PodReport(1, True, {**slice_report(0), "failures": ["churn_features"]}),
    ]
    combined = job_report(pods, completions=2)
    assert combined is not None
    assert combined["compared"] == {"error": "ConnectionError: refused"}
    assert combined["failures"] == ["churn_features"]
