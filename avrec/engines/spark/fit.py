"""`fit --engine spark`: Spark MLlib's implicit ALS as the hybrid's ALS back-end (`SparkALS`).

The model's own `fit` runs locally and calls its back-end's two kernels, `fit_als` and `solve_users`; this
module's `SparkALS` runs them on Spark. Everything else (content, cold projection, attributes, bias) is the
local code, so the saved model is in the local format.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from avrec.engines.spark.session import (
    SparkEngineError,
    WorkDir,
    first_line,
    interactions_table,
    read_factors,
    resolve_master,
    ship_avrec,
    spark_session,
    work_dir,
)
from avrec.errors import UsageError
from avrec.model import Recommender, TrainData, make_model
from avrec.model.als import default_backend
from avrec.model.hybrid import LinearHybrid
from avrec.serving.blocks import blocks_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_MODELS = ("hybrid", "mf")


#: `params` keys that configure the Spark engine rather than the model.
ENGINE_PARAMS = ("spark_reg_param", "spark_blocks", "spark_work_dir", "spark_checkpoint_interval")

USER_BLOCK = 512  # users solved together on an executor (bounds the k x k normal matrices held at once)


# -- fit ----------------------------------------------------------------------------------------------
@dataclass
class SparkFitInfo:
    """What a Spark fit did, for reports and benchmarks."""

    master: str = ""
    blocks: int = 0
    reg_param: float = 0.0
    regularization: float = 0.0
    als_seconds: float = 0.0
    user_solves: int = 0
    user_solve_seconds: float = 0.0
    total_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_reg_param(interactions: sp.spmatrix, regularization: float) -> float:
    """Spark's regParam standing in for the local engine's constant `regularization`.

    Spark scales each row's penalty by its number of interactions (lambda * n_u for a user, lambda * n_i for
    an item: "ALS-WR"); the local engine uses one constant for every row. For each side take the history
    length behind an average interaction (sum n^2 / sum n, which follows the heavy rows that carry most of the
    loss) and divide `regularization` by the geometric mean of the user and item values. On ml-100k and on
    the power-law data of `benchmarks/spark_scale.py` this lands next to the best regParam of a sweep.
    """
    m = sp.csr_matrix(interactions)
    m.eliminate_zeros()
    if m.nnz == 0:
        return float(regularization)

    def weighted_mean(counts: np.ndarray) -> float:
        c = counts.astype(np.float64)
        return float((c**2).sum() / c.sum())

    per_user = weighted_mean(np.diff(m.indptr))
    per_item = weighted_mean(np.diff(sp.csc_matrix(m).indptr))
    return float(regularization) / max(float(np.sqrt(per_user * per_item)), 1.0)


def split_params(params: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(model params, engine params, Spark properties) from one `--param` mapping."""
    model: dict[str, Any] = {}
    engine: dict[str, Any] = {}
    conf: dict[str, str] = {}
    for key, value in (params or {}).items():
        if key.startswith("spark."):
            conf[key] = str(value)
        elif key in ENGINE_PARAMS:
            engine[key] = value
        else:
            model[key] = value
    return model, engine, conf


def fit_spark(
    data: TrainData,
    *,
    model: str = "hybrid",
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    master: str | None = None,
    info: dict[str, Any] | None = None,
) -> tuple[Recommender, float]:
    """Fit `model` (hybrid or mf) with its factorization on Spark; returns (fitted model, training seconds).

    `params` holds the model's hyperparameters (as for the local engine: factors, regularization, alpha,
    iterations, ...), plus optional engine settings: `spark_reg_param` (Spark's regParam; by default derived
    from the model's regularization, see `default_reg_param`), `spark_blocks` (ALS user/item blocks; default
    the cluster's parallelism), `spark_checkpoint_interval`, `spark_work_dir` (shared scratch URI) and any
    `spark.*` property. The model's own `fit` runs with a `SparkALS` as its ALS back-end, so its two
    kernels (`fit_als`, `solve_users`) execute on Spark; everything else it fits locally, and it saves in
    the local format.
    The seconds are that `fit` (Spark jobs included), not Spark's start-up. Pass a dict as `info` to
    receive a `SparkFitInfo` breakdown.
    """
    if model not in SPARK_MODELS:
        raise UsageError(
            f"the spark engine fits the factorization of {' and '.join(SPARK_MODELS)}; "
            f"fit {model!r} with --engine local"
        )
    model_params, engine, conf = split_params(params)
    if model_params.get("tune"):
        raise UsageError("tune is not available with --engine spark; tune locally on a sample, then pass the values")
    estimator = make_model(model, random_state=seed, **model_params)
    if not isinstance(estimator, LinearHybrid):
        raise UsageError(f"model {model!r} has no collaborative factors for Spark to fit")
    if data.n_items == 0 or data.interactions.nnz == 0:
        raise ValueError("cannot fit on Spark without interactions")
    resolved = resolve_master(master)
    with spark_session(resolved, conf=conf) as spark, work_dir(engine.get("spark_work_dir"), resolved) as wd:
        ship_avrec(spark)
        backend = SparkALS(
            spark, wd, seed=seed, reg_param=engine.get("spark_reg_param"), blocks=engine.get("spark_blocks"),
            checkpoint_interval=int(engine.get("spark_checkpoint_interval") or 10),
        )
        estimator.als_backend = backend
        started = time.perf_counter()
        try:
            estimator.fit(data)
        finally:
            estimator.als_backend = default_backend()  # the session ends here; the fitted model must not hold on to it
        seconds = time.perf_counter() - started
    if backend.info.als_seconds == 0.0:
        raise RuntimeError("the model fitted without calling its factorization; nothing ran on Spark")
    backend.info.total_seconds = seconds
    if info is not None:
        info.update(backend.info.as_dict())
    return estimator, seconds


class SparkALS:
    """An ALS back-end (`avrec.model.als.ALSBackend`) whose `fit_als` and `solve_users` run on Spark.

    `fit_als` runs Spark MLlib's implicit ALS on the confidence matrix it is given (ratings c - 1 = alpha * w,
    Spark's alpha 1, so Spark's confidence 1 + |r| is the local engine's), keeps the item factors, and solves
    every user exactly against them (`solve_users`), as the local `fit_als` does in its last step.
    `solve_users` solves the users' least-squares problems on the executors, blocks of users per task with
    the item factors broadcast. Matrices travel as Parquet through the work directory.
    """

    def __init__(
        self, spark: SparkSession, wd: WorkDir, *, seed: int, reg_param: float | None = None,
        blocks: int | None = None, checkpoint_interval: int = 10,
    ) -> None:
        self.spark = spark
        self.wd = wd
        self.seed = int(seed)
        self.reg_param = float(reg_param) if reg_param else None
        self.blocks = int(blocks or spark.sparkContext.defaultParallelism)
        self.checkpoint_interval = checkpoint_interval
        self.info = SparkFitInfo(master=str(spark.sparkContext.master), blocks=self.blocks)
        self._exported: tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray] | None = None
        spark.sparkContext.setCheckpointDir(wd.spark("checkpoints"))

    def _export(self, conf: sp.csr_matrix) -> str:
        """Write `conf` (users x items, c - 1) as Parquet once; later calls with the same matrix reuse it."""
        m = sp.csr_matrix(conf, dtype=np.float32)
        m.sum_duplicates()
        m.eliminate_zeros()
        last = self._exported
        if not (
            last is not None and last[0] == m.shape and np.array_equal(last[1], m.indptr)
            and np.array_equal(last[2], m.indices) and np.array_equal(last[3], m.data)
        ):
            pq.write_table(interactions_table(m), self.wd.local("interactions.parquet"), filesystem=self.wd.fs)
            self._exported = (m.shape, m.indptr.copy(), m.indices.copy(), m.data.copy())
        return self.wd.spark("interactions.parquet")

    def fit_als(
        self, conf: sp.csr_matrix, factors: int, reg: float, iterations: int, cg_steps: int,
        rng: np.random.Generator, reg_exponent: float = 0.0, exact_users: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(user_factors, item_factors) for `conf` as `als.fit_als` returns them (`cg_steps` and `rng` are
        the local solver's; Spark uses its Cholesky solver and this engine's seed)."""
        from pyspark.ml.recommendation import ALS

        started = time.perf_counter()
        source = self._export(conf)
        reg_param = self.reg_param or default_reg_param(conf, reg)
        self.info.reg_param, self.info.regularization = reg_param, float(reg)
        estimator = ALS(
            rank=int(factors), maxIter=int(iterations), regParam=reg_param, alpha=1.0, implicitPrefs=True,
            nonnegative=False, userCol="user", itemCol="item", ratingCol="weight", seed=self.seed,
            numUserBlocks=self.blocks, numItemBlocks=self.blocks, checkpointInterval=self.checkpoint_interval,
            coldStartStrategy="nan",
        )
        try:
            fitted = estimator.fit(self.spark.read.parquet(source))
            fitted.itemFactors.write.mode("overwrite").parquet(self.wd.spark("item_factors.parquet"))
        except Exception as exc:
            raise SparkEngineError(f"Spark ALS failed: {first_line(exc)}") from exc
        y = read_factors(self.wd, "item_factors.parquet", conf.shape[1], int(factors))
        self.info.als_seconds += time.perf_counter() - started
        if not exact_users:  # the caller solves the users itself, against its final item factors
            return np.zeros((conf.shape[0], int(factors)), np.float32), y
        x = self.solve_users(y, conf, reg, reg_exponent)
        return x.astype(np.float32), y

    def solve_users(self, y: np.ndarray, conf: sp.csr_matrix, reg: float, reg_exponent: float = 0.0) -> np.ndarray:
        """Every row's exact least-squares factors against `y` (as `als.solve_users`), solved on Spark.

        With `reg_exponent` the penalty is reg * ((n_u + 1) / mean(n + 1))^reg_exponent per user, as
        `als.row_regularization` defines it."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import ArrayType, FloatType, IntegerType, StructField, StructType

        started = time.perf_counter()
        source = self._export(conf)
        counts = np.diff(sp.csr_matrix(conf).indptr).astype(np.float64) + 1.0
        mean_count = float(counts.mean()) if counts.size else 1.0
        y32 = np.ascontiguousarray(y, dtype=np.float32)
        gram = y32.astype(np.float64).T @ y32.astype(np.float64)
        shared = self.spark.sparkContext.broadcast((y32, gram))
        grouped = (
            self.spark.read.parquet(source)
            .groupBy("user")
            .agg(F.collect_list(F.struct("item", "weight")).alias("history"))
        )
        solve = _user_solver(shared, float(reg), float(reg_exponent), mean_count)
        schema = StructType([StructField("id", IntegerType()), StructField("features", ArrayType(FloatType()))])
        try:
            self.spark.createDataFrame(grouped.rdd.mapPartitions(solve), schema).write.mode("overwrite").parquet(
                self.wd.spark("user_factors.parquet")
            )
        except Exception as exc:
            raise SparkEngineError(f"Spark user-factor solve failed: {first_line(exc)}") from exc
        finally:
            shared.unpersist()
        x = read_factors(self.wd, "user_factors.parquet", conf.shape[0], y32.shape[1]).astype(np.float64)
        self.info.user_solves += 1
        self.info.user_solve_seconds += time.perf_counter() - started
        return x


def _user_solver(
    shared: Any, reg: float, reg_exponent: float, mean_count: float
) -> Callable[[Iterable[Any]], Iterator[tuple[int, list[float]]]]:
    def solve(rows: Iterable[Any]) -> Iterator[tuple[int, list[float]]]:
        y, gram = shared.value
        for block in blocks_of(rows, USER_BLOCK):
            yield from _solve_block(block, y, gram, reg, reg_exponent, mean_count)

    return solve


def _solve_block(
    block: list[Any], y: np.ndarray, gram: np.ndarray, reg: float, reg_exponent: float, mean_count: float
) -> Iterator[tuple[int, list[float]]]:
    users = [int(r[0]) for r in block]
    lengths = [len(r[1]) for r in block]
    items = np.fromiter((h[0] for r in block for h in r[1]), dtype=np.int64, count=sum(lengths))
    weights = np.fromiter((h[1] for r in block for h in r[1]), dtype=np.float64, count=sum(lengths))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    conf = sp.csr_matrix((weights, items, indptr), shape=(len(block), y.shape[0]))
    conf.sum_duplicates()
    penalty: float | np.ndarray = reg
    if reg_exponent:
        penalty = reg * ((np.diff(conf.indptr) + 1.0) / mean_count) ** reg_exponent
    x = exact_user_factors(y, conf, penalty, gram=gram).astype(np.float32)
    for user, vec in zip(users, x, strict=True):
        yield user, vec.tolist()


def exact_user_factors(
    y: np.ndarray, conf: sp.csr_matrix, reg: float | np.ndarray, *, gram: np.ndarray | None = None,
    chunk: int = 1024,
) -> np.ndarray:
    """`als.solve_exact(y, conf, reg)` for a block of users, touching only the items they interacted with.

    x_u = (Y'Y + sum_j (c_uj - 1) y_j y_j' + reg_u I)^-1 sum_j c_uj y_j, float64. `conf` (users x items CSR)
    holds c - 1 = alpha * weight; `reg` is one penalty or one per user; `gram` is Y'Y when the caller has it.
    The cost grows with the block's distinct items, not the catalog, which keeps executor tasks cheap.
    """
    conf = sp.csr_matrix(conf, dtype=np.float64)
    k = y.shape[1]
    g = np.asarray(gram, dtype=np.float64) if gram is not None else y.astype(np.float64).T @ y.astype(np.float64)
    cols = np.unique(conf.indices)
    sub = sp.csr_matrix(conf[:, cols])
    sub_csc = sub.tocsc()
    yc = np.asarray(y[cols], dtype=np.float64)
    grams = np.zeros((conf.shape[0], k * k))
    for start in range(0, len(cols), chunk):
        stop = min(start + chunk, len(cols))
        block = yc[start:stop]
        grams += sub_csc[:, start:stop] @ (block[:, :, None] * block[:, None, :]).reshape(stop - start, k * k)
    penalty = np.broadcast_to(np.asarray(reg, dtype=np.float64), (conf.shape[0],))
    a = grams.reshape(-1, k, k) + g + penalty[:, None, None] * np.eye(k)
    b = sp.csr_matrix((sub.data + 1.0, sub.indices, sub.indptr), shape=sub.shape) @ yc
    return np.linalg.solve(a, b[:, :, None])[:, :, 0]

