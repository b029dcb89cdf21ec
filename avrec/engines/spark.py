"""Fit and batch-recommend on Apache Spark, for interaction logs that outgrow one machine.

How data travels:

* avrec -> Spark: interactions are exported to Parquet (integer `user` / `item` indices into the model's
  id lists, summed `weight`), written with pyarrow to a work directory every executor can read
  (a local temporary directory in `local[...]` mode; `AVREC_SPARK_WORKDIR` or the `spark_work_dir`
  parameter, e.g. `hdfs://...` or `s3a://...`, on a cluster). Spark reads that Parquet, never Python objects.
* Spark -> avrec: learned factors and recommendations are written by Spark as Parquet and read back with
  pyarrow; nothing large goes through `collect()`.

`fit_spark` runs Spark MLlib's implicit-feedback ALS for the item factors, then solves every user's factors
exactly against them with the local engine's regularization (on the executors), so the stored user vectors
are the same least-squares fold-in the local model uses and `explain` decomposes them exactly. The rest of
the model (content profiles, the cold-item content projection, user attributes, popularity bias) is fitted
locally by the model's own code, so the saved file is in the local engine's format.

`recommend_spark` scores users on the executors with the saved model itself (the same `score` the local
`recommend` uses, without the Annoy shortcut), excludes seen items and writes `user_id,item_id,rank,score`
Parquet.

pyspark is imported only inside this module's functions; executors need avrec importable (in local mode they
run this interpreter; on a cluster the package is shipped with `addPyFile` unless it is installed there).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import scipy.sparse as sp

from avrec.batching import blocks_of
from avrec.errors import AvrecError, UsageError
from avrec.model import Recommender, TrainData, als, load_model, make_model
from avrec.model.hybrid import LinearHybrid

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from avrec.store import Store

#: Models whose collaborative part Spark can fit (the others have no factorization to distribute).
SPARK_MODELS = ("hybrid", "mf")

#: Settings applied when Spark runs in local mode (and no explicit value was given): small shuffles for
#: small machines, no web UI, loopback networking, executors running this interpreter.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
}

#: `params` keys that configure the Spark engine rather than the model.
ENGINE_PARAMS = ("spark_reg_param", "spark_blocks", "spark_work_dir", "spark_checkpoint_interval")

USER_BLOCK = 512  # users solved together on an executor (bounds the k x k normal matrices held at once)
SCORE_BLOCK = 256  # users scored together on an executor (as the local `recommend` does)


class SparkEngineError(AvrecError):
    """Spark (or Java) is missing, or a Spark job failed."""


# -- session ------------------------------------------------------------------------------------------
def resolve_master(master: str | None = None) -> str | None:
    """The master URL to set: the argument, else `AVREC_SPARK_MASTER`, else `local[*]`.

    Returns None under `spark-submit` when nothing was asked for, so the submitted `--master` applies.
    """
    if master:
        return master
    env = os.environ.get("AVREC_SPARK_MASTER")
    if env:
        return env
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: its --master is already set
        return None
    return "local[*]"


def is_local_master(master: str | None) -> bool:
    return master is not None and master.startswith("local")


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkEngineError(
            "the spark engine needs pyspark: install it with `pip install 'avrec[spark]'` (and Java 17)"
        ) from None
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise SparkEngineError("the spark engine needs Java 17: install a JDK or set JAVA_HOME")


@contextlib.contextmanager
def spark_session(
    master: str | None = None, *, conf: Mapping[str, Any] | None = None, app_name: str = "avrec"
) -> Iterator[SparkSession]:
    """A SparkSession for the duration of the block; one that is already active is reused and left running.

    `master` overrides `AVREC_SPARK_MASTER` and the `local[*]` default (see `resolve_master`). In local mode
    `LOCAL_DEFAULTS` apply; `conf` (Spark property -> value) overrides them and is passed on as given.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in (conf or {}).items():
            with contextlib.suppress(Exception):  # static settings cannot change on a running session
                active.conf.set(key, str(value))
        yield active
        return
    resolved = resolve_master(master)
    settings: dict[str, str] = {}
    if is_local_master(resolved):
        settings.update(LOCAL_DEFAULTS)
        # Local executors are Python workers forked by this process: they must run this interpreter (and
        # its environment), which pyspark takes from PYSPARK_PYTHON only.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{_quiet_log4j()}"
    settings.update({k: str(v) for k, v in (conf or {}).items()})
    builder = SparkSession.builder.appName(app_name)
    if resolved is not None:
        builder = builder.master(resolved)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing or broken, bad master URL, port trouble
        raise SparkEngineError(f"cannot start Spark (master {resolved or 'from spark-submit'}): {exc}") from exc
    session.sparkContext.setLogLevel(os.environ.get("AVREC_SPARK_LOG_LEVEL", "ERROR"))
    try:
        yield session
    finally:
        session.stop()


_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def _quiet_log4j() -> str:
    """A log4j2 configuration that keeps a local Spark's JVM to errors (stderr stays readable)."""
    path = Path(tempfile.gettempdir()) / "avrec-spark-log4j2.properties"
    if not path.exists() or path.read_text() != _LOG4J:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(_LOG4J)
        os.replace(tmp, path)
    return str(path)


# -- work directory and Parquet hand-off -------------------------------------------------------------
@dataclass
class WorkDir:
    """A scratch directory both the driver (via pyarrow) and the executors (via Spark) can reach."""

    uri: str  # what Spark reads and writes (a local path or a URI such as hdfs://nn/tmp/avrec-1234)
    fs: pafs.FileSystem
    path: str  # the same place as pyarrow's filesystem sees it

    def spark(self, name: str) -> str:
        return f"{self.uri.rstrip('/')}/{name}"

    def local(self, name: str) -> str:
        return f"{self.path.rstrip('/')}/{name}"


@contextlib.contextmanager
def work_dir(base: str | None, master: str | None) -> Iterator[WorkDir]:
    """A fresh scratch directory under `base` (or `AVREC_SPARK_WORKDIR`), removed afterwards.

    Without either, local mode uses the system's temporary directory; a cluster master needs a shared one.
    """
    base = base or os.environ.get("AVREC_SPARK_WORKDIR")
    if not base:
        if master is not None and not is_local_master(master):
            raise UsageError(
                f"Spark master {master} runs executors on other machines: set AVREC_SPARK_WORKDIR "
                "(or --param spark_work_dir=URI) to a directory they all reach, e.g. hdfs:///tmp/avrec"
            )
        base = tempfile.gettempdir()
    if "://" in base:
        fs, root = pafs.FileSystem.from_uri(base)
    else:
        fs, root = pafs.LocalFileSystem(), str(Path(base).resolve())
        base = root
    name = f"avrec-spark-{uuid.uuid4().hex[:12]}"
    wd = WorkDir(f"{base.rstrip('/')}/{name}", fs, f"{root.rstrip('/')}/{name}")
    fs.create_dir(wd.path, recursive=True)
    try:
        yield wd
    finally:
        with contextlib.suppress(OSError):
            fs.delete_dir(wd.path)


def interactions_table(matrix: sp.spmatrix) -> pa.Table:
    """A users x items matrix as a Parquet-ready table of (user int32, item int32, weight float32)."""
    coo = sp.coo_matrix(matrix)
    if coo.shape[0] >= 2**31 or coo.shape[1] >= 2**31:
        raise ValueError("Spark ALS needs user and item indices below 2^31")
    return pa.table(
        {
            "user": pa.array(coo.row.astype(np.int32)),
            "item": pa.array(coo.col.astype(np.int32)),
            "weight": pa.array(coo.data.astype(np.float32)),
        }
    )


def export_interactions(data: TrainData, dest: str | Path, *, filesystem: pafs.FileSystem | None = None) -> int:
    """Write `data` as Parquet under the directory `dest`: `interactions.parquet` (user, item, weight),
    `users.parquet` (user, user_id) and `items.parquet` (item, item_id). Returns the number of interactions.

    Indices are positions in `data.user_ids` / `data.item_ids`; any Spark (or other) job can read the files.
    """
    fs = filesystem or pafs.LocalFileSystem()
    root = str(dest).rstrip("/")
    fs.create_dir(root, recursive=True)
    table = interactions_table(data.interactions)
    pq.write_table(table, f"{root}/interactions.parquet", filesystem=fs)
    users = pa.table({"user": pa.array(np.arange(data.n_users, dtype=np.int32)), "user_id": data.user_ids})
    items = pa.table({"item": pa.array(np.arange(data.n_items, dtype=np.int32)), "item_id": data.item_ids})
    pq.write_table(users, f"{root}/users.parquet", filesystem=fs)
    pq.write_table(items, f"{root}/items.parquet", filesystem=fs)
    return table.num_rows


def read_factors(wd: WorkDir, name: str, n_rows: int, rank: int) -> np.ndarray:
    """Factors Spark wrote as Parquet rows (id int, features array<float>) into an (n_rows x rank) matrix;
    ids Spark never saw (no interactions) keep zero rows."""
    table = pq.read_table(wd.local(name), filesystem=wd.fs)
    out = np.zeros((n_rows, rank), dtype=np.float32)
    if table.num_rows == 0:
        return out
    ids = table.column("id").to_numpy()
    values = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    out[ids] = np.asarray(values, dtype=np.float32).reshape(len(ids), rank)
    return out


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
    `spark.*` property. The model's own `fit` runs with its two ALS kernels (`fit_als`, `solve_users`)
    executed on Spark (see `SparkALS`); everything else it fits locally, and it saves in the local format.
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
        _ship_avrec(spark)
        backend = SparkALS(
            spark, wd, seed=seed, reg_param=engine.get("spark_reg_param"), blocks=engine.get("spark_blocks"),
            checkpoint_interval=int(engine.get("spark_checkpoint_interval") or 10),
        )
        started = time.perf_counter()
        with backend.installed():
            estimator.fit(data)
        seconds = time.perf_counter() - started
    if backend.info.als_seconds == 0.0:
        raise RuntimeError("the model fitted without calling its factorization; nothing ran on Spark")
    backend.info.total_seconds = seconds
    if info is not None:
        info.update(backend.info.as_dict())
    return estimator, seconds


class SparkALS:
    """Spark-backed stand-ins for `avrec.model.als.fit_als` and `avrec.model.als.solve_users`.

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

    @contextlib.contextmanager
    def installed(self) -> Iterator[SparkALS]:
        """Route the model package's ALS kernels here for the block (the model's `fit` looks them up on
        `avrec.model.als` at call time). Not re-entrant; other threads see the swap too, hence the lock."""
        with _PATCH_LOCK:
            saved = (als.fit_als, als.solve_users)
            als.fit_als = self.fit_als
            als.solve_users = self.solve_users
            try:
                yield self
            finally:
                als.fit_als, als.solve_users = saved

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
            raise SparkEngineError(f"Spark ALS failed: {_first_line(exc)}") from exc
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
            raise SparkEngineError(f"Spark user-factor solve failed: {_first_line(exc)}") from exc
        finally:
            shared.unpersist()
        x = read_factors(self.wd, "user_factors.parquet", conf.shape[0], y32.shape[1]).astype(np.float64)
        self.info.user_solves += 1
        self.info.user_solve_seconds += time.perf_counter() - started
        return x


_PATCH_LOCK = threading.Lock()


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


_SHIPPED: set[str] = set()


def _ship_avrec(spark: SparkSession) -> None:
    """On a cluster, send this avrec package to the executors (they run its scoring and solving code).

    Once per SparkContext; the archive lives in a driver-side temporary directory until the process exits
    (Spark serves it to executors from there)."""
    sc = spark.sparkContext
    if is_local_master(sc.master) or sc.applicationId in _SHIPPED:
        return
    import avrec

    package = Path(avrec.__file__).resolve().parent
    folder = tempfile.mkdtemp(prefix="avrec-pyfiles-")
    atexit.register(shutil.rmtree, folder, True)
    archive = Path(folder) / "avrec.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.rglob("*.py")):
            zf.write(path, path.relative_to(package.parent))
    sc.addPyFile(str(archive))
    _SHIPPED.add(sc.applicationId)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if "Exception" in line or "Error" in line:
            return line.strip()[:500]
    return text.splitlines()[0][:500] if text else type(exc).__name__


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
) -> SparkRecommendReport:
    """Top-k recommendations for every user (or `users`) computed on Spark, written as Parquet to `output`.

    Rows are `user_id` (string), `item_id` (string), `rank` (int, 1 = best) and `score` (double): the same
    rows `avrec.recommend.recommend(store, all_users=True, k=k, use_index=False)` yields, ties broken the
    same way. Each executor loads the store's active model file and scores users with it, so the scores are
    the local engine's. Seen items (from the store's current histories) are excluded unless `include_seen`.
    `output` is a directory (local path or a URI the cluster can write); an existing one is an error unless
    `overwrite`.
    """
    from avrec.serving import load_served
    from avrec.userfeatures import encode

    if k < 1:
        raise UsageError("-k must be at least 1")
    out = _output_uri(output, overwrite)
    served = load_served(store)
    n_items = len(served.item_ids)
    pool = None
    if candidates is not None:
        pool = np.zeros(n_items, dtype=bool)
        for item in candidates:
            j = served.item_pos.get(item)
            if j is None:
                if store.get_item(item) is None:
                    from avrec.errors import UnknownIdError

                    raise UnknownIdError(f"candidate item id {item!r} is not in the store")
                continue
            pool[j] = True
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
    hist.data[hist.data <= 0] = 0.0  # a cell whose events sum to <= 0 is not part of the history
    hist.eliminate_zeros()
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
        _ship_avrec(spark)
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
            raise SparkEngineError(f"Spark recommend failed: {_first_line(exc)}") from exc
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
    """Rank one block of users exactly as `avrec.recommend` does (float64 scores, ties by item id).

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
        row = scores[r]
        allowed = np.isfinite(row)
        if pool is not None:
            allowed &= pool
        if not include_seen:
            allowed[hist.indices[hist.indptr[r] : hist.indptr[r + 1]]] = False
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0:
            continue
        take = min(k, candidates.size)
        if take < candidates.size:
            part = candidates[np.argpartition(-row[candidates], take - 1)[:take]]
        else:
            part = candidates
        order = sorted(part.tolist(), key=lambda j: (-row[j], item_ids[j]))
        for rank, j in enumerate(order, start=1):
            yield str(user["user_id"]), item_ids[j], rank, float(row[j])
