"""`recommend --engine spark`: score users on the executors with the saved model, write Parquet."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from avrec.engines.spark.session import (
    SparkEngineError,
    first_line,
    interactions_table,
    resolve_master,
    ship_avrec,
    spark_session,
    work_dir,
)
from avrec.errors import UsageError
from avrec.model import Recommender, load_model
from avrec.progress import NullProgress, Progress
from avrec.serving.blocks import blocks_of
from avrec.serving.ranking import rank_scores

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from avrec.store import Store

SCORE_BLOCK = 256  # users scored together on an executor (as the local `recommend` does)


# -- batch recommend ------------------------------------------------------------------------------------
@dataclass
class SparkRecommendReport:
    output: str
    model_key: str
    users: int
    rows: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def recommend_spark(
    store: Store,
    *,
    output: str | Path,
    k: int = 10,
    master: str | None = None,
    users: Iterable[str] | None = None,
    candidates: Iterable[str] | None = None,
    include_seen: bool = False,
    overwrite: bool = False,
    conf: Mapping[str, Any] | None = None,
    work_dir_uri: str | None = None,
    progress: Progress | None = None,
) -> SparkRecommendReport:
    """Top-k recommendations for every user (or `users`) computed on Spark, written as Parquet to `output`.

    Rows are `user_id` (string), `item_id` (string), `rank` (int, 1 = best) and `score` (double): the same
    rows `avrec.recommend.recommend(store, all_users=True, k=k, use_index=False)` yields, ties broken the
    same way. Each executor loads the store's active model file and scores users with it, so the scores are
    the local engine's, and each user's list is chosen by the same function (`avrec.serving.ranking`):
    seen items (every item with an event in the store's current histories, skips included) are excluded
    unless `include_seen`; candidates stored after the last fit are left out with a warning (`progress`).
    `output` is a directory (local path or a URI the cluster can write); an existing one is an error unless
    `overwrite`.
    """
    from avrec.serving.served import candidate_mask, load_served
    from avrec.training.userfeatures import encode

    if k < 1:
        raise UsageError("-k must be at least 1")
    out = _output_uri(output, overwrite)
    served = load_served(store)
    n_items = len(served.item_ids)
    pool = candidate_mask(store, served, candidates, progress or NullProgress())
    with store.snapshot():
        user_list = list(users) if users is not None else store.user_ids()
        ev_users, ev_items, ev_weights, _ = store.interactions()
        attrs = store.user_attrs() if served.feature_names else {}
    _check_users(store, served.user_pos, user_list)
    user_index = {u: r for r, u in enumerate(user_list)}
    rows_u = np.fromiter((user_index.get(u, -1) for u in ev_users), dtype=np.int64, count=len(ev_users))
    rows_i = np.fromiter((served.item_pos.get(i, -1) for i in ev_items), dtype=np.int64, count=len(ev_items))
    keep = (rows_u >= 0) & (rows_i >= 0)
    hist = sp.csr_matrix(
        (ev_weights[keep].astype(np.float64), (rows_u[keep], rows_i[keep])), shape=(len(user_list), n_items)
    )
    hist.sum_duplicates()
    # A cell whose events sum to <= 0 (a skip) is not part of the history, but the item was seen: it travels
    # with weight 0, so the executors leave it out of the user's list as the local engine does.
    hist.data[hist.data <= 0] = 0.0
    hist_table = interactions_table(hist)
    user_rows = np.asarray([served.user_pos.get(u, -1) for u in user_list], dtype=np.int32)
    columns: dict[str, Any] = {
        "uidx": pa.array(np.arange(len(user_list), dtype=np.int32)),
        "user_id": pa.array(user_list, type=pa.string()),
        "row": pa.array(user_rows),
    }
    n_features = len(served.feature_names)
    if n_features:
        feats = sp.csr_matrix(encode([attrs.get(u, {}) for u in user_list], served.feature_names))
        columns["f_idx"] = pa.ListArray.from_arrays(
            pa.array(feats.indptr.astype(np.int32)), pa.array(feats.indices.astype(np.int32))
        )
        columns["f_val"] = pa.ListArray.from_arrays(
            pa.array(feats.indptr.astype(np.int32)), pa.array(feats.data.astype(np.float32))
        )
    users_table = pa.table(columns)
    model_path = Path(served.store_root) / served.record.path
    resolved = resolve_master(master)
    started = time.perf_counter()
    with spark_session(resolved, conf=conf) as spark, work_dir(work_dir_uri, resolved) as wd:
        ship_avrec(spark)
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

        pq.write_table(hist_table, wd.local("histories.parquet"), filesystem=wd.fs)
        pq.write_table(users_table, wd.local("users.parquet"), filesystem=wd.fs)
        spark.sparkContext.addFile(str(model_path))
        histories = (
            spark.read.parquet(wd.spark("histories.parquet"))
            .withColumnRenamed("user", "uidx")
            .groupBy("uidx")
            .agg(F.collect_list(F.struct("item", "weight")).alias("history"))
        )
        joined: DataFrame = spark.read.parquet(wd.spark("users.parquet")).join(histories, "uidx", "left")
        scorer = _scorer(model_path.name, k, include_seen, pool, n_features)
        schema = StructType([
            StructField("user_id", StringType(), False),
            StructField("item_id", StringType(), False),
            StructField("rank", IntegerType(), False),
            StructField("score", DoubleType(), False),
        ])
        try:
            result = spark.createDataFrame(joined.rdd.mapPartitions(scorer), schema)
            result.write.mode("overwrite" if overwrite else "errorifexists").parquet(out)
            n_rows = spark.read.parquet(out).count()
        except Exception as exc:
            raise SparkEngineError(f"Spark recommend failed: {first_line(exc)}") from exc
    return SparkRecommendReport(
        output=out, model_key=served.record.model_key, users=len(user_list), rows=int(n_rows),
        seconds=round(time.perf_counter() - started, 4),
    )


def _output_uri(output: str | Path, overwrite: bool) -> str:
    text = str(output)
    if "://" in text:
        return text
    path = Path(text).resolve()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output {path} is a file; give a directory for the Parquet parts")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"--output {path} already holds files; remove it or pass --overwrite")
    return str(path)


def _check_users(store: Store, known: Mapping[str, int], user_list: list[str]) -> None:
    from avrec.errors import UnknownIdError

    for uid in user_list:
        if uid not in known and not store.user_exists(uid):
            raise UnknownIdError(
                f"unknown user id {uid!r}: no events or attributes stored for it; "
                "serve a new user with --history ITEM,ITEM,..."
            )


_MODELS: dict[str, Recommender] = {}


def _executor_model(name: str) -> Recommender:
    """The model file shipped with `addFile`, loaded once per Python worker."""
    model = _MODELS.get(name)
    if model is None:
        from pyspark import SparkFiles

        model = load_model(SparkFiles.get(name))
        _MODELS[name] = model
    return model


def _scorer(
    model_name: str, k: int, include_seen: bool, pool: np.ndarray | None, n_features: int
) -> Callable[[Iterable[Any]], Iterator[tuple[str, str, int, float]]]:
    def score_partition(rows: Iterable[Any]) -> Iterator[tuple[str, str, int, float]]:
        model = _executor_model(model_name)
        for block in blocks_of(rows, SCORE_BLOCK):
            yield from score_block(model, block, k, include_seen, pool, n_features)

    return score_partition


def score_block(
    model: Recommender,
    block: list[Any],
    k: int,
    include_seen: bool,
    pool: np.ndarray | None,
    n_features: int,
) -> Iterator[tuple[str, str, int, float]]:
    """Rank one block of users with `avrec.recommend`'s own ranking (float64 scores, ties by item id).

    Each row of `block` is (user_id, row, [f_idx, f_val,] history) by name: `history` is a list of
    (item, weight) or None for a user without one.
    """
    n_items = model.n_items
    indptr = [0]
    items: list[int] = []
    weights: list[float] = []
    for r in block:
        for h in r["history"] or ():
            items.append(int(h[0]))
            weights.append(float(h[1]))
        indptr.append(len(items))
    hist = sp.csr_matrix(
        (np.asarray(weights, dtype=np.float32), np.asarray(items, dtype=np.int64), np.asarray(indptr)),
        shape=(len(block), n_items),
    )
    hist.sum_duplicates()
    seen = hist.copy()  # every item with an event, zero-weight ones (skips) included
    hist.eliminate_zeros()
    rows = np.asarray([int(r["row"]) for r in block], dtype=np.int64)
    feats = None
    if n_features:
        f_ptr = [0]
        f_idx: list[int] = []
        f_val: list[float] = []
        for r in block:
            f_idx.extend(r["f_idx"] or ())
            f_val.extend(r["f_val"] or ())
            f_ptr.append(len(f_idx))
        feats = sp.csr_matrix(
            (np.asarray(f_val, dtype=np.float32), np.asarray(f_idx, dtype=np.int64), np.asarray(f_ptr)),
            shape=(len(block), n_features),
        )
    scores = np.asarray(model.score(hist, rows, feats), dtype=np.float64)
    item_ids = model.item_ids
    for r, user in enumerate(block):
        mine = () if include_seen else seen.indices[seen.indptr[r] : seen.indptr[r + 1]].tolist()
        for rec in rank_scores(str(user["user_id"]), scores[r], k, item_ids, pool=pool, seen=mine):
            yield rec.user_id, rec.item_id, rec.rank, rec.score
