"""`fit`: train a model on what the store holds, save it, index it and make it the active model."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from avrec.config import Settings
from avrec.dataset import load_train_data
from avrec.errors import InputError, UsageError
from avrec.index import InnerProductIndex
from avrec.model import make_model
from avrec.progress import NullProgress, Progress
from avrec.store import ModelRecord, Store

MODELS = ("hybrid", "mf", "content", "popular", "itemknn")
KEEP_MODELS = 3  # older model files are removed; a reader still holding one of the last few is safe


@dataclass
class FitReport:
    model: str
    model_key: str
    users: int
    items: int
    interactions: int
    train_seconds: float
    engine: str = "local"
    seed: int = 42
    content: dict[str, int] = field(default_factory=dict)
    index: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    holdout: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"fitted {self.model} on {self.users} users x {self.items} items ({self.interactions} user-item pairs)"
            f" in {self.train_seconds:.2f}s -> {self.model_key}"
        )


def fit(
    store: Store,
    settings: Settings,
    *,
    model: str = "hybrid",
    seed: int = 42,
    params: dict[str, Any] | None = None,
    holdout: float | None = None,
    tune: bool = False,
    engine: str = "local",
    spark_master: str | None = None,
    progress: Progress | None = None,
) -> FitReport:
    if model not in MODELS:
        raise UsageError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if engine not in ("local", "spark"):
        raise UsageError(f"unknown engine {engine!r}; choose local or spark")
    progress = progress or NullProgress()
    with store.writer_lock("fit"):
        data, when = load_train_data(store)
        if data.interactions.nnz == 0:
            raise InputError(
                f"store {store.root} holds no positive interactions; run `avrec ingest interactions` first"
            )
        options = dict(params or {})
        holdout_report = None
        if holdout:
            from avrec.evaluate import holdout_report as evaluate_holdout

            holdout_report = evaluate_holdout(data, model=model, fraction=holdout, seed=seed, params=options)
        if engine == "spark":
            from avrec.engines.spark import fit_spark

            estimator, seconds = fit_spark(data, model=model, seed=seed, params=options, master=spark_master)
        else:
            estimator = make_model(model, random_state=seed, **options)
            if tune:
                estimator = estimator.tune(data) if hasattr(estimator, "tune") else estimator
            started = time.perf_counter()
            estimator.fit(data)
            seconds = time.perf_counter() - started
        key = f"{model}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.time_ns() % 1_000_000:06d}"
        rel = f"models/{key}.npz"
        estimator.save(store.root / rel)
        indexed = False
        embeddings = estimator.embeddings() if hasattr(estimator, "embeddings") else None
        if embeddings is not None:
            InnerProductIndex.build(embeddings[1], store.indexes_dir / f"{key}.ann", seed=seed)
            indexed = True
        report = FitReport(
            model=model,
            model_key=key,
            users=data.n_users,
            items=data.n_items,
            interactions=int(data.interactions.nnz),
            train_seconds=round(seconds, 4),
            engine=engine,
            seed=seed,
            content={m: int(c.present.sum()) for m, c in data.content.items()},
            index=indexed,
            params=estimator.get_params() if hasattr(estimator, "get_params") else options,
            holdout=holdout_report,
        )
        record_params = {"user_feature_names": data.user_feature_names, "seed": seed, "engine": engine}
        store.register_model(ModelRecord(key, model, rel, record_params, report.as_dict(), time.time()), activate=True)
        _prune(store)
    return report


def _prune(store: Store) -> None:
    records = store.models()
    active = store.active_model()
    for old in records[:-KEEP_MODELS]:
        if active is not None and old.model_key == active.model_key:
            continue
        for path in (
            store.root / old.path,
            store.indexes_dir / f"{old.model_key}.ann",
            store.indexes_dir / f"{old.model_key}.json",
        ):
            path.unlink(missing_ok=True)
