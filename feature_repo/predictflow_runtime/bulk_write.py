"""Writing a feature view's rows into Redis in Feast's layout, a batch of rows at a time.

Per batch, what Feast's `RedisOnlineStore.online_write_batch` does, with the same result:
- read each entity's `_ts:<view>` field (one pipelined HMGET per row) and drop rows whose event
  time is not newer than the stored one (unless the store is configured with `skip_dedup`);
- write each remaining row with one HSET of `_ts:<view>` and every feature field, then EXPIRE it
  when the store has `key_ttl_seconds`.

The commands are built as Redis protocol bytes by Arrow, the whole batch in one buffer (the next
batch is encoded while this one is sent and run), and sent on one connection in one write, and the replies are parsed by hiredis straight from the socket
(redis-py's per-reply path costs more than building and sending the commands).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import hiredis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis
from feast.infra.online_stores.helpers import _mmh3
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from redis.cluster import RedisCluster

from .connection import OnlineClient
from .feast_encoding import concat, encode_entity_keys, encode_timestamps, encode_values
from .key_slots import key_slots
from .offline_rows import EVENT_TIME

BATCH_ROWS = 20_000
_RECEIVE_BYTES = 1 << 20


def _bulk_constant(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _bulk(values: pa.Array) -> list[Any]:
    """The parts that make each value a protocol bulk string, $<length>CRLF<bytes>CRLF, for `concat`
    (a column of one width, like a double or an integer key, shares one constant header)."""
    lengths = pc.binary_length(values)
    shortest, longest = pc.min_max(lengths).values()
    if shortest == longest:
        return [b"$%d\r\n" % (shortest.as_py() or 0), values, b"\r\n"]
    return [b"$", lengths.cast(pa.string()).cast(pa.large_binary()), b"\r\n", values, b"\r\n"]


def _array_header(items: int) -> bytes:
    return b"*%d\r\n" % items


def protocol_bytes(commands: pa.Array) -> memoryview:
    """The bytes of every row of a binary array, back to back, without copying."""
    offsets = np.frombuffer(commands.buffers()[1], dtype=np.int64, count=len(commands) + 1, offset=commands.offset * 8)
    return memoryview(commands.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def _event_nanos(raw: bytes | None) -> int:
    if not raw:
        return 0
    stamp = Timestamp.FromString(raw)
    return stamp.seconds * 1_000_000_000 + stamp.nanos


@dataclass(frozen=True)
class ViewLayout:
    """What one feature view's rows become in Redis."""

    project: str
    view_name: str  # as the online store names it (versioned where the registry says so)
    join_keys: Mapping[str, ValueType]
    features: Sequence[tuple[str, ValueType]]
    key_ttl_seconds: int = 0
    skip_dedup: bool = False

    @property
    def timestamp_field(self) -> bytes:
        return f"_ts:{self.view_name}".encode()

    def feature_field(self, feature: str) -> bytes:
        return _mmh3(f"{self.view_name}:{feature}")


@dataclass
class WriteCount:
    rows: int = 0  # handed to the writer
    written: int = 0  # newer than what the store held
    batches: int = 0

    def add(self, other: WriteCount) -> None:
        self.rows += other.rows
        self.written += other.written
        self.batches += other.batches


class Pipeline:
    """Protocol bytes out, replies in, on one connection of a redis-py client."""

    def __init__(self, client: redis.Redis):
        self._client = client

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        pool = self._client.connection_pool
        connection = pool.get_connection()
        try:
            yield connection
        except BaseException:
            connection.disconnect()  # replies may be left unread: never reuse it
            raise
        finally:
            pool.release(connection)

    def execute(self, payload: memoryview, replies: int) -> list[Any]:
        """Send `payload` (that many commands), return their replies; the first error reply raises."""
        with self._connection() as connection:
            connection.send_packed_command([payload], check_health=True)
            # a pooled connection holds no unread reply, so its socket carries exactly these
            return _read_replies(connection._sock, replies)

    def execute_counting(self, payload: memoryview, replies: int) -> None:
        """Like `execute`, for commands whose every reply is a non-negative integer (HSET, EXPIRE):
        the replies are counted, not parsed, unless one is an error."""
        with self._connection() as connection:
            connection.send_packed_command([payload], check_health=True)
            _count_integer_replies(connection._sock, replies)


class SingleNode:
    """Every row goes to the one server."""

    needs_slots = False

    def __init__(self, client: redis.Redis):
        self._pipeline = Pipeline(client)

    def shards(self, slots: np.ndarray | None) -> list[tuple[Pipeline, np.ndarray | None]]:
        return [(self._pipeline, None)]


class ClusterShards:
    """Rows go to the primary that serves their key's hash slot, one pipeline per shard."""

    needs_slots = True

    def __init__(self, cluster: RedisCluster):
        self._cluster = cluster
        self._pipelines: dict[str, Pipeline] = {}

    def _pipeline(self, slot: int) -> tuple[str, Pipeline]:
        node = self._cluster.nodes_manager.get_node_from_slot(slot)
        if node.name not in self._pipelines:
            self._pipelines[node.name] = Pipeline(self._cluster.get_redis_connection(node))
        return node.name, self._pipelines[node.name]

    def shards(self, slots: np.ndarray | None) -> list[tuple[Pipeline, np.ndarray | None]]:
        assert slots is not None
        unique_slots, inverse = np.unique(slots, return_inverse=True)
        pipelines: dict[str, Pipeline] = {}
        numbers: dict[str, int] = {}
        node_of_slot = np.empty(len(unique_slots), dtype=np.int64)
        for position, slot in enumerate(unique_slots.tolist()):
            name, pipeline = self._pipeline(slot)
            pipelines[name] = pipeline
            node_of_slot[position] = numbers.setdefault(name, len(numbers))
        node_of_row = node_of_slot[inverse]  # one pass over the rows, not one per slot
        return [(pipelines[name], np.nonzero(node_of_row == number)[0]) for name, number in numbers.items()]


Router = SingleNode | ClusterShards


def router_for(client: OnlineClient) -> Router:
    return ClusterShards(client) if isinstance(client, RedisCluster) else SingleNode(client)


def _count_integer_replies(sock: Any, count: int) -> None:
    """Each such reply is one line, `:<digits>` or an error `-<message>`, ended by CRLF."""
    received = bytearray()
    lines = 0
    while lines < count:
        data = sock.recv(_RECEIVE_BYTES)
        if not data:
            raise redis.ConnectionError("Redis closed the connection before answering every command")
        lines += data.count(b"\n")
        received += data
    if b"-" in received:
        _read_replies(_Replay(bytes(received)), count)  # raises the first error with its message


class _Replay:
    """Bytes already received, read again as a socket would give them."""

    def __init__(self, data: bytes):
        self._data = data

    def recv(self, _size: int) -> bytes:
        data, self._data = self._data, b""
        return data


def _read_replies(sock: Any, count: int) -> list[Any]:
    reader = hiredis.Reader(replyError=redis.ResponseError)
    replies: list[Any] = []
    gets, append = reader.gets, replies.append
    while len(replies) < count:
        reply = gets()
        if reply is False:
            data = sock.recv(_RECEIVE_BYTES)
            if not data:
                raise redis.ConnectionError("Redis closed the connection before answering every command")
            reader.feed(data)
        elif isinstance(reply, redis.ResponseError):
            raise reply
        else:
            append(reply)
    return replies


class ViewWriter:
    """Writes one view's rows (a table with its join keys, features and EVENT_TIME) as Feast does."""

    def __init__(self, layout: ViewLayout, router: Router, batch_rows: int = BATCH_ROWS):
        self.layout = layout
        self._router = router
        self._batch_rows = batch_rows
        fields = 1 + len(layout.features)
        self._hset_header = _array_header(2 + 2 * fields) + _bulk_constant(b"HSET")
        self._timestamp_field = _bulk_constant(layout.timestamp_field)
        self._feature_fields = [_bulk_constant(layout.feature_field(name)) for name, _ in layout.features]
        self._hmget_header = _array_header(3) + _bulk_constant(b"HMGET")
        ttl = layout.key_ttl_seconds
        self._expire = (_array_header(3) + _bulk_constant(b"EXPIRE"), _bulk_constant(str(ttl).encode())) if ttl else None

    def write(self, table: pa.Table) -> WriteCount:
        """Encode batch i+1 while batch i's commands travel and Redis runs them (socket waits and
        Arrow's kernels release the GIL, so both cores work)."""
        count = WriteCount()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-writer") as sender:
            in_flight: Future[None] | None = None
            for batch in table.to_batches(max_chunksize=self._batch_rows):
                encoded = self._encode(batch)
                if in_flight is not None:
                    in_flight.result()
                in_flight = sender.submit(self._send, encoded, count)
            if in_flight is not None:
                in_flight.result()
        return count

    def _encode(self, batch: pa.RecordBatch) -> EncodedBatch:
        """Every row's HMGET of its stored event time and its HSET (+EXPIRE), as protocol bytes."""
        layout = self.layout
        raw_keys = encode_entity_keys(pa.Table.from_batches([batch]), layout.join_keys, layout.project)
        slots = key_slots(raw_keys) if self._router.needs_slots else None
        keys = _bulk(raw_keys)
        stamps, event_nanos = encode_timestamps(batch.column(EVENT_TIME))
        reads = None if layout.skip_dedup else concat(self._hmget_header, *keys, self._timestamp_field)
        parts: list[Any] = [self._hset_header, *keys, self._timestamp_field, *_bulk(stamps)]
        for (name, value_type), field in zip(layout.features, self._feature_fields, strict=True):
            parts += [field, *_bulk(encode_values(batch.column(name), value_type))]
        if self._expire is not None:
            parts += [self._expire[0], *keys, self._expire[1]]
        return EncodedBatch(batch.num_rows, reads, event_nanos, concat(*parts), 1 if self._expire is None else 2, slots)

    def _newer(self, pipeline: Pipeline, encoded: EncodedBatch) -> np.ndarray | None:
        """Which rows are newer than the event time the store holds for their entity (None: all)."""
        if encoded.reads is None:
            return None
        replies = pipeline.execute(protocol_bytes(encoded.reads), encoded.rows)
        stored = np.fromiter((_event_nanos(reply[0]) for reply in replies), dtype=np.int64, count=len(replies))
        newer = (stored == 0) | (encoded.event_nanos > stored)
        return None if newer.all() else newer

    def _send(self, encoded: EncodedBatch, count: WriteCount) -> None:
        """The batch's commands to the shard of each row, every shard at once."""
        count.rows += encoded.rows
        count.batches += 1
        shards = self._router.shards(encoded.slots)
        if len(shards) == 1 and shards[0][1] is None:
            count.written += self._send_to(shards[0][0], encoded)
            return
        with ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="redis-shard") as senders:
            sent = [senders.submit(self._send_to, pipeline, encoded.take(rows)) for pipeline, rows in shards]
            count.written += sum(future.result() for future in sent)

    def _send_to(self, pipeline: Pipeline, encoded: EncodedBatch) -> int:
        writes = encoded.writes
        newer = self._newer(pipeline, encoded)
        if newer is not None:
            writes = writes.filter(pa.array(newer))
        if len(writes):
            pipeline.execute_counting(protocol_bytes(writes), len(writes) * encoded.commands_per_row)
        return len(writes)


@dataclass(frozen=True)
class EncodedBatch:
    rows: int
    reads: pa.Array | None  # per row: HMGET key _ts:<view>; None when the store skips that check
    event_nanos: np.ndarray
    writes: pa.Array  # per row: HSET (and EXPIRE)
    commands_per_row: int
    slots: np.ndarray | None = None  # per row: its key's hash slot, when the store is a cluster

    def take(self, rows: np.ndarray | None) -> EncodedBatch:
        if rows is None:
            return self
        indices = pa.array(rows)
        reads = self.reads.take(indices) if self.reads is not None else None
        slots = self.slots[rows] if self.slots is not None else None
        return EncodedBatch(len(rows), reads, self.event_nanos[rows], self.writes.take(indices), self.commands_per_row, slots)
