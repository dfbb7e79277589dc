"""Redis Cluster hash slots of many keys at once.

A key's slot is CRC16 (XMODEM) of the key modulo 16384, or of its hash tag: the bytes between the
first `{` and the first `}` after it, when there are any. Feast's keys are binary (entity values
are little-endian integers), so a key may hold those bytes by chance; the rule applies all the
same. The slot decides which shard holds a key, and it is also how a backfill splits its entities
into disjoint slices, one per pod.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SLOTS = 16384
_OPEN, _CLOSE = ord("{"), ord("}")


def _crc16_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table[byte] = crc & 0xFFFF
    return table


_TABLE = _crc16_table()


def _buffers(keys: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A large_binary array's bytes, row offsets and row lengths."""
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64, count=len(keys) + 1, offset=keys.offset * 8)
    data = keys.buffers()[2]
    return (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, np.uint8)), offsets[:-1], np.diff(offsets)


def _gather(data: np.ndarray, starts: np.ndarray, counts: np.ndarray, *, right_aligned: bool) -> np.ndarray:
    """Rows of `counts[i]` bytes from `starts[i]`, zero-padded to the longest, as a byte matrix."""
    width = int(counts.max()) if len(counts) else 0
    columns = np.arange(width)
    pad = (width - counts)[:, None] if right_aligned else 0
    inside = (columns >= pad) if right_aligned else (columns < counts[:, None])
    positions = np.where(inside, starts[:, None] + columns - pad, 0)
    return np.where(inside, data[positions], 0).astype(np.uint8)


def _hash_tags(data: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each key's hashed bytes start and how many there are, by the hash-tag rule."""
    matrix = _gather(data, starts, counts, right_aligned=False)
    width = matrix.shape[1]
    columns = np.arange(width)
    inside = columns < counts[:, None]
    opens = inside & (matrix == _OPEN)
    first_open = np.where(opens.any(axis=1), opens.argmax(axis=1), width)
    closes = inside & (matrix == _CLOSE) & (columns > first_open[:, None])
    first_close = np.where(closes.any(axis=1), closes.argmax(axis=1), width)
    tagged = (first_close < width) & (first_close > first_open + 1)
    return np.where(tagged, starts + first_open + 1, starts), np.where(tagged, first_close - first_open - 1, counts)


def key_slots(keys: pa.Array) -> np.ndarray:
    """The cluster slot of every key."""
    keys = keys.cast(pa.large_binary())
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    data, starts, counts = _buffers(keys)
    braced = np.nonzero(pc.match_substring(keys, "{").to_numpy(zero_copy_only=False))[0]
    if len(braced):
        starts, counts = starts.copy(), counts.copy()
        starts[braced], counts[braced] = _hash_tags(data, starts[braced], counts[braced])
    width = int(counts[0])
    if len(braced) == 0 and (counts == width).all():
        # keys of one length back to back (an integer join key): the bytes are the matrix already
        matrix = data[starts[0] : starts[0] + len(keys) * width].reshape(len(keys), width)
    else:
        # CRC16 from zero is unchanged by leading zero bytes: right-aligned rows need no masking.
        matrix = _gather(data, starts, counts, right_aligned=True)
    matrix = np.asfortranarray(matrix)
    crc = np.zeros(len(keys), dtype=np.uint32)
    for column in range(matrix.shape[1]):
        crc = ((crc << 8) ^ _TABLE[((crc >> 8) ^ matrix[:, column]) & 0xFF]) & 0xFFFF
    return (crc % SLOTS).astype(np.int64)


def slice_of_slots(slots: np.ndarray, index: int, count: int) -> np.ndarray:
    """Rows whose slot falls in slice `index` of `count` equal ranges of the slot space."""
    return (slots * count // SLOTS) == index
