"""Synthetic power-law interaction logs for the scale benchmarks (issue 16).

Item popularity follows Zipf's law (the item of popularity rank r is drawn with probability
proportional to ``r ** -item_exponent``), user activity is lognormal (each user's share of the events
is drawn from ``lognormal(0, user_sigma)``), and the popularity ranks are shuffled over the item ids
so that ``i0`` is not the most popular item. Timestamps increase by one second per event, so the log
holds no exact duplicate events (a user may still see the same item twice, at different times).

    sys.path.insert(0, "benchmarks")   # or the folder of the script that imports it
    from synthlog import SIZES, write_log
    write_log(path, **SIZES["1m"])                      # 1,000,000 events, 50,000 users, 50,000 items

    python benchmarks/synthlog.py --size 1m out.csv     # the same from the shell
    python benchmarks/synthlog.py --events 300000 --users 20000 --items 5000 out.jsonl

The log is written in chunks of :data:`CHUNK` events with pyarrow, so even 20M events are generated in
bounded memory (about a few hundred MB) and in seconds rather than minutes. The same arguments and
seed give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The sizes of issue 16's table (events, users, items).
SIZES: dict[str, dict[str, int]] = {
    "100k": {"events": 100_000, "users": 10_000, "items": 10_000},
    "1m": {"events": 1_000_000, "users": 50_000, "items": 50_000},
    "5m": {"events": 5_000_000, "users": 200_000, "items": 100_000},
    "20m": {"events": 20_000_000, "users": 500_000, "items": 200_000},
}
#: Events generated (and written) at a time.
CHUNK = 1_000_000
#: The first timestamp (2023-11-14T22:13:20Z), in epoch seconds.
START = 1_700_000_000
COLUMNS = ("user_id", "item_id", "timestamp")


@dataclass(frozen=True)
class LogShape:
    """How a log is drawn: sizes, the Zipf exponent of item popularity, the lognormal sigma of user activity."""

    events: int
    users: int
    items: int
    item_exponent: float = 1.0
    user_sigma: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.events < 0 or self.users < 1 or self.items < 1:
            raise ValueError("events must be >= 0 and users, items >= 1")


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, dtype=np.float64)
    return cum / cum[-1]


def chunks(shape: LogShape, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The log as ``(user_index, item_index, timestamp)`` int64 arrays of at most `chunk` events each."""
    rng = np.random.default_rng(shape.seed)
    user_cum = _cumulative(rng.lognormal(0.0, shape.user_sigma, shape.users))
    ranks = np.arange(1, shape.items + 1, dtype=np.float64)
    item_cum = _cumulative(ranks**-shape.item_exponent)
    item_of_rank = rng.permutation(shape.items)
    for offset in range(0, shape.events, chunk):
        n = min(chunk, shape.events - offset)
        users = np.searchsorted(user_cum, rng.random(n), side="right")
        items = item_of_rank[np.searchsorted(item_cum, rng.random(n), side="right")]
        # searchsorted can return len(cum) when a draw rounds to 1.0; fold it back onto the last entry
        np.minimum(users, shape.users - 1, out=users)
        np.minimum(items, shape.items - 1, out=items)
        yield users.astype(np.int64), items.astype(np.int64), START + offset + np.arange(n, dtype=np.int64)


def sample(shape: LogShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole log in memory as ``(user_index, item_index, timestamp)`` arrays (what `write_log` writes)."""
    parts = list(chunks(shape))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def write_log(
    path: Path | str,
    events: int,
    users: int,
    items: int,
    *,
    item_exponent: float = 1.0,
    user_sigma: float = 1.0,
    seed: int = 0,
    format: str | None = None,
) -> LogShape:
    """Write a log to `path` as CSV (header ``user_id,item_id,timestamp``) or JSON Lines (by `format`, else
    the extension: ``.jsonl``/``.ndjson`` is JSON Lines, anything else CSV). Ids are ``u<n>`` and ``i<n>``;
    timestamps epoch seconds. Returns the shape it drew."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    shape = LogShape(events, users, items, item_exponent, user_sigma, seed)
    path = Path(path)
    fmt = format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown format {fmt!r}: use csv or jsonl")

    def ids(prefix: str, values: np.ndarray) -> pa.Array:
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")

    with path.open("wb") as fh:
        if fmt == "csv":
            fh.write((",".join(COLUMNS) + "\n").encode())
        for u, i, t in chunks(shape):
            user_ids, item_ids, times = ids("u", u), ids("i", i), pa.array(t)
            if fmt == "csv":
                table = pa.table([user_ids, item_ids, times], names=list(COLUMNS))
                options = pacsv.WriteOptions(include_header=False, quoting_style="none")
                pacsv.write_csv(table, fh, write_options=options)
            else:
                lines = pc.binary_join_element_wise(
                    '{"user_id": "',
                    user_ids,
                    '", "item_id": "',
                    item_ids,
                    '", "timestamp": ',
                    pc.cast(times, pa.string()),
                    "}\n",
                    "",
                )
                fh.write(_string_bytes(lines))
    return shape


def _string_bytes(strings: Any) -> bytes:
    """The UTF-8 bytes of a pyarrow string array without nulls, concatenated (no per-row Python)."""
    import pyarrow as pa

    strings = strings.cast(pa.large_string())
    _, offsets, data = strings.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    return data.to_pybytes()[int(bounds[0]) : int(bounds[-1])] if len(strings) else b""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the log to write (.csv, or .jsonl for JSON Lines)")
    parser.add_argument("--size", choices=sorted(SIZES), help="one of issue 16's sizes")
    parser.add_argument("--events", type=int)
    parser.add_argument("--users", type=int)
    parser.add_argument("--items", type=int)
    parser.add_argument("--item-exponent", type=float, default=1.0)
    parser.add_argument("--user-sigma", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    size = dict(SIZES[args.size]) if args.size else {}
    for key in ("events", "users", "items"):
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
    if set(size) != {"events", "users", "items"}:
        parser.error("give --size, or --events, --users and --items")
    shape = write_log(
        args.out,
        size["events"],
        size["users"],
        size["items"],
        item_exponent=args.item_exponent,
        user_sigma=args.user_sigma,
        seed=args.seed,
    )
    print(f"{args.out}: {shape.events:,} events, {shape.users:,} users, {shape.items:,} items", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
