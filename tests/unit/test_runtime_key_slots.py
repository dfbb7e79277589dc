"""Cluster hash slots of many keys at once, and the slices a backfill splits its entities into."""

import random

import numpy as np
import pyarrow as pa
import pytest
from redis.crc import key_slot

from predictflow_runtime.fast_path import COMPLETION_INDEX_ENV, SLICES_ENV, Slice
from predictflow_runtime.key_slots import SLOTS, key_slots, slice_of_slots

pytestmark = pytest.mark.unit

# serialize_entity_key v3 of one INT64 join key `customer_id`, up to its value
FEAST_KEY_PREFIX = b"\x01\x00\x00\x00\x02\x00\x00\x00\x0b\x00\x00\x00customer_id\x04\x00\x00\x00\x08\x00\x00\x00"


def _random_keys(count: int, alphabet: bytes | None, longest: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    if alphabet is None:
        return [rng.randbytes(rng.randrange(longest)) for _ in range(count)]
    return [bytes(rng.choice(alphabet) for _ in range(rng.randrange(longest))) for _ in range(count)]


@pytest.mark.parametrize(
    "keys",
    [
        [b"", b"a", b"{", b"}", b"{}", b"{}a", b"a{b}c", b"{a}{b}", b"x{}y{z}", b"foo{bar}{zap}", b"ab}{cd}", b"{{a}}"],
        _random_keys(3000, None, 60, seed=1),  # binary keys: braces turn up by chance, as in Feast's keys
        _random_keys(3000, b"{}ab", 12, seed=2),  # every shape of hash tag
        [FEAST_KEY_PREFIX + i.to_bytes(8, "little") + b"churn" for i in range(5000)],
    ],
    ids=["hash-tag-rules", "random-binary", "random-braces", "feast-int64-keys"],
)
def test_slots_are_redis_clusters_own(keys):
    assert key_slots(pa.array(keys, pa.binary())).tolist() == [key_slot(key) for key in keys]


def test_slices_of_one_count_are_disjoint_and_cover_every_slot():
    slots = np.arange(SLOTS)
    owners = sum(slice_of_slots(slots, index, 5).astype(int) for index in range(5))
    assert (owners == 1).all()


def test_passes_nest_inside_their_slice():
    part = Slice(2, 3)
    slots = np.arange(SLOTS)
    mine = slice_of_slots(slots, part.index, part.count)
    pieces = [slice_of_slots(slots, piece.index, piece.count) for piece in part.passes(4)]
    assert (sum(piece.astype(int) for piece in pieces) == mine.astype(int)).all()


def test_a_slice_comes_from_the_indexed_job_or_the_command_line():
    assert Slice.from_env({}) == Slice(0, 1)
    assert Slice.from_env({SLICES_ENV: "4", COMPLETION_INDEX_ENV: "3"}) == Slice(3, 4)
    assert Slice.from_env({SLICES_ENV: "1", COMPLETION_INDEX_ENV: "3"}) == Slice(0, 1)
    assert Slice.parse("1/8") == Slice(1, 8)
    for text in ("8/8", "-1/2", "a/b", "3"):
        with pytest.raises(ValueError):
            Slice.parse(text)
