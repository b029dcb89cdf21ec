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

The work is split along its seams: `session` (sessions, the work directory, the Parquet hand-off),
`fit` (`SparkALS`, the ALS back-end the hybrid calls) and `recommend` (batch scoring to Parquet).
"""


from avrec.engines.spark.fit import (
    SPARK_MODELS,
    SparkALS,
    SparkFitInfo,
    default_reg_param,
    exact_user_factors,
    fit_spark,
    split_params,
)
from avrec.engines.spark.recommend import SparkRecommendReport, recommend_spark, score_block
from avrec.engines.spark.session import (
    SparkEngineError,
    WorkDir,
    export_interactions,
    interactions_table,
    read_factors,
    resolve_master,
    spark_session,
    work_dir,
)

__all__ = [
    "SPARK_MODELS",
    "SparkALS",
    "SparkEngineError",
    "SparkFitInfo",
    "SparkRecommendReport",
    "WorkDir",
    "default_reg_param",
    "exact_user_factors",
    "export_interactions",
    "fit_spark",
    "interactions_table",
    "read_factors",
    "recommend_spark",
    "resolve_master",
    "score_block",
    "spark_session",
    "split_params",
    "work_dir",
]
