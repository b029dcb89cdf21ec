"""Interaction logs into the store: ``user_id,item_id[,timestamp][,event][,weight]``.

- ``timestamp``: ISO-8601 (a time without a zone is UTC) or epoch seconds; stored as float epoch
  seconds, or NULL when absent.
- ``event``: a name such as ``view``, ``like``, ``share``, ``skip`` (compared in lower case). Its
  weight comes from the event-weight mapping: :data:`avrec.config.DEFAULT_EVENT_WEIGHTS` updated with
  the caller's ``event_weights``; an event the mapping does not name weighs ``1.0`` unless the
  mapping has a ``"*"`` entry.
- ``weight``: an explicit weight wins over the event's; it must be a finite number from 0 to
  :data:`~avrec.ingest.common.MAX_WEIGHT` (a million), and so must every event weight.

The same event of the same user on the same item at the same time is stored once: repeats, in the
file or already in the store, are counted as ``duplicates``. Users and items the store does not know
yet are created bare. Other columns are ignored and named in the report.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avrec.arrowbuf import filled_column, numpy_of
from avrec.config import DEFAULT_EVENT_WEIGHTS
from avrec.errors import StoreError, UsageError
from avrec.ingest.common import (
    MAX_WEIGHT,
    BulkSpec,
    IngestReport,
    NeedsRows,
    RowError,
    TableSpec,
    distinct_map,
    id_column,
    number_column,
    parse_id,
    parse_number,
    parse_timestamp,
    run_ingest,
    storable,
)
from avrec.ingest.records import Row, Source
from avrec.store import EventBlock, Interaction, Store

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "event", "weight")
BATCH_SIZE = 10_000
#: Events of one block the bulk path gives the store: a log is cut into ranges of users holding about this
#: many events each, written in user order (so that each part of the store's index on (user, item, ...) is
#: written once, in order). Into a store that holds events already, each block is one transaction.
PART_EVENTS = 1_000_000
#: Checked columns the bulk path holds in memory (about 5M events of short ids); a larger log is spilled to
#: Arrow files under the store as it is checked.
HELD_BYTES = 256 * 1024 * 1024
UNKNOWN_EVENT = "*"


def resolve_event_weights(event_weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The defaults updated with `event_weights` (names in lower case); a bad weight is a UsageError."""
    weights = {k.strip().lower(): float(v) for k, v in DEFAULT_EVENT_WEIGHTS.items()}
    for name, value in (event_weights or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or not 0 <= number <= MAX_WEIGHT:
            raise UsageError(
                f"the weight of event {name!r} (--event-weight) must be a number from 0 to {MAX_WEIGHT:g}, "
                f"not {value!r}"
            )
        weights[name.strip().lower()] = number
    return weights


class InteractionParser:
    """Turns rows into :class:`Interaction`s with a fixed event-weight mapping."""

    def __init__(self, event_weights: Mapping[str, float] | None = None) -> None:
        self.weights = resolve_event_weights(event_weights)
        self.default_weight = self.weights.get(UNKNOWN_EVENT, 1.0)

    def __call__(self, row: Row) -> Interaction:
        user_id = parse_id(row, "user_id")
        item_id = parse_id(row, "item_id")
        ts = parse_timestamp(row.get("timestamp"))
        event = _event(row.get("event"))
        weight = parse_number(row.get("weight"), "weight")
        if weight is None:
            weight = self.event_weight(event)
        elif weight < 0:
            raise RowError(f"weight must be >= 0, found {row.get('weight')!r}")
        elif weight > MAX_WEIGHT:
            raise RowError(f"weight {row.get('weight')!r} is larger than {MAX_WEIGHT:g}, the most one event may weigh")
        return Interaction(user_id=user_id, item_id=item_id, event=event, ts=ts, weight=weight)

    def event_weight(self, event: str) -> float:
        return self.weights.get(event, self.default_weight) if event else self.default_weight

    def columns(self, batch: Any) -> EventColumns:
        """The same checks as ``__call__`` on a pyarrow record batch, column by column; raises NeedsRows
        where ``__call__`` would raise RowError for some row."""
        import pyarrow as pa
        import pyarrow.compute as pc

        names = set(batch.schema.names)
        n = batch.num_rows
        users = id_column(batch.column("user_id"), "user_id")
        items = id_column(batch.column("item_id"), "item_id")
        times = number_column(batch.column("timestamp"), parse_timestamp) if "timestamp" in names else None
        if "event" in names:
            events = distinct_map(batch.column("event"), _event, pa.string())
            event_weights = distinct_map(events, self.event_weight, pa.float64())
        else:
            events, event_weights = filled_column("", n), filled_column(self.default_weight, n)
        weights = event_weights
        if "weight" in names:
            given = number_column(batch.column("weight"), lambda v: parse_number(v, "weight"))
            if given.null_count < n:
                if not pc.all(pc.and_kleene(pc.greater_equal(given, 0.0), pc.less_equal(given, MAX_WEIGHT))).as_py():
                    raise NeedsRows("a weight out of range")
                weights = pc.coalesce(given, event_weights)
        return EventColumns(users, items, events, times, weights)


def _event(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(f"event must be text, found {value!r}")
    return storable(value.strip().lower(), "event")


@dataclass
class EventColumns:
    """A checked batch of events as pyarrow arrays: ids and events as text, times (null when unknown)
    and weights as float64."""

    users: Any
    items: Any
    events: Any
    times: Any | None
    weights: Any

    def nbytes(self) -> int:
        """The size of the columns' buffers."""
        columns = (self.users, self.items, self.events, self.times, self.weights)
        return sum(int(c.nbytes) for c in columns if c is not None)

    def table(self) -> Any:
        import pyarrow as pa

        times = self.times if self.times is not None else pa.nulls(len(self.users), pa.float64())
        names = ["user_id", "item_id", "event", "ts", "weight"]
        return pa.record_batch([self.users, self.items, self.events, times, self.weights], names=names)

    @classmethod
    def joined(cls, batches: list[EventColumns]) -> EventColumns:
        """One batch of several, in order (each column copied once)."""
        import pyarrow as pa

        def join(arrays: list[Any]) -> Any:
            return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)

        times = None
        if any(b.times is not None for b in batches):
            times = join([b.times if b.times is not None else pa.nulls(len(b.users), pa.float64()) for b in batches])
        return cls(
            join([b.users for b in batches]),
            join([b.items for b in batches]),
            join([b.events for b in batches]),
            times,
            join([b.weights for b in batches]),
        )

    @classmethod
    def of(cls, table: Any) -> EventColumns:
        """From a table or record batch made by :meth:`table` (chunks joined)."""
        if hasattr(table, "combine_chunks"):
            table = table.combine_chunks()
        columns = [c.combine_chunks() if hasattr(c, "combine_chunks") else c for c in table.columns]
        return cls(*columns)


class _EventWriter:
    """The bulk path's writer. A log of up to :data:`HELD_BYTES` of checked columns is held in memory as it
    is checked. A larger one is spilled, as it is checked, into an Arrow file under the store folder; once
    the whole log has passed, its events are sorted out into ranges of users (one Arrow file each). Either
    way the events go to the store sorted by user, in blocks of about :data:`PART_EVENTS` events (a range
    of users each), and the input is read once: what is written is exactly what was checked."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._held_bytes = 0
        self._user_counts: list[Any] = []
        self._held: list[EventColumns] = []
        self._checked: _ArrowFiles | None = None

    def add(self, batch: EventColumns) -> None:
        if self._checked is None:
            self._held.append(batch)
            self._held_bytes += batch.nbytes()
            if self._held_bytes <= HELD_BYTES:
                return
            self._checked = _ArrowFiles(self.store.root)
            for held in self._held:
                self._spill(held)
            self._held = []
        else:
            self._spill(batch)

    def _spill(self, batch: EventColumns) -> None:
        import pyarrow.compute as pc

        assert self._checked is not None
        self._user_counts.append(pc.value_counts(batch.users))
        if len(self._user_counts) >= 8:  # keep one count per user, not one per user and batch
            self._user_counts = [_sum_counts(self._user_counts)]
        self._checked.write(0, batch.table())

    def finish(self, report: IngestReport) -> None:
        def committed(added: int, repeats: int, new_users: int, new_items: int) -> None:
            report.stored += added
            report.new += added
            report.duplicates += repeats
            report.new_users += new_users
            report.new_items += new_items

        duplicates = [0]  # repeats within the file, found as the blocks are made
        blocks = self._blocks(duplicates)
        try:
            self.store.add_interaction_blocks(blocks, committed)
        finally:
            blocks.close()  # the spilled files, were the store to fail halfway
        report.duplicates += duplicates[0]

    def _blocks(self, duplicates: list[int]) -> Generator[EventBlock, None, None]:
        """The checked events as store blocks: the held ones, or a spilled log range by range."""
        if self._checked is None:
            if self._held:
                held = EventColumns.joined(self._held)
                self._held = []
                yield from _blocks_of(held, duplicates)
            return
        users, part_of = _user_ranges(self._user_counts, PART_EVENTS)
        with self._checked as checked, _ArrowFiles(self.store.root) as parts:
            for table in checked.read(0):
                _route(table, users, part_of, parts)
            checked.remove(0)
            for part in parts.numbers():
                yield from _blocks_of(EventColumns.of(parts.read_all(part)), duplicates)
                parts.remove(part)

    def discard(self) -> None:
        if self._checked is not None:
            self._checked.cleanup()


def _user_ranges(user_counts: list[Any], part_events: int) -> tuple[Any, np.ndarray]:
    """(every user, sorted; the range of each): ranges of consecutive users holding about `part_events`
    events each (a user is never split, so one with more events makes a larger range)."""
    import pyarrow.compute as pc

    counts = _sum_counts(user_counts)
    per_user = counts.take(pc.sort_indices(counts.field("values")))
    per_user_events = per_user.field("counts").to_numpy()
    before = np.cumsum(per_user_events) - per_user_events
    return per_user.field("values"), before // part_events


def _sum_counts(user_counts: list[Any]) -> Any:
    """`pc.value_counts` results of several batches as one: (values, counts) per distinct user."""
    import pyarrow as pa

    users = pa.concat_arrays([c.field("values") for c in user_counts])
    events = pa.concat_arrays([c.field("counts") for c in user_counts])
    summed = pa.table([users, events], names=["values", "counts"]).group_by("values").aggregate([("counts", "sum")])
    return pa.StructArray.from_arrays(
        [summed.column("values").combine_chunks(), summed.column("counts_sum").combine_chunks()],
        names=["values", "counts"],
    )


def _route(table: Any, users: Any, part_of: np.ndarray, parts: _ArrowFiles) -> None:
    """Append each event of `table` to the Arrow file of its user's range."""
    import pyarrow as pa
    import pyarrow.compute as pc

    part = part_of[pc.index_in(table.column("user_id"), value_set=users).to_numpy()]
    order = np.argsort(part, kind="stable")
    sizes = np.bincount(part, minlength=int(part_of[-1]) + 1 if len(part_of) else 0)
    ordered = table.take(pa.array(order))
    start = 0
    for number, size in enumerate(sizes.tolist()):
        if size:
            parts.write(number, ordered.slice(start, size))
            start += size


class _ArrowFiles:
    """Numbered Arrow IPC files, each an anonymous temporary file under the store folder (already unlinked,
    so a killed ingest leaves nothing behind); a failed write is a StoreError that says to free space (what
    was stored before is kept)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._files: dict[int, Any] = {}
        self._writers: dict[int, Any] = {}

    def _guard(self, work: Any) -> Any:
        try:
            return work()
        except OSError as exc:
            raise StoreError(
                f"cannot write a temporary file under {self._root} ({exc.strerror or exc}): free some space on "
                "its disk and run the command again; what was stored before is kept"
            ) from None

    def write(self, number: int, rows: Any) -> None:
        import pyarrow as pa

        def write() -> None:
            if number not in self._writers:
                self._files[number] = tempfile.TemporaryFile(dir=self._root)  # closed in remove() / cleanup()
                sink = pa.PythonFile(self._files[number], mode="w")
                self._writers[number] = pa.ipc.new_stream(sink, rows.schema)
            self._writers[number].write(rows)

        self._guard(write)

    def numbers(self) -> list[int]:
        return sorted(self._files)

    def _source(self, number: int) -> Any:
        """The file, written to the end and rewound, for reading."""
        import pyarrow as pa

        writer = self._writers.pop(number, None)
        if writer is not None:
            self._guard(writer.close)
        fh = self._files[number]
        self._guard(fh.flush)
        fh.seek(0)
        return pa.PythonFile(fh, mode="r")

    def read(self, number: int) -> Iterator[Any]:
        """The file's record batches, one at a time (memory: one batch)."""
        import pyarrow as pa

        for batch in pa.ipc.open_stream(self._source(number)):
            yield pa.Table.from_batches([batch])

    def read_all(self, number: int) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(self._source(number)).read_all()

    def remove(self, number: int) -> None:
        writer = self._writers.pop(number, None)
        fh = self._files.pop(number, None)
        with contextlib.suppress(Exception):
            if writer is not None:
                writer.close()
        if fh is not None:
            fh.close()

    def cleanup(self) -> None:
        for number in list(self._files):
            self.remove(number)

    def __enter__(self) -> _ArrowFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class _Distinct:
    """A text column as codes: each row's index into `values` (distinct, first-seen order) and its rank
    among them in sorted order."""

    def __init__(self, column: Any) -> None:
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(column)
        self.values = np.array(encoded.dictionary.to_pylist(), dtype=object)
        self.codes = numpy_of(encoded.indices)
        self.sorted_order = numpy_of(pc.sort_indices(encoded.dictionary))
        rank = np.empty(len(self.values), dtype=np.int64)
        rank[self.sorted_order] = np.arange(len(self.values))
        self.ranks = rank[self.codes]

    def rows(self, order: np.ndarray) -> np.ndarray:
        """The rows' values in `order`, an object array (the same str objects, shared: no copy per row)."""
        return np.asarray(self.values[self.codes[order]])

    def sorted_values(self) -> list[str]:
        return list(self.values[self.sorted_order].tolist())


def _blocks_of(batch: EventColumns, duplicates: list[int]) -> Iterator[EventBlock]:
    """Checked events as store blocks of about :data:`PART_EVENTS` events (a range of users each, a user
    never split): sorted by (user, item) so that the store's index on them is written in order, repeats
    left out (the first in the file is kept, as the row path keeps it) and counted in ``duplicates[0]``."""
    import pyarrow.compute as pc

    users, items = _Distinct(batch.users), _Distinct(batch.items)
    # None: every event is '' (a log without events)
    events = _Distinct(batch.events) if pc.max(pc.binary_length(batch.events)).as_py() else None
    # stable: of events alike but for their weight, the first in the file comes first
    order, sorted_pairs = _stable_order(users.ranks * len(items.values) + items.ranks)
    times = None
    if batch.times is not None and batch.times.null_count < len(batch.times):
        # NaN for an unknown time: SQLite stores a NaN bound as a REAL as NULL
        times = numpy_of(batch.times)
    event_codes = np.zeros(len(order), dtype=np.int8) if events is None else events.codes[order]
    repeats = _repeats(sorted_pairs, event_codes, None if times is None else times[order])
    if repeats.any():
        duplicates[0] += int(repeats.sum())
        order = order[~repeats]
    weights = numpy_of(batch.weights)
    user_ids, item_ids = users.sorted_values(), items.sorted_values()
    user_ranks = users.ranks[order]
    # cut at the first event of a user, about every PART_EVENTS events
    user_starts = np.flatnonzero(user_ranks[1:] != user_ranks[:-1]) + 1
    after = np.searchsorted(user_starts, np.arange(PART_EVENTS, len(order), PART_EVENTS))
    cuts = np.unique(user_starts[after[after < len(user_starts)]])
    for start, end in zip([0, *cuts.tolist()], [*cuts.tolist(), len(order)], strict=True):
        if start >= end:
            continue
        part = order[start:end]
        used_items = np.zeros(len(item_ids), dtype=bool)
        used_items[items.ranks[part]] = True
        yield EventBlock(
            users=users.rows(part),
            items=items.rows(part),
            weights=weights[part],
            user_ids=user_ids[user_ranks[start] : user_ranks[end - 1] + 1],
            item_ids=[item_ids[n] for n in np.flatnonzero(used_items).tolist()],
            events=None if events is None else events.rows(part),
            times=None if times is None else times[part],
        )


def _stable_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the stable sorting order of non-negative int64 `keys`, the keys in that order). Each key is packed
    with its position into one int64 where both fit, and sorted as such: faster than a stable argsort, and
    the same order."""
    n = len(keys)
    shift = max(n - 1, 1).bit_length()
    if n == 0 or int(keys.max()) >= 1 << (63 - shift):
        order = np.argsort(keys, kind="stable")
        return order, keys[order]
    packed = (keys.astype(np.int64) << shift) | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << shift) - 1), packed >> shift


def _repeats(pairs: np.ndarray, events: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """Which events repeat an earlier one (the same user and item, event and time), given events sorted
    by (user, item) stably: the `pairs` key of each, its event code, its time (NaN: unknown). Times are
    compared as the store's index compares them (an unknown time as -1e300)."""
    repeats = np.zeros(len(pairs), dtype=bool)
    same = pairs[1:] == pairs[:-1]
    if not same.any():
        return repeats
    shared = np.zeros(len(pairs), dtype=bool)  # events whose (user, item) pair another event shares
    shared[1:] |= same
    shared[:-1] |= same
    if times is not None and not np.any(same & ~(times[1:] > times[:-1])):
        return repeats  # a log in time order: each pair's events at rising times, none alike
    at = np.flatnonzero(shared)
    keys = [pairs[at], events[at]]
    if times is not None:
        keys.append(np.where(np.isnan(times[at]), -1.0e300, times[at]))
    # stable, so of events alike the first in the file comes first
    by_key = np.lexsort(keys[::-1])
    alike = np.ones(len(at) - 1, dtype=bool)
    for key in keys:
        column = key[by_key]
        alike &= column[1:] == column[:-1]
    repeats[at[by_key[1:][alike]]] = True
    return repeats


def _write(batch: list[Interaction], report: IngestReport, store: Store) -> None:
    added, duplicates, new_users, new_items = store.add_interactions(batch)
    report.stored += added
    report.new += added
    report.duplicates += duplicates
    report.new_users += new_users
    report.new_items += new_items


def ingest_interactions(
    store: Store,
    source: Source,
    *,
    format: str | None = None,
    skip_bad_rows: bool = False,
    event_weights: dict[str, float] | None = None,
) -> IngestReport:
    """Add the events of an interaction log (CSV, JSONL or Parquet; a path, ``"-"`` for stdin, or a
    stream), streaming it in batches, so a log of any length is ingested in bounded memory.

    Bad rows (empty ids, bad timestamps, NaN/infinite/negative weights, malformed lines) reject the
    whole file unless ``skip_bad_rows``; see :func:`avrec.ingest.ingest_catalog`.
    """
    parser = InteractionParser(event_weights)
    spec = TableSpec(
        kind="interactions",
        required=("user_id", "item_id"),
        known=INTERACTION_COLUMNS,
        parse=parser,
        write=lambda batch, report: _write(batch, report, store),
        batch_size=BATCH_SIZE,
        report_unknown_columns=True,
        bulk=BulkSpec(parser.columns, lambda: _EventWriter(store)),
    )
    return run_ingest(spec, source, format=format, skip_bad_rows=skip_bad_rows, spool_dir=store.root)
