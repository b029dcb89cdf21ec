"""The store: a directory with `avrec.db` (SQLite, WAL), `indexes/` and `models/`.

This is the only module that speaks SQL. Writers use `atomic()` (BEGIN IMMEDIATE, so two processes
serialise on SQLite's lock with a long busy timeout instead of failing with "database is locked").

Why one long module: `Store` is the one boundary every query crosses (as sqlite-utils keeps its `Database`
in one `db.py`): one connection, one transaction discipline, typed rows in and out. Schema changes live in
`migrations`, file naming and ownership in `files`, vector encoding in `vectors`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from avrec.arrowbuf import numpy_of, string_array
from avrec.errors import StoreError, UnknownIdError
from avrec.store.files import MARKER_NAME, unclaimed_folder, write_marker, writer_lock
from avrec.store.migrations import current_version, migrate
from avrec.store.vectors import decode_vector, encode_vector

#: Suffix of a model version's user-vector folder under `indexes/`.
USER_VECTORS_SUFFIX = ".users"
DB_NAME = "avrec.db"
#: `PRAGMA application_id` of an avrec database ("avrc"): the database says whose it is.
APPLICATION_ID = 0x61767263
#: `store_state` keys of model versions being written (see `Store.claim_model_key`).
PENDING_PREFIX = "pending_model:"
BUSY_TIMEOUT_MS = 60_000
#: Page cache of a connection that has written a bulk batch (`add_interaction_blocks`); SQLite's default
#: is 2 MiB, and an index larger than its cache is re-read from the file for every batch.
BULK_CACHE_KIB = 512 * 1024
#: Events one INSERT statement of `add_interaction_blocks` writes at most (fewer where their values would be
#: more than the `MAX_PARAMETERS` an older SQLite binds).
EVENTS_PER_INSERT = 256
MAX_PARAMETERS = 999
#: Users per query of `Store.histories` (well under SQLite's limit on bound parameters).
HISTORY_BLOCK = 500
#: Events `Store.interaction_codes` reads at a time (by event id): a few MB of joined ids per column.
CODE_CHUNK = 1 << 20
MODALITIES = ("text", "visual", "audio")


@dataclass
class Item:
    item_id: str
    title: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    creator: str | None = None
    path: str | None = None
    kind: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Interaction:
    user_id: str
    item_id: str
    event: str = ""
    ts: float | None = None
    weight: float = 1.0


@dataclass
class EventBlock:
    """Events as columns (sequences or numpy arrays), one event per position, in the order they are stored
    (best sorted by user and item, the order of the store's index on them). `events` None: every event is
    ''; `times` None: every time is unknown (a NaN time is unknown too). `user_ids` and `item_ids` name
    every user and item of the block (distinct, best sorted): they are created first, so the foreign keys
    hold without checking them event by event."""

    users: Sequence[str] | np.ndarray
    items: Sequence[str] | np.ndarray
    weights: Sequence[float] | np.ndarray
    user_ids: Sequence[str]
    item_ids: Sequence[str]
    events: Sequence[str] | np.ndarray | None = None
    times: Sequence[float | None] | np.ndarray | None = None


@dataclass
class MediaRecord:
    item_id: str
    path: str
    sha256: str
    size: int
    mtime: float
    duration: float | None = None
    has_video: bool = False
    has_audio: bool = False
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    container: str | None = None
    probe: dict[str, Any] = field(default_factory=dict)


@dataclass
class VectorRecord:
    item_id: str
    modality: str
    model_id: str
    vec: np.ndarray
    source_hash: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class FrameRecord:
    idx: int
    ts: float
    kind: str
    model_id: str
    vec: np.ndarray
    thumb: bytes | None = None


@dataclass(frozen=True)
class VisualLabel:
    """One ImageNet class an item's frames show: its share of the frames' probability mass, how many
    frames show it (above the confidence floor) and the timestamp of the frame that shows it best."""

    label: str
    score: float
    frames: int
    ts: float


@dataclass
class Transcript:
    item_id: str
    model_id: str
    source_hash: str
    language: str | None
    has_speech: bool
    text: str
    segments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelRecord:
    model_key: str
    kind: str
    path: str
    params: dict[str, Any]
    report: dict[str, Any]
    created_at: float


class Store:
    """A handle on one store directory. Cheap to open; safe to open from several processes."""

    def __init__(self, root: Path | str, *, create: bool = True) -> None:
        self.root = Path(root)
        if not self.root.exists():
            if not create:
                raise StoreError(f"no store at {self.root}; create one with `avrec --store {self.root} ingest ...`")
            old = os.umask(0o077)
            try:
                self.root.mkdir(parents=True, mode=0o700)
            finally:
                os.umask(old)
        elif not self.root.is_dir():
            raise StoreError(f"store path {self.root} exists and is not a directory")
        self.db_path = self.root / DB_NAME
        self._check_adoptable(create)
        for sub in ("indexes", "models"):
            (self.root / sub).mkdir(mode=0o700, exist_ok=True)
        new_db = not self.db_path.exists()
        try:
            self.conn = sqlite3.connect(
                self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            if new_db:
                os.chmod(self.db_path, 0o600)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            marked = self._check_application_id()
            self._wal_mode()
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            migrate(self.conn)
            if not marked:
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except sqlite3.DatabaseError as exc:
            raise database_error(self.db_path, exc) from None
        with contextlib.suppress(OSError):  # a read-only store stays readable
            write_marker(self.root)

    def _wal_mode(self) -> None:
        """Put the database in WAL mode. During another process's first bulk load it is in rollback-journal
        mode (`_rollback_journal`), and SQLite refuses the switch at once rather than wait (the loader holds
        its write lock): try again until the load ends, up to the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def _check_adoptable(self, create: bool) -> None:
        """Refuse a folder that is not an avrec store, and a store whose database was lost: never build a
        new store over someone's files, or over a store's model files without its database."""
        size = self.db_path.stat().st_size if self.db_path.is_file() else None
        marked = (self.root / MARKER_NAME).exists()
        if size:
            return
        if marked:
            state = "missing" if size is None else "empty (0 bytes)"
            raise StoreError(
                f"store {self.root} has lost its database: {self.db_path} is {state}; restore it from a backup "
                "(nothing else in the folder was changed)"
            )
        if not create:
            raise StoreError(f"{self.root} holds no avrec database; run `avrec ingest` first")
        if not unclaimed_folder(self.root, DB_NAME):
            raise StoreError(
                f"{self.root} is not an avrec store and is not empty; give --store a new or empty folder "
                "(avrec does not adopt a folder that holds other files)"
            )

    def _check_application_id(self) -> bool:
        """Whether the database is marked as avrec's; a database of another program is refused. One from
        before the marking (an avrec schema, no mark) is adopted and marked after its migrations."""
        app_id = int(self.conn.execute("PRAGMA application_id").fetchone()[0])
        if app_id == APPLICATION_ID:
            return True
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id != 0 or (tables and "schema_migrations" not in tables):
            self.conn.close()
            raise StoreError(
                f"{self.db_path} is an SQLite database of another program, not an avrec store; give --store "
                "a new or empty folder"
            )
        return False

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def indexes_dir(self) -> Path:
        return self.root / "indexes"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    # Every file a model version owns is named here, and nowhere else.
    def model_path(self, model_key: str) -> Path:
        """A model version's parameters (`.npz`)."""
        return self.models_dir / f"{model_key}.npz"

    def index_path(self, model_key: str) -> Path:
        """A model version's Annoy index; its metadata is the `.json` next to it (`avrec.serving.index`)."""
        return self.indexes_dir / f"{model_key}.ann"

    def user_vectors_dir(self, model_key: str) -> Path:
        """A model version's stored user vectors (`avrec.serving.uservectors`)."""
        return self.indexes_dir / f"{model_key}{USER_VECTORS_SUFFIX}"

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back whole on any error. SQLite's own failures (a full disk, a
        damaged file) become a :class:`StoreError` naming the database."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise database_error(self.db_path, exc) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the database."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    def writer_lock(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Exclusive lock for long writers (embed, fit) so two of them never interleave."""
        return writer_lock(self.root, what)

    def writable_by_others(self) -> list[Path]:
        """The store's folder, database and sub-folders that any user of the machine may write (mode o+w):
        whoever can write them can change its data or swap its models."""
        loose = []
        for path in (self.root, self.db_path, self.indexes_dir, self.models_dir):
            with contextlib.suppress(OSError):
                if path.stat().st_mode & stat.S_IWOTH:
                    loose.append(path)
        return loose

    def schema_version(self) -> int:
        return current_version(self.conn)

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- items --------------------------------------------------------------------------------

    def upsert_items(self, items: Iterable[Item]) -> tuple[int, int]:
        """Insert or update items; fields left None keep their stored value. Returns (new, updated)."""
        now = time.time()
        new = updated = 0
        with self.atomic() as conn:
            for item in items:
                exists = conn.execute("SELECT 1 FROM items WHERE item_id = ?", (item.item_id,)).fetchone()
                _upsert_item(conn, item, now)
                if exists:
                    updated += 1
                else:
                    new += 1
        return new, updated

    def get_item(self, item_id: str) -> Item | None:
        row = self.conn.execute(
            "SELECT item_id, title, description, tags, creator, path, kind, attrs FROM items WHERE item_id = ?",
            (item_id,),
        ).fetchone()
        return _item(row) if row else None

    def require_item(self, item_id: str) -> Item:
        item = self.get_item(item_id)
        if item is None:
            raise UnknownIdError(f"unknown item id {item_id!r}: it is in no catalog, log or media ingested here")
        return item

    def iter_items(self) -> Iterator[Item]:
        cur = self.conn.execute(
            "SELECT item_id, title, description, tags, creator, path, kind, attrs FROM items ORDER BY item_id"
        )
        for row in cur:
            yield _item(row)

    def item_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT item_id FROM items ORDER BY item_id")]

    def item_id_for_path(self, path: str) -> str | None:
        """The catalog row whose `path` names this file (exact, then by file name)."""
        row = self.conn.execute("SELECT item_id FROM items WHERE path = ? ORDER BY item_id", (path,)).fetchone()
        if row:
            return str(row[0])
        name = Path(path).name
        rows = self.conn.execute(
            "SELECT item_id, path FROM items WHERE path IS NOT NULL AND (path = ? OR path LIKE ? ESCAPE '\\')",
            (name, "%/" + _like_escape(name)),
        ).fetchall()
        return str(rows[0][0]) if len(rows) == 1 else None

    # -- users --------------------------------------------------------------------------------

    def upsert_users(self, users: Iterable[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
        now = time.time()
        new = updated = 0
        with self.atomic() as conn:
            for user_id, attrs in users:
                exists = conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone()
                conn.execute(
                    """
                    INSERT INTO users(user_id, attrs, created_at, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(user_id) DO UPDATE SET attrs = json_patch(attrs, excluded.attrs),
                                                       updated_at = excluded.updated_at
                    """,
                    (user_id, json.dumps(attrs, ensure_ascii=False), now, now),
                )
                if exists:
                    updated += 1
                else:
                    new += 1
        return new, updated

    def user_exists(self, user_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is not None

    def user_attrs(self, user_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Attributes of every user, or of just `user_ids` (users without a row are left out)."""
        if user_ids is None:  # ({} parsed without the JSON decoder: most stores hold no attributes)
            rows = self.conn.execute("SELECT user_id, attrs FROM users")
            return {r[0]: {} if r[1] == "{}" else json.loads(r[1]) for r in rows}
        ids = list(dict.fromkeys(user_ids))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for user_id, attrs in self.conn.execute(
                f"SELECT user_id, attrs FROM users WHERE user_id IN ({marks})", chunk
            ):
                out[user_id] = json.loads(attrs)
        return out

    def user_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT user_id FROM users ORDER BY user_id")]

    # -- interactions -------------------------------------------------------------------------

    def add_interactions(self, rows: Sequence[Interaction]) -> tuple[int, int, int, int]:
        """Store a batch in one transaction. Unknown users and items are created bare.

        Returns (added, duplicates, new_users, new_items).
        """
        now = time.time()
        with self.atomic() as conn:
            before_users = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO users(user_id, created_at, updated_at) VALUES (?, ?, ?)",
                [(u, now, now) for u in {r.user_id for r in rows}],
            )
            new_users = conn.total_changes - before_users
            before_items = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO items(item_id, created_at, updated_at) VALUES (?, ?, ?)",
                [(i, now, now) for i in {r.item_id for r in rows}],
            )
            new_items = conn.total_changes - before_items
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO interactions(user_id, item_id, event, ts, weight) VALUES (?, ?, ?, ?, ?)",
                [(r.user_id, r.item_id, r.event, r.ts, r.weight) for r in rows],
            )
            added = conn.total_changes - before
        return added, len(rows) - added, new_users, new_items

    def add_interaction_blocks(
        self, blocks: Iterable[EventBlock], committed: Callable[[int, int, int, int], None] | None = None
    ) -> tuple[int, int, int, int]:
        """`add_interactions` for a large log given as blocks of columns (see :class:`EventBlock`).

        No two events of the blocks may be alike (the same user, item, event and time; the caller removes
        repeats); events alike ones already stored are skipped, as `add_interactions` does. Into a store
        holding no events yet, every block goes into one transaction, so a failure anywhere leaves the store
        as it was; its events are known to be new, and the dedup index, written in order (blocks sorted by user
        and item), costs less kept up to date than dropped and built again. Into a store that holds events,
        each block is its own transaction, checked against the index event by event. Blocks are read lazily,
        one at a time. `committed` is told the counts of each transaction once it is committed. Returns
        (added, duplicates, new_users, new_items).
        """
        blocks = iter(blocks)
        seen_items: set[str] = set()  # created by an earlier block: not offered again
        totals = [0, 0, 0, 0]

        def add(conn: sqlite3.Connection, block: EventBlock, counts: list[int], *, first_load: bool) -> None:
            now = time.time()
            before = conn.total_changes
            users = "INSERT OR IGNORE INTO users(user_id, created_at, updated_at)"
            _insert_rows(conn, users, [block.user_ids, now, now])
            counts[2] += conn.total_changes - before
            before = conn.total_changes
            new_items = [i for i in block.item_ids if i not in seen_items]
            _insert_rows(conn, "INSERT OR IGNORE INTO items(item_id, created_at, updated_at)", [new_items, now, now])
            seen_items.update(block.item_ids)
            counts[3] += conn.total_changes - before
            before = conn.total_changes
            # a column left out takes its default: '' for the event, NULL for the time
            columns = [c for c in (block.users, block.items, block.events, block.times, block.weights) if c is not None]
            names = "user_id, item_id" + (", event" if block.events is not None else "")
            names += (", ts" if block.times is not None else "") + ", weight"
            verb = "INSERT" if first_load else "INSERT OR IGNORE"
            _insert_rows(conn, f"{verb} INTO interactions({names})", columns)
            counts[0] += conn.total_changes - before
            counts[1] += len(block.users) - (conn.total_changes - before)

        def done(counts: list[int]) -> None:
            for n, count in enumerate(counts):
                totals[n] += count
            if committed is not None:
                committed(*counts)

        self.conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        self.conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set it before
        empty = self.conn.execute("SELECT 1 FROM interactions LIMIT 1").fetchone() is None
        journal = empty and self._rollback_journal()
        try:
            counts = [0, 0, 0, 0]
            with self.atomic() as conn:
                first_load = conn.execute("SELECT 1 FROM interactions LIMIT 1").fetchone() is None
                if first_load:
                    for block in blocks:
                        add(conn, block, counts, first_load=True)
                else:
                    for block in itertools.islice(blocks, 1):
                        add(conn, block, counts, first_load=False)
            done(counts)
            for block in blocks:
                counts = [0, 0, 0, 0]
                with self.atomic() as conn:
                    add(conn, block, counts, first_load=False)
                done(counts)
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")
            if journal:
                with contextlib.suppress(sqlite3.Error):  # else the next Store() on the database sets it
                    self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
        added, duplicates, new_users, new_items = totals
        return added, duplicates, new_users, new_items

    def _rollback_journal(self) -> bool:
        """Put the database in rollback-journal mode for a first bulk load, if no other connection has it
        open (else False, and it stays in WAL mode). In WAL mode every page of the load is written twice (into
        the WAL, then into the database); a rollback journal keeps a copy of the few pages the load changes
        and writes the new ones once (about a second less for a load of 5M events). While the load lasts,
        another command opening the store waits for it (each Store() sets WAL mode, which needs the database
        to itself: `_wal_mode`). A failure still leaves the store as it was: the journal undoes it, now or when the
        database is next opened. `synchronous = FULL` keeps the journal safe from a power cut."""
        self.conn.execute("PRAGMA busy_timeout = 0")  # another connection open: keep WAL, do not wait
        try:
            switched = str(self.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower() == "delete"
        except sqlite3.OperationalError:  # locked
            switched = False
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if switched:
            self.conn.execute("PRAGMA synchronous = FULL")
        return switched

    def interactions(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """All events as (user_ids, item_ids, weights, timestamps with NaN for unknown)."""
        users: list[str] = []
        items: list[str] = []
        weights: list[np.ndarray] = [np.zeros(0)]
        times: list[np.ndarray] = [np.zeros(0)]
        for u, i, w, t in self.interaction_chunks():
            users += u
            items += i
            weights.append(w)
            times.append(t)
        return users, items, np.concatenate(weights), np.concatenate(times)

    def interaction_chunks(
        self, size: int = 1 << 16, *, times: bool = True
    ) -> Iterator[tuple[list[str], list[str], np.ndarray, np.ndarray]]:
        """`interactions`, `size` events at a time, in the order they were stored: one sequential scan, in
        bounded memory. Weights are float64: an old store may hold weights beyond float32 (ingest bounds
        them now); the caller checks. With `times` False the timestamps are not read (all NaN)."""
        column = "ts" if times else "NULL"
        cur = self.conn.execute(f"SELECT user_id, item_id, weight, {column} FROM interactions ORDER BY id")
        while rows := cur.fetchmany(size):
            users, items, weights, stamps = zip(*rows, strict=True)
            # float64 with None (no timestamp) as NaN
            yield list(users), list(items), np.asarray(weights, dtype=np.float64), np.array(stamps, dtype=np.float64)

    def interaction_codes(
        self, user_ids: Sequence[str], item_ids: Sequence[str], size: int = CODE_CHUNK
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Every event as (user code, item code, weight) in the order stored, codes being positions in
        `user_ids` / `item_ids` (int32, -1 where absent), weights float64: what `interaction_chunks` gives,
        without a Python string per id. SQLite joins each range of `size` events' ids into one string per
        column, and pyarrow splits them and looks them up in bulk. None when an id holds the separator
        (then a range splits into more ids than it holds events): read `interaction_chunks` instead."""
        import pyarrow.compute as pc

        users_set, items_set = string_array(user_ids), string_array(item_ids)
        top = self.last_event_id()
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # A range of event ids read straight off the table comes in id order when SQLite walks the rowid
        # (what EXPLAIN QUERY PLAN says it does); else the ids are put in order in a subquery (slower).
        select = "count(*), group_concat(user_id, char(31)), group_concat(item_id, char(31)), min(weight), max(weight)"
        query = f"SELECT {select} FROM interactions WHERE id >= ? AND id < ?"
        plan = [row[-1] for row in self.conn.execute(f"EXPLAIN QUERY PLAN {query}", (0, size))]
        if len(plan) != 1 or "INTEGER PRIMARY KEY" not in plan[0]:
            query = (
                f"SELECT {select} FROM (SELECT user_id, item_id, weight FROM interactions WHERE id >= ? AND id < ? "
                "ORDER BY id)"
            )
        for low in range(0, top + 1, size):
            span = (low, low + size)
            joined = self.conn.execute(query, span).fetchone()
            count = int(joined[0])
            if count == 0:
                continue
            if joined[3] == joined[4] != 0:  # one weight throughout (a log without weights): no need to read it
                weights = np.full(count, joined[3], dtype=np.float64)
            else:
                weights = np.fromiter(
                    chain.from_iterable(
                        self.conn.execute("SELECT weight FROM interactions WHERE id >= ? AND id < ? ORDER BY id", span)
                    ),
                    dtype=np.float64,
                    count=count,
                )
            columns = []
            for text, vocabulary in ((joined[1], users_set), (joined[2], items_set)):
                ids = pc.split_pattern(string_array([text]), "\x1f").flatten()
                if len(ids) != count:
                    return None
                columns.append(numpy_of(pc.index_in(ids, options=pc.SetLookupOptions(vocabulary)), null=-1))
            parts.append((columns[0], columns[1], weights))
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0)
        u, i, w = (np.concatenate(c) for c in zip(*parts, strict=True))
        return u, i, w

    def user_history(self, user_id: str) -> list[tuple[str, float]]:
        """(item_id, summed weight) of a user's events, heaviest first."""
        rows = self.conn.execute(
            "SELECT item_id, sum(weight) AS w FROM interactions WHERE user_id = ? GROUP BY item_id "
            "ORDER BY w DESC, item_id",
            (user_id,),
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def histories(self, user_ids: Sequence[str]) -> tuple[list[str], list[str], np.ndarray]:
        """`user_history` of many users at once: (user ids, item ids, summed weights), one entry per
        (user, item) pair, in no particular order; one query per `HISTORY_BLOCK` users instead of one each."""
        users: list[str] = []
        items: list[str] = []
        weights: list[float] = []
        wanted = list(dict.fromkeys(user_ids))
        for start in range(0, len(wanted), HISTORY_BLOCK):
            block = wanted[start : start + HISTORY_BLOCK]
            cur = self.conn.execute(
                "SELECT user_id, item_id, sum(weight) FROM interactions "
                f"WHERE user_id IN ({','.join('?' * len(block))}) GROUP BY user_id, item_id",
                block,
            )
            for u, i, w in cur:
                users.append(u)
                items.append(i)
                weights.append(w)
        return users, items, np.asarray(weights, dtype=np.float64)

    def last_event_id(self) -> int:
        """Events are numbered in the order they were stored; this is the newest number (0: none)."""
        return int(self.conn.execute("SELECT max(id) FROM interactions").fetchone()[0] or 0)

    def has_events_after(self, user_id: str, event_id: int) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM interactions WHERE user_id = ? AND id > ? LIMIT 1", (user_id, event_id)
        ).fetchone()
        return row is not None

    def user_attrs_text(self, user_ids: Iterable[str] | None = None) -> dict[str, str]:
        """The stored attribute JSON of every user (or of `user_ids`), as text: equal text, same attributes."""
        if user_ids is None:
            return {r[0]: r[1] for r in self.conn.execute("SELECT user_id, attrs FROM users")}
        out: dict[str, str] = {}
        for user_id in user_ids:
            row = self.conn.execute("SELECT attrs FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is not None:
                out[user_id] = row[0]
        return out

    def interaction_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM interactions").fetchone()[0])

    # -- taking data out ----------------------------------------------------------------------

    def forget_users(self, user_ids: Sequence[str]) -> tuple[dict[str, int], list[str]]:
        """Delete users with their attributes and every event of theirs, in one transaction.

        Returns (rows removed per table, ids the store did not hold). Deleted rows are overwritten
        (``secure_delete``) and the WAL is checkpointed, so their bytes do not linger in the file.
        """
        counts = {"users": 0, "interactions": 0}
        missing: list[str] = []
        with self._deleting() as conn:
            for user_id in dict.fromkeys(user_ids):
                if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
                    missing.append(user_id)
                    continue
                events = conn.execute("SELECT count(*) FROM interactions WHERE user_id = ?", (user_id,)).fetchone()
                counts["interactions"] += int(events[0])
                conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))  # events go by ON DELETE CASCADE
                counts["users"] += 1
        return counts, missing

    def delete_items(self, item_ids: Sequence[str]) -> tuple[dict[str, int], list[str]]:
        """Delete items with their events, media record, vectors, frames and transcript, in one transaction.

        Each table that refers to items is cleared in one pass over it, and the foreign keys are not
        checked row by row: `interactions` has no index on `item_id` (migration 3), so letting SQLite
        cascade would scan it once per deleted item.
        """
        traces = ("interactions", "media", "vectors", "frames", "transcripts")
        counts = dict.fromkeys(("items", *traces), 0)
        wanted = list(dict.fromkeys(item_ids))
        doomed = json.dumps(wanted, ensure_ascii=False)
        with self._deleting(foreign_keys=False) as conn:
            chosen = "IN (SELECT value FROM json_each(?))"
            found = {r[0] for r in conn.execute(f"SELECT item_id FROM items WHERE item_id {chosen}", (doomed,))}
            missing = [i for i in wanted if i not in found]
            for table, column in _children_of(conn, "items"):
                before = conn.total_changes
                child_delete = f'DELETE FROM "{table}" WHERE "{column}" IN (SELECT value FROM json_each(?))'
                conn.execute(child_delete, (doomed,))
                if table in counts:
                    counts[table] += conn.total_changes - before
            before = conn.total_changes
            conn.execute(f"DELETE FROM items WHERE item_id {chosen}", (doomed,))
            counts["items"] = conn.total_changes - before
        return counts, missing

    @contextlib.contextmanager
    def _deleting(self, *, foreign_keys: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction whose deleted rows are overwritten, then the WAL moved into the database and
        emptied (best effort: a reader may hold it), so deleted bytes do not linger in either file.
        With `foreign_keys` False the caller deletes the children itself."""
        self.conn.execute("PRAGMA secure_delete = ON")
        self.conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        try:
            with self.atomic() as conn:
                yield conn
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def delete_interactions(
        self, selectors: Sequence[tuple[str | None, str | None, str | None]]
    ) -> tuple[dict[str, int], list[str]]:
        """Delete events matching each ``(user_id, item_id, event)`` (None matches any; not all None), in one
        transaction. Returns (rows removed, the selectors that matched nothing, as text)."""
        removed = 0
        missing: list[str] = []
        with self._deleting() as conn:
            for user_id, item_id, event in selectors:
                if user_id is None and item_id is None:
                    raise ValueError("an interaction selector needs a user id or an item id")
                before = conn.total_changes
                conn.execute(
                    "DELETE FROM interactions WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR item_id = ?2)"
                    " AND (?3 IS NULL OR event = ?3)",
                    (user_id, item_id, event),
                )
                n = conn.total_changes - before
                removed += n
                if n == 0:
                    missing.append(_selector_text(user_id, item_id, event))
        return {"interactions": removed}, missing

    # -- media --------------------------------------------------------------------------------

    def get_media(self, item_id: str) -> MediaRecord | None:
        row = self.conn.execute(f"SELECT {_MEDIA_COLS} FROM media WHERE item_id = ?", (item_id,)).fetchone()
        return _media(row) if row else None

    def media_by_path(self, path: str) -> MediaRecord | None:
        row = self.conn.execute(f"SELECT {_MEDIA_COLS} FROM media WHERE path = ?", (path,)).fetchone()
        return _media(row) if row else None

    def iter_media(self) -> Iterator[MediaRecord]:
        for row in self.conn.execute(f"SELECT {_MEDIA_COLS} FROM media ORDER BY item_id").fetchall():
            yield _media(row)

    def put_media(self, rec: MediaRecord, item: Item) -> None:
        """Record a probed media file and its item in one transaction."""
        now = time.time()
        with self.atomic() as conn:
            _upsert_item(conn, dataclasses.replace(item, path=rec.path), now, media=True)
            conn.execute(
                f"INSERT OR REPLACE INTO media({_MEDIA_COLS}, ingested_at) VALUES ({','.join('?' * 16)})",
                (
                    rec.item_id,
                    rec.path,
                    rec.sha256,
                    rec.size,
                    rec.mtime,
                    rec.duration,
                    int(rec.has_video),
                    int(rec.has_audio),
                    rec.width,
                    rec.height,
                    rec.fps,
                    rec.video_codec,
                    rec.audio_codec,
                    rec.container,
                    json.dumps(rec.probe),
                    now,
                ),
            )

    # -- vectors ------------------------------------------------------------------------------

    def put_vectors(self, records: Sequence[VectorRecord]) -> None:
        now = time.time()
        rows = [
            (
                r.item_id,
                r.modality,
                r.model_id,
                int(np.asarray(r.vec).size),
                encode_vector(r.vec),
                r.source_hash,
                json.dumps(r.meta),
                now,
            )
            for r in records
        ]
        with self.atomic() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors(item_id, modality, model_id, dim, vec, source_hash, meta, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def vector_state(self, modality: str) -> dict[str, tuple[str, str]]:
        """item_id -> (model_id, source_hash) of the stored vectors of one modality."""
        cur = self.conn.execute("SELECT item_id, model_id, source_hash FROM vectors WHERE modality = ?", (modality,))
        return {r[0]: (r[1], r[2]) for r in cur}

    def vectors(self, modality: str, model_id: str | None = None) -> tuple[list[str], np.ndarray, list[str]]:
        """(item_ids, matrix n x dim, model_ids) of one modality; only one dimension per call.

        With `model_id` only vectors of that encoder; otherwise those of the most common encoder.
        """
        if model_id is None:
            row = self.conn.execute(
                "SELECT model_id FROM vectors WHERE modality = ? GROUP BY model_id ORDER BY count(*) DESC LIMIT 1",
                (modality,),
            ).fetchone()
            if row is None:
                return [], np.zeros((0, 0), dtype=np.float32), []
            model_id = str(row[0])
        cur = self.conn.execute(
            "SELECT item_id, dim, vec, model_id FROM vectors WHERE modality = ? AND model_id = ? ORDER BY item_id",
            (modality, model_id),
        )
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        models: list[str] = []
        for item_id, dim, blob, mid in cur:
            ids.append(item_id)
            vecs.append(decode_vector(blob, dim))
            models.append(mid)
        if not vecs:
            return [], np.zeros((0, 0), dtype=np.float32), []
        return ids, np.vstack(vecs), models

    def vector_meta(self, item_id: str, modality: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT meta FROM vectors WHERE item_id = ? AND modality = ?", (item_id, modality)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def vector_models(self) -> dict[str, dict[str, int]]:
        """modality -> {model id: how many items have a vector of it}."""
        out: dict[str, dict[str, int]] = {}
        cur = self.conn.execute("SELECT modality, model_id, count(*) FROM vectors GROUP BY modality, model_id")
        for modality, model_id, n in cur:
            out.setdefault(str(modality), {})[str(model_id)] = int(n)
        return out

    def vector_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(MODALITIES, 0)
        for modality, n in self.conn.execute("SELECT modality, count(*) FROM vectors GROUP BY modality"):
            counts[modality] = int(n)
        return counts

    # -- frames and transcripts -----------------------------------------------------------------

    def put_frames(self, item_id: str, frames: Sequence[FrameRecord]) -> None:
        with self.atomic() as conn:
            conn.execute("DELETE FROM frames WHERE item_id = ?", (item_id,))
            conn.executemany(
                "INSERT INTO frames(item_id, idx, ts, kind, model_id, dim, vec, thumb) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        item_id,
                        f.idx,
                        f.ts,
                        f.kind,
                        f.model_id,
                        int(np.asarray(f.vec).size),
                        encode_vector(f.vec),
                        f.thumb,
                    )
                    for f in frames
                ],
            )

    def frames(self, item_id: str, *, with_thumbs: bool = False) -> list[FrameRecord]:
        thumb = "thumb" if with_thumbs else "NULL"
        cur = self.conn.execute(
            f"SELECT idx, ts, kind, model_id, dim, vec, {thumb} FROM frames WHERE item_id = ? ORDER BY idx",
            (item_id,),
        )
        return [FrameRecord(i, ts, k, m, decode_vector(v, d), t) for i, ts, k, m, d, v, t in cur]

    def put_visual_labels(self, item_id: str, model_id: str, labels: Sequence[VisualLabel]) -> None:
        """Replace what an item's frames show (best first)."""
        with self.atomic() as conn:
            conn.execute("DELETE FROM visual_labels WHERE item_id = ?", (item_id,))
            conn.executemany(
                "INSERT INTO visual_labels(item_id, rank, label, score, frames, ts, model_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(item_id, r, v.label, v.score, v.frames, v.ts, model_id) for r, v in enumerate(labels)],
            )

    def visual_labels(self, item_id: str) -> list[VisualLabel]:
        """What an item's frames show, best first (empty when unknown)."""
        cur = self.conn.execute(
            "SELECT label, score, frames, ts FROM visual_labels WHERE item_id = ? ORDER BY rank", (item_id,)
        )
        return [VisualLabel(str(a), float(b), int(c), float(d)) for a, b, c, d in cur]

    def put_transcript(self, t: Transcript) -> None:
        with self.atomic() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO transcripts(item_id, model_id, source_hash, language, has_speech, text,"
                " segments, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    t.item_id,
                    t.model_id,
                    t.source_hash,
                    t.language,
                    int(t.has_speech),
                    t.text,
                    json.dumps(t.segments, ensure_ascii=False),
                    time.time(),
                ),
            )

    def transcript(self, item_id: str) -> Transcript | None:
        row = self.conn.execute(
            "SELECT item_id, model_id, source_hash, language, has_speech, text, segments FROM transcripts"
            " WHERE item_id = ?",
            (item_id,),
        ).fetchone()
        if row is None:
            return None
        return Transcript(row[0], row[1], row[2], row[3], bool(row[4]), row[5], json.loads(row[6]))

    def transcript_state(self) -> dict[str, tuple[str, str]]:
        return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT item_id, model_id, source_hash FROM transcripts")}

    # -- models -------------------------------------------------------------------------------

    def claim_model_key(self, model_key: str) -> None:
        """Record that avrec is about to write files named after `model_key` (before writing any), so files a
        killed fit leaves behind are known to be avrec's; `register_model` settles the claim."""
        with self.atomic() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO store_state(key, value) VALUES (?, ?)",
                (f"{PENDING_PREFIX}{model_key}", str(time.time())),
            )

    def pending_model_keys(self) -> set[str]:
        """Keys claimed by fits that never registered their model (killed, or failed)."""
        rows = self.conn.execute(
            "SELECT key FROM store_state WHERE substr(key, 1, ?) = ?", (len(PENDING_PREFIX), PENDING_PREFIX)
        )
        return {r[0][len(PENDING_PREFIX) :] for r in rows}

    def release_model_keys(self, model_keys: Iterable[str]) -> None:
        with self.atomic() as conn:
            conn.executemany("DELETE FROM store_state WHERE key = ?", [(f"{PENDING_PREFIX}{k}",) for k in model_keys])

    def register_model(self, rec: ModelRecord, *, activate: bool = True) -> None:
        with self.atomic() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO models(model_key, kind, path, params, report, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (rec.model_key, rec.kind, rec.path, json.dumps(rec.params), json.dumps(rec.report), rec.created_at),
            )
            conn.execute("DELETE FROM store_state WHERE key = ?", (f"{PENDING_PREFIX}{rec.model_key}",))
            if activate:
                conn.execute(
                    "INSERT OR REPLACE INTO store_state(key, value) VALUES ('active_model', ?)", (rec.model_key,)
                )

    def models(self) -> list[ModelRecord]:
        cur = self.conn.execute(
            "SELECT model_key, kind, path, params, report, created_at FROM models ORDER BY created_at"
        )
        return [self._model_record(row) for row in cur]

    def active_model(self) -> ModelRecord | None:
        row = self.conn.execute(
            "SELECT m.model_key, m.kind, m.path, m.params, m.report, m.created_at FROM models m"
            " JOIN store_state s ON s.key = 'active_model' AND s.value = m.model_key"
        ).fetchone()
        if row is None:
            return None
        return self._model_record(row)

    def _model_record(self, row: tuple[Any, ...]) -> ModelRecord:
        """A row of the models table, checked: a record a damaged page garbled (a value of the wrong type,
        parameters that are not a JSON object) is a StoreError naming the database, not a crash later on."""
        key, kind, path, params, report, created_at = row
        try:
            if not all(isinstance(v, str) for v in (key, kind, path, params, report)):
                raise ValueError("a value of the wrong type")
            if not isinstance(created_at, (int, float)):
                raise ValueError("a creation time that is not a number")
            record = ModelRecord(key, kind, path, json.loads(params), json.loads(report), float(created_at))
            if not (isinstance(record.params, dict) and isinstance(record.report, dict)):
                raise ValueError("parameters or report that are not a JSON object")
        except ValueError as exc:  # json.JSONDecodeError included
            raise database_error(self.db_path, sqlite3.DatabaseError(f"model record {key!r}: {exc}")) from None
        return record

    # -- summary ------------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        one = self.conn.execute
        return {
            "items": int(one("SELECT count(*) FROM items").fetchone()[0]),
            "users": int(one("SELECT count(*) FROM users").fetchone()[0]),
            "interactions": int(one("SELECT count(*) FROM interactions").fetchone()[0]),
            "media": int(one("SELECT count(*) FROM media").fetchone()[0]),
            "media_video": int(one("SELECT count(*) FROM media WHERE has_video").fetchone()[0]),
            "media_audio": int(one("SELECT count(*) FROM media WHERE has_audio").fetchone()[0]),
            "transcripts": int(one("SELECT count(*) FROM transcripts WHERE has_speech").fetchone()[0]),
            "frames": int(one("SELECT count(*) FROM frames").fetchone()[0]),
            "visual_labels": int(one("SELECT count(DISTINCT item_id) FROM visual_labels").fetchone()[0]),
            "vectors": self.vector_counts(),
        }


def _selector_text(user_id: str | None, item_id: str | None, event: str | None) -> str:
    parts = [f"{k}={v!r}" for k, v in (("user_id", user_id), ("item_id", item_id), ("event", event)) if v is not None]
    return " ".join(parts)


def _children_of(conn: sqlite3.Connection, parent: str) -> list[tuple[str, str]]:
    """(table, column) of every foreign key that refers to `parent`, read from the schema itself, so a
    table a later migration adds is covered too."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = []
    for table in tables:
        for fk in conn.execute("SELECT \"table\", \"from\" FROM pragma_foreign_key_list(?)", (table,)):
            if fk[0] == parent:
                if not (table.isidentifier() and str(fk[1]).isidentifier()):  # never quoted into SQL otherwise
                    raise StoreError(f"unexpected table or column name in the schema: {table!r}.{fk[1]!r}")
                out.append((table, str(fk[1])))
    return out


def database_error(db_path: Path, exc: sqlite3.Error) -> StoreError:
    """A StoreError saying what SQLite's error means for the store and what to do."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        if "disk is full" in text or "disk I/O error" in text:
            return StoreError(
                f"cannot write to {db_path} ({text}): free some space on its disk (or check it) and run the "
                "command again; what was stored before is kept"
            )
    elif isinstance(exc, sqlite3.DatabaseError):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return StoreError(
            f"the store database {db_path} is damaged ({text}); restore it from a backup, or save what can be "
            f"saved with `sqlite3 {db_path} .recover`"
        )
    return StoreError(f"store database {db_path}: {text}")


_ITEM_UPSERT = """
    INSERT INTO items(item_id, title, description, tags, creator, path, kind, attrs, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(item_id) DO UPDATE SET
        title = coalesce(excluded.title, title),
        description = coalesce(excluded.description, description),
        tags = CASE WHEN excluded.tags = '[]' THEN tags ELSE excluded.tags END,
        creator = coalesce(excluded.creator, creator),
        attrs = json_patch(attrs, excluded.attrs),
        updated_at = excluded.updated_at,
"""
#: Catalog rows: fields left None keep their stored value.
_UPSERT_ITEM = _ITEM_UPSERT + "path = coalesce(excluded.path, path), kind = coalesce(excluded.kind, kind)"
#: A probed media file: its path and kind are the truth for the item.
_UPSERT_MEDIA_ITEM = _ITEM_UPSERT + "path = excluded.path, kind = excluded.kind"


def _upsert_item(conn: sqlite3.Connection, item: Item, now: float, *, media: bool = False) -> None:
    conn.execute(
        _UPSERT_MEDIA_ITEM if media else _UPSERT_ITEM,
        (
            item.item_id,
            item.title,
            item.description,
            json.dumps(item.tags, ensure_ascii=False),
            item.creator,
            item.path,
            item.kind,
            json.dumps(item.attrs, ensure_ascii=False),
            now,
            now,
        ),
    )


_MEDIA_COLS = (
    "item_id, path, sha256, size, mtime, duration, has_video, has_audio, width, height, fps, video_codec, "
    "audio_codec, container, probe"
)


def _item(row: Sequence[Any]) -> Item:
    return Item(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], json.loads(row[7]))


def _media(row: Sequence[Any]) -> MediaRecord:
    return MediaRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        bool(row[6]),
        bool(row[7]),
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        json.loads(row[14]),
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _insert_rows(conn: sqlite3.Connection, insert: str, columns: Sequence[Any], per: int = EVENTS_PER_INSERT) -> None:
    """Run ``insert`` (``INSERT ... INTO table(columns)``) with ``VALUES`` for every row of `columns`, `per`
    rows a statement (far less work per row for Python's sqlite3 than one row a statement). A column is a
    sequence as long as the first, or one value for every row; a numpy column holding one value throughout
    is one value too (but the first, which sets the number of rows). One value is bound once a statement, as
    a numbered parameter all its rows share."""
    shared: list[Any] = []
    varying: list[Any] = []
    marks: list[int] = []  # each column's parameter: > 0 shared (its number), <= 0 varying (-its position)
    for n, column in enumerate(columns):
        if n and isinstance(column, np.ndarray) and column.dtype.kind in "biuf" and len(column):
            if np.array_equal(column, np.full_like(column, column[0])):
                column = column[0].item()
        if n and (isinstance(column, (str, bytes, int, float)) or column is None):
            shared.append(column)
            marks.append(len(shared))
        else:
            marks.append(-len(varying))
            varying.append(column)
    rows = len(varying[0])
    width = len(varying)
    per = max(1, min(per, (MAX_PARAMETERS - len(shared)) // width))
    whole = rows - rows % per
    for start, stop, count in ((0, whole, per), (whole, rows, 1)):
        if stop <= start:
            continue
        first = len(shared) + 1
        values = ", ".join(
            "(" + ", ".join(f"?{m}" if m > 0 else f"?{first + r * width - m}" for m in marks) + ")"
            for r in range(count)
        )
        # each statement's parameters made in one object array, column by column, and turned into lists once:
        # every pass over millions of Python objects costs (their reference counts are scattered in memory)
        params = np.empty(((stop - start) // count, len(shared) + count * width), dtype=object)
        for n, value in enumerate(shared):
            params[:, n] = value
        for n, column in enumerate(varying):
            part = column[start:stop]
            part = part if isinstance(part, np.ndarray) else np.asarray(part, dtype=object)
            params[:, len(shared) + n :: width] = part.reshape(-1, count)
        conn.executemany(f"{insert} VALUES {values}", params.tolist())
