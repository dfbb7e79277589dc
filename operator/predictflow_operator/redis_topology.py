"""A Redis Cluster's topology: what CLUSTER NODES says, and the steps that bring a StatefulSet's pods
to the shards the spec asks for. Pure; reconcilers.redis_cluster reads the pods and carries the steps out.

The operator forms the cluster and mends its membership; Redis Cluster fails over by itself (its
primaries vote, hence at least 3 shards). Each pass takes the first step that applies:

1. every pod knows every other at the address it has now (CLUSTER MEET; a rescheduled pod has a new IP);
2. a new cluster's slots are split evenly over its first `shards` pods (CLUSTER ADDSLOTSRANGE);
3. a pod that holds no slots and follows no primary follows the primary with the fewest replicas,
   preferably one on another Kubernetes node (CLUSTER REPLICATE);
4. a node that failed, holds no slots and is no pod any more is forgotten by every pod (CLUSTER FORGET).

Steps 2 and 4 wait until every pod answers, so nothing is decided from a partial view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SLOTS = 16384
# A node in these states is not (or no longer) a working member of the cluster.
_FAILED = frozenset({"fail", "fail?", "noaddr"})


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES."""

    node_id: str
    address: str  # ip:port; "" while the node knows no address of its own
    flags: frozenset[str]
    primary_id: str  # the primary it replicates; "" for a primary
    slots: tuple[tuple[int, int], ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return bool(self.flags & _FAILED)


def parse_cluster_nodes(text: str) -> tuple[ClusterNode, ...]:
    """`<id> <ip:port@bus[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...`;
    slots being imported or migrated (`[...]`) are not owned yet and are left out."""
    nodes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        address = fields[1].split("@", 1)[0]
        slots = []
        for item in fields[8:]:
            if item.startswith("["):
                continue
            first, _, last = item.partition("-")
            slots.append((int(first), int(last or first)))
        nodes.append(
            ClusterNode(
                node_id=fields[0],
                address="" if address.startswith(":") else address,
                flags=frozenset(fields[2].split(",")),
                primary_id="" if fields[3] == "-" else fields[3],
                slots=tuple(slots),
            )
        )
    return tuple(nodes)


@dataclass(frozen=True)
class Member:
    """One Redis pod: where it answers now, the Kubernetes node it runs on, and what it says of the
    cluster (`nodes` None: it did not answer, and `error` says why)."""

    pod: str
    address: str  # ip:port
    host: str = ""
    nodes: tuple[ClusterNode, ...] | None = None
    state: str = ""  # cluster_state of CLUSTER INFO: ok, or fail while it cannot serve every slot
    error: str = ""

    @property
    def myself(self) -> ClusterNode | None:
        return next((n for n in self.nodes or () if "myself" in n.flags), None)

    def view_of(self, node_id: str) -> ClusterNode | None:
        return next((n for n in self.nodes or () if n.node_id == node_id), None)


@dataclass(frozen=True)
class Meet:
    pod: str
    address: str


@dataclass(frozen=True)
class AddSlots:
    pod: str
    first: int
    last: int


@dataclass(frozen=True)
class Replicate:
    pod: str
    primary_id: str


@dataclass(frozen=True)
class Forget:
    pod: str
    node_id: str


Step = Meet | AddSlots | Replicate | Forget


@dataclass(frozen=True)
class Shard:
    slots: str  # e.g. "0-5460"
    primary: str  # pod
    replicas: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    steps: tuple[Step, ...]
    shards: tuple[Shard, ...]
    ready: bool  # every slot has a primary that answers, and every pod knows it
    message: str
    settled: bool = True  # nothing to do and nothing amiss
    pods_silent: bool = False  # some pod does not answer (yet): its next pod event is worth waiting for


def slot_ranges(shards: int) -> list[tuple[int, int]]:
    """16384 slots in `shards` contiguous ranges as even as they divide (redis-cli's split)."""
    bounds = [round(i * SLOTS / shards) for i in range(shards + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(shards)]


def _ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in sorted(ranges))


def _uncovered(claimed: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    gaps, next_slot = [], 0
    for first, last in sorted(claimed):
        if first > next_slot:
            gaps.append((next_slot, first - 1))
        next_slot = max(next_slot, last + 1)
    if next_slot < SLOTS:
        gaps.append((next_slot, SLOTS - 1))
    return gaps


def _knows(member: Member, other: Member) -> bool:
    """`member` lists `other` under its id, at the address it answers at now."""
    assert other.myself is not None
    seen = member.view_of(other.myself.node_id)
    return seen is not None and seen.address == other.address


def _meetings(answering: Sequence[Member]) -> list[Meet]:
    """One pod (the first) meets every pod it does not know where it is, and is met by every pod that
    does not know it; gossip tells the rest."""
    anchor, steps = answering[0], []
    for member in answering[1:]:
        if not _knows(anchor, member):
            steps.append(Meet(anchor.pod, member.address))
        elif not _knows(member, anchor):
            steps.append(Meet(member.pod, anchor.address))
    return steps


def _ids(answering: Sequence[Member]) -> set[str]:
    """The node ids of the pods that answered."""
    return {m.myself.node_id for m in answering if m.myself is not None}


def _converged(answering: Sequence[Member]) -> bool:
    ids = _ids(answering)
    return all(ids <= {n.node_id for n in m.nodes or () if "handshake" not in n.flags} for m in answering)


def _replications(answering: Sequence[Member], current: Sequence[Shard], replicas: int) -> list[Replicate]:
    """Each pod that neither holds slots nor follows a primary follows the primary with the fewest
    replicas (below `replicas`), one on another Kubernetes node first."""
    following = {shard.primary: len(shard.replicas) for shard in current}
    primaries = [m for m in answering if m.pod in following]
    blanks = [m for m in answering if m.myself is not None and not m.myself.slots and not m.myself.primary_id]
    steps = []
    for index, member in enumerate(blanks):
        later = blanks[index + 1 :]

        def preference(primary: Member, member: Member = member, later: list[Member] = later) -> tuple[bool, int, int]:
            # another node first; then the primary fewer of the pods still to place could follow from elsewhere
            apart = sum(1 for other in later if not _same_host(other, primary))
            return _same_host(member, primary), apart, following[primary.pod]

        open_primaries = [p for p in primaries if following[p.pod] < replicas]
        if not open_primaries:
            continue
        chosen = min(open_primaries, key=preference)
        assert chosen.myself is not None
        steps.append(Replicate(member.pod, chosen.myself.node_id))
        following[chosen.pod] += 1
    return steps


def _same_host(a: Member, b: Member) -> bool:
    return bool(a.host) and a.host == b.host


def _forgettings(answering: Sequence[Member]) -> list[Forget]:
    """Nodes that failed, hold no slots and are no pod any more (a pod that came back without its
    data has a new id), forgotten by every pod at once so gossip does not bring them back."""
    current = _ids(answering)
    gone = {n.node_id for m in answering for n in m.nodes or () if n.node_id not in current and n.failed and not n.slots and "handshake" not in n.flags}
    steps = []
    for node_id in sorted(gone):
        for member in answering:
            me = member.myself
            # a replica may not forget its own primary; it follows another once it is told to
            if me is not None and me.primary_id != node_id and member.view_of(node_id) is not None:
                steps.append(Forget(member.pod, node_id))
    return steps


def _shards(answering: Sequence[Member]) -> tuple[Shard, ...]:
    shards = []
    for member in answering:
        me = member.myself
        if me is None or not me.is_primary or not me.slots:
            continue
        followers = tuple(m.pod for m in answering if m.myself is not None and m.myself.primary_id == me.node_id)
        shards.append((min(me.slots), Shard(_ranges_text(me.slots), member.pod, followers)))
    return tuple(shard for _, shard in sorted(shards, key=lambda item: item[0]))


def plan(members: Sequence[Member], shards: int, replicas: int) -> Topology:
    """The next steps for `members` (the StatefulSet's pods, in ordinal order) to become `shards`
    primaries with `replicas` replicas each, and how ready the cluster is now."""
    answering = [m for m in members if m.myself is not None]
    silent = [m for m in members if m.myself is None]
    claimed = [r for m in answering if m.myself is not None and m.myself.is_primary for r in m.myself.slots]
    uncovered = _uncovered(claimed)
    current = _shards(answering)
    problems = [f"{m.pod}: {m.error or 'no answer'}" for m in silent] or ([] if members else ["no pod exists yet"])
    if not claimed:
        problems.append("no slots are assigned yet")
    elif uncovered:
        problems.append(f"slots {_ranges_text(uncovered)} have no primary that answers")
    # each pod serves or refuses by its own cluster_state: ready once every pod says ok
    unsure = [m.pod for m in answering if m.state != "ok"]
    if claimed and not uncovered and unsure:
        problems.append(f"cluster_state is not ok on {', '.join(unsure)}")
    if not silent:
        ids = _ids(answering)
        strangers = sorted({n.address for m in answering for n in m.nodes or () if n.node_id not in ids and "handshake" not in n.flags})
        if strangers:  # a pod's former self, forgotten once the cluster has seen it fail
            problems.append(f"the cluster still lists {', '.join(strangers)}, which is no pod")
    short = [s.primary for s in current if len(s.replicas) < replicas]
    if short and not uncovered:
        problems.append(f"{', '.join(short)} {'has' if len(short) == 1 else 'have'} fewer than {replicas} replica{'s' if replicas != 1 else ''}")
    steps: list[Step] = []
    if answering:
        steps = list(_meetings(answering))
        if not steps and not _converged(answering):
            problems.append("the pods are still learning of each other")
        elif not steps:
            everyone = not silent
            if not claimed and everyone:
                steps = [AddSlots(m.pod, a, b) for m, (a, b) in zip(answering, slot_ranges(shards), strict=False)]
            elif not uncovered:
                steps = [*_replications(answering, current, replicas), *(_forgettings(answering) if everyone else [])]
    ready = bool(answering) and not uncovered and not unsure
    summary = f"Redis Cluster of {len(current)}/{shards} shards, {len(answering)}/{len(members)} pods answering"
    message = summary + (f": {'; '.join(problems)}" if problems else "")
    return Topology(
        steps=tuple(steps), shards=current, ready=ready, message=message, settled=not steps and not problems, pods_silent=bool(silent) or not members
    )
