"""Group ids, ownership tags, the token Secret's adoption rules and the rotation steps (pure)."""

import base64
import itertools

import pytest

from predictflow_operator.builders import elasticache
from predictflow_operator.builders.common import Owner
from predictflow_operator.reconcilers import elasticache_token as token

pytestmark = pytest.mark.unit

OWNER = Owner("churn", "ml", "uid-1")


def test_ids_carry_80_bits_over_cluster_namespace_and_name():
    group = elasticache.replication_group_id(OWNER, "cluster-a")
    assert group.startswith("pf-ml-churn-") and len(group.rsplit("-", 1)[1]) == 16  # base32: 80 bits
    assert group == elasticache.replication_group_id(Owner("churn", "ml", "another-uid"), "cluster-a")  # the UID is not part of it
    assert group != elasticache.replication_group_id(OWNER, "cluster-b")
    assert group != elasticache.replication_group_id(Owner("churn", "ml2", ""), "cluster-a")
    # no separator ambiguity: ("a-b", "c") and ("a", "b-c") read the same but are other FeatureStores
    assert elasticache.replication_group_id(Owner("c", "a-b", ""), "x") != elasticache.replication_group_id(Owner("b-c", "a", ""), "x")


def test_the_old_24_bit_ids_collided_and_are_kept_unchanged():
    """The ids groups were created under before: kept for the FeatureStores that recorded them."""
    assert elasticache.legacy_replication_group_id(Owner("churn", "ml", "")) == "pf-ml-churn-15aea2"
    assert elasticache.legacy_replication_group_id(Owner("fs--1", "Team-X", "")) == "pf-team-x-fs-1-e0720a"
    seen, collision = {}, None
    for i in itertools.count():  # long names share their readable prefix: only the 24-bit digest tells them apart
        owner = Owner(f"{'f' * 40}{i}", "team", "")
        old = elasticache.legacy_replication_group_id(owner)
        if old in seen:
            collision = (seen[old], owner)
            break
        seen[old] = owner
    a, b = collision
    assert elasticache.replication_group_id(a, "c") != elasticache.replication_group_id(b, "c")


def tags(**override):
    base = {
        elasticache.TAG_CLUSTER: "cluster-a", elasticache.TAG_FEATURESTORE: "ml/churn",
        elasticache.TAG_UID: "uid-old", elasticache.TAG_MANAGED_BY: "predictflow-operator",
    }
    return {k: v for k, v in {**base, **override}.items() if v is not None}


def test_a_group_is_ours_only_when_its_tags_say_so():
    assert elasticache.ownership(tags(), OWNER, "cluster-a") == elasticache.Ownership(True)
    other_cluster = elasticache.ownership(tags(), OWNER, "cluster-b")
    assert not other_cluster.ours and "predictflow.io/cluster-identity='cluster-a' (expected 'cluster-b')" in other_cluster.mismatch
    assert not elasticache.ownership(tags(**{elasticache.TAG_FEATURESTORE: "ml/other"}), OWNER, "cluster-a").ours
    assert not elasticache.ownership({}, OWNER, "cluster-a").ours  # someone else's untagged group
    legacy = elasticache.ownership(tags(**{elasticache.TAG_CLUSTER: None, elasticache.TAG_UID: None}), OWNER, "cluster-a")
    assert legacy.ours and legacy.legacy
    assert {t["Key"]: t["Value"] for t in elasticache.ownership_tags(OWNER, "cluster-a")} == tags(**{elasticache.TAG_UID: "uid-1"})


def secret(owners=(), annotations=None, **data):
    return {
        "metadata": {"name": "churn-elasticache-auth", "ownerReferences": list(owners), "annotations": annotations or {}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


MARKS = elasticache.secret_marks(OWNER, "pf-g", "cluster-a")
US = {"kind": "FeatureStore", "name": "churn", "uid": "uid-1", "controller": True}
THEM = {"kind": "FeatureStore", "name": "churn", "uid": "uid-0", "controller": True}


def test_only_a_secret_the_operator_marked_for_the_group_is_adopted():
    judge = lambda s: token.judge_secret(s, OWNER, "pf-g", "cluster-a")  # noqa: E731
    assert judge(None).kind == token.ABSENT
    assert judge(secret([US], MARKS, active="t")).kind == token.OURS
    assert judge(secret([US], {}, token="t")).needs_marks  # written by an older operator
    assert judge(secret([], MARKS, active="t", token="t")).kind == token.ADOPTABLE
    assert judge(secret([THEM], MARKS, active="t")).kind == token.FOREIGN  # still controlled by someone
    unmarked = judge(secret([], {}, token="t"))
    assert unmarked.kind == token.FOREIGN and "did not mark it as the AUTH token of replication group pf-g" in unmarked.message
    other_group = judge(secret([], {**MARKS, elasticache.GROUP_ANNOTATION: "pf-other"}, active="t"))
    assert other_group.kind == token.FOREIGN and "'pf-other' (expected 'pf-g')" in other_group.message
    assert judge(secret([], {**MARKS, elasticache.CLUSTER_ANNOTATION: "cluster-b"}, active="t")).kind == token.FOREIGN


AVAILABLE = {"ReplicationGroupId": "pf-g", "Status": "available"}
MODIFYING = {"ReplicationGroupId": "pf-g", "Status": "modifying", "PendingModifiedValues": {"AuthTokenStatus": "ROTATING"}}


def state(name, **data):
    return secret([US], {**MARKS, elasticache.TOKEN_STATE_ANNOTATION: name}, **data)


@pytest.mark.parametrize(
    "secret_,group,rolled,step",
    [
        (state("Set", token="old", active="old"), AVAILABLE, None, ""),
        (state("Set", token="new", active="old"), AVAILABLE, None, "stage"),
        (state("Set", token="new", active="old"), MODIFYING, None, ""),  # another modification first
        (state("Staged", token="new", active="old", rotating="new"), AVAILABLE, None, "rotate"),
        (state("Rotated", token="new", active="old", rotating="new"), MODIFYING, None, ""),  # AWS not done yet
        (state("Rotated", token="new", active="old", rotating="new"), AVAILABLE, None, "activate"),
        (state("Rolling", token="new", active="new", rotating="new"), AVAILABLE, False, ""),  # pods still on the old one
        (state("Rolling", token="new", active="new", rotating="new"), AVAILABLE, True, "set"),
        (state("Rolling", token="newer", active="new", rotating="new"), AVAILABLE, True, "set"),  # an edit waits for the SET
        (state("Set", token="newer", active="new"), AVAILABLE, None, "stage"),
    ],
)
def test_rotation_steps(secret_, group, rolled, step):
    assert token.rotation_step(secret_, group, rolled).do == step
