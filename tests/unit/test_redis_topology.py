"""The Redis Cluster planner is a pure function of what the pods say (CLUSTER NODES and cluster_state)."""

import pytest

from predictflow_operator.redis_topology import AddSlots, Forget, Meet, Member, Replicate, parse_cluster_nodes, plan, slot_ranges

pytestmark = pytest.mark.unit


def _line(node_id: str, address: str, flags: str, primary: str = "-", slots: str = "") -> str:
    return f"{node_id} {address}@16379,host {flags} {primary} 0 0 1 connected {slots}".strip()


def _member(pod: str, address: str, lines: list[str], state: str = "ok", host: str = "") -> Member:
    return Member(pod, address, host, nodes=parse_cluster_nodes("\n".join(lines)), state=state)


def test_cluster_nodes_lines_are_read_with_slot_ranges_and_without_migrating_slots():
    nodes = parse_cluster_nodes(
        "a1 10.0.0.1:6379@16379,p-0.h.ns.svc myself,master - 0 0 1 connected 0-5460 7000 [5461->-b2]\n"
        "b2 :0@0 master,fail,noaddr - 0 0 2 disconnected\n"
        "c3 10.0.0.3:6379@16379 slave a1 0 0 1 connected\n"
    )
    assert nodes[0].slots == ((0, 5460), (7000, 7000)) and nodes[0].is_primary and "myself" in nodes[0].flags
    assert nodes[1].address == "" and nodes[1].failed
    assert nodes[2].primary_id == "a1" and not nodes[2].is_primary


def test_the_slots_split_evenly_and_cover_all_of_them():
    assert slot_ranges(3) == [(0, 5460), (5461, 10922), (10923, 16383)]
    ranges = slot_ranges(7)
    assert ranges[0][0] == 0 and ranges[-1][1] == 16383
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))


def test_bare_nodes_first_meet_then_get_slots_only_once_every_pod_answers():
    bare = [_member(f"p-{i}", f"10.0.0.{i}:6379", [_line(f"id{i}", ":6379", "myself,master")], state="fail") for i in range(3)]
    first = plan(bare, 3, 0)
    assert set(first.steps) == {Meet("p-0", "10.0.0.1:6379"), Meet("p-0", "10.0.0.2:6379")} and not first.ready

    everyone = [_line(f"id{i}", f"10.0.0.{i}:6379", "master") for i in range(3)]
    met = [
        _member(f"p-{i}", f"10.0.0.{i}:6379", [line.replace("master", "myself,master") if j == i else line for j, line in enumerate(everyone)], state="fail")
        for i in range(3)
    ]
    assert plan(met, 3, 0).steps == (AddSlots("p-0", 0, 5460), AddSlots("p-1", 5461, 10922), AddSlots("p-2", 10923, 16383))
    silent = [*met[:2], Member("p-2", "10.0.0.2:6379", error="pod is Pending, no IP yet")]
    waiting = plan(silent, 3, 0)
    assert waiting.steps == () and "p-2: pod is Pending, no IP yet" in waiting.message


def _formed(extra: list[str] = ()) -> list[Member]:
    """Three primaries (p-0..2) and a blank pod p-3; every pod lists the others (and `extra`)."""
    lines = [
        _line("id0", "10.0.0.0:6379", "master", slots="0-5460"),
        _line("id1", "10.0.0.1:6379", "master", slots="5461-10922"),
        _line("id2", "10.0.0.2:6379", "master", slots="10923-16383"),
        _line("id3", "10.0.0.3:6379", "master"),
        *extra,
    ]
    hosts = ["a", "b", "c", "b"]
    return [
        _member(f"p-{i}", f"10.0.0.{i}:6379", [line.replace("master", "myself,master", 1) if j == i else line for j, line in enumerate(lines)], host=hosts[i])
        for i in range(4)
    ]


def test_a_blank_pod_follows_a_primary_on_another_node_and_a_former_self_is_forgotten_by_all():
    gone = _line("old3", "10.0.0.9:6379", "slave,fail", primary="id1")
    topology = plan(_formed([gone]), 3, 1)
    assert topology.ready
    replicate = [step for step in topology.steps if isinstance(step, Replicate)]
    assert replicate == [Replicate("p-3", "id0")]  # p-1 runs on p-3's node b
    assert {step for step in topology.steps if isinstance(step, Forget)} == {Forget(f"p-{i}", "old3") for i in range(4)}
    assert "10.0.0.9:6379, which is no pod" in topology.message and not topology.settled


def test_a_node_that_has_not_failed_yet_is_not_forgotten_and_slots_are_never():
    alive = _line("old3", "10.0.0.9:6379", "slave", primary="id1")
    assert not [s for s in plan(_formed([alive]), 3, 1).steps if isinstance(s, Forget)]
    holding = _line("old4", "10.0.0.8:6379", "master,fail", slots="16000")
    assert not [s for s in plan(_formed([holding]), 3, 1).steps if isinstance(s, Forget)]


def test_a_cluster_with_a_pod_down_serves_but_says_which():
    members = _formed()[:3] + [Member("p-3", "10.0.0.3:6379", error="ConnectionError: refused")]
    topology = plan(members, 3, 0)
    assert topology.ready and "p-3: ConnectionError: refused" in topology.message and not topology.settled
