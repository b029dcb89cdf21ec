"""Spark sessions, the shared work directory and the Parquet hand-off between avrec and Spark.

pyspark is imported only inside functions, so importing this module costs nothing without Spark.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import scipy.sparse as sp

from avrec.errors import AvrecError, UsageError
from avrec.model import TrainData

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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



_SHIPPED: set[str] = set()


def ship_avrec(spark: SparkSession) -> None:
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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if "Exception" in line or "Error" in line:
            return line.strip()[:500]
    return text.splitlines()[0][:500] if text else type(exc).__name__

