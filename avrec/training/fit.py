"""`fit`: train a model on what the store holds, save it, index it and make it the active model."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from avrec.errors import InputError, ModelError, StoreError, UsageError
from avrec.model import Recommender, make_model, model_names
from avrec.model.als import default_backend
from avrec.model.base import UserSideFn
from avrec.model.hybrid import LinearHybrid
from avrec.serving import uservectors
from avrec.serving.index import InnerProductIndex
from avrec.store import ModelRecord, Store
from avrec.store.files import owned_key
from avrec.training.dataset import StoreData, load_store_data, load_train_data

KEEP_MODELS = 3  # older model files are removed; a reader still holding one of the last few is safe


def check_model_names(names: list[str]) -> None:
    """A usage error naming the first model kind that is not registered."""
    unknown = [m for m in names if m not in model_names()]
    if unknown or not names:
        raise UsageError(f"unknown model {unknown[0] if unknown else ''!r}; choose one of {', '.join(model_names())}")


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
    encoders: dict[str, str] = field(default_factory=dict)  # modality -> model id of the content vectors used
    index: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    holdout: dict[str, Any] | None = None
    incremental: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"fitted {self.model} on {self.users} users x {self.items} items ({self.interactions} user-item pairs)"
            f" in {self.train_seconds:.2f}s -> {self.model_key}"
        )


@contextlib.contextmanager
def model_errors(model: str) -> Iterator[None]:
    """A model's own failure (a diverged fit, a singular system) as a ModelError naming the model and what to
    try; models raise ValueError (their contract) and numpy's LinAlgError is one."""
    try:
        yield
    except (ValueError, FloatingPointError, ArithmeticError) as exc:
        raise ModelError(f"fitting {model} failed: {exc}") from None


def fit(
    store: Store,
    *,
    model: str = "hybrid",
    seed: int = 42,
    params: dict[str, Any] | None = None,
    holdout: float | None = None,
    tune: bool = False,
    engine: str = "local",
    spark_master: str | None = None,
    threads: int | None = None,
) -> FitReport:
    """Train `model` on everything the store holds, save it with its Annoy index and make it active.

    `threads` caps the ALS kernels' threads (`avrec.model.als.default_backend`; None: their default)."""
    check_model_names([model])
    if engine not in ("local", "spark"):
        raise UsageError(f"unknown engine {engine!r}; choose local or spark")
    if tune and model in ("popular", "itemknn", "ease"):
        raise UsageError(f"tune has nothing to tune for {model}; it applies to hybrid, mf and content", param="tune")
    with store.writer_lock("fit"):
        loaded = load_store_data(store)
        data = loaded.data
        if data.interactions.nnz == 0:
            raise InputError(
                f"store {store.root} holds no positive interactions; run `avrec ingest interactions` first"
            )
        options = dict(params or {})
        model_options = options
        if engine == "spark":
            from avrec.engines.spark import split_params

            if tune:
                raise UsageError("tune runs on the local engine only; tune locally, then fit on Spark", param="tune")
            model_options = split_params(options)[0]
        holdout_report = None
        if holdout:
            from avrec.training.evaluate import holdout_report as evaluate_holdout

            try:
                holdout_report = evaluate_holdout(
                    data, model=model, fraction=holdout, seed=seed, params=model_options
                )
            except ValueError as exc:  # too little data to hold any out
                raise InputError(f"holdout {holdout}: {exc}", param="holdout") from None
        if engine == "spark":
            from avrec.engines.spark import fit_spark

            with model_errors(model):
                estimator, seconds = fit_spark(data, model=model, seed=seed, params=options, master=spark_master)
        else:
            try:
                estimator = make_model(model, random_state=seed, **options)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"params rejected by {model}: {exc}", param="params") from None
            if isinstance(estimator, LinearHybrid):
                estimator.als_backend = default_backend(threads)
            if tune and isinstance(estimator, LinearHybrid):
                try:
                    estimator.tune(data)
                except ValueError as exc:
                    why = f"tune could not tune {model} on this data ({exc}); fit without tuning"
                    raise InputError(why, param="tune") from None
            started = time.perf_counter()
            with model_errors(model):
                estimator.fit(data)
            seconds = time.perf_counter() - started
        record_params = {"user_feature_names": data.user_feature_names, "seed": seed, "engine": engine}
        key, rel, indexed = _persist(store, estimator, model, record_params, loaded)
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
            encoders={m: c.model_id for m, c in data.content.items()},
            index=indexed,
            params=estimator.get_params(),
            holdout=holdout_report,
        )
        store.register_model(ModelRecord(key, model, rel, record_params, report.as_dict(), time.time()), activate=True)
        _prune(store)
    return report


#: Beyond these shares of new pairs, users or items since the last full fit, `update` says a refit is due.
REFIT_SHARE = 0.2


def update(
    store: Store, *, refused: Mapping[str, object] | None = None, threads: int | None = None
) -> FitReport:
    """Fold users, items and events that arrived since the active model's fit into a new model version,
    without retraining its factors (`fit --incremental`). Says in `incremental.refit_due` when the data
    has drifted far enough from the last full fit that `avrec fit` should be run.

    An update keeps the active model's kind and parameters: `refused` maps the names the caller gives its
    model options (kind, parameters, seed, holdout, tuning, engine) to their values, and any that is set is
    a usage error rather than silently ignored.
    """
    given = [name for name, value in (refused or {}).items() if value not in (None, False, [], {})]
    if given:
        raise UsageError(
            f"an incremental update keeps the active model's kind and parameters; {', '.join(given)} "
            "cannot be changed by it (drop them, or run a full fit)"
        )
    from avrec.serving.served import load_served

    with store.writer_lock("fit --incremental"):
        served = load_served(store)
        model = served.model
        if isinstance(model, LinearHybrid):
            model.als_backend = default_backend(threads)
        if not hasattr(model, "update"):
            raise UsageError(f"the active model ({served.record.kind}) cannot be updated in place; run `avrec fit`")
        data, _ = load_train_data(store)
        if data.interactions.nnz == 0:
            raise InputError(f"store {store.root} holds no positive interactions")
        base = served.record.report.get("incremental", {}) or {}
        full = {
            "users": int(base.get("full_fit_users", served.record.report.get("users", 0))),
            "items": int(base.get("full_fit_items", served.record.report.get("items", 0))),
            "interactions": int(base.get("full_fit_interactions", served.record.report.get("interactions", 0))),
        }
        started = time.perf_counter()
        with model_errors(served.record.kind):
            updated = model.update(data)
        seconds = time.perf_counter() - started
        shares = {
            "new_users": (data.n_users - full["users"]) / max(full["users"], 1),
            "new_items": (data.n_items - full["items"]) / max(full["items"], 1),
            "new_interactions": (int(data.interactions.nnz) - full["interactions"]) / max(full["interactions"], 1),
        }
        due = max(shares.values()) > REFIT_SHARE
        key, rel, indexed = _persist(store, updated, served.record.kind, dict(served.record.params))
        report = FitReport(
            model=served.record.kind,
            model_key=key,
            users=data.n_users,
            items=data.n_items,
            interactions=int(data.interactions.nnz),
            train_seconds=round(seconds, 4),
            content={m: int(c.present.sum()) for m, c in data.content.items()},
            encoders={m: c.model_id for m, c in data.content.items()},
            index=indexed,
            params=updated.get_params(),
            incremental={
                "updated_from": served.record.model_key,
                **{f"full_fit_{k}": v for k, v in full.items()},
                **{k: round(v, 4) for k, v in shares.items()},
                "refit_due": due,
                "advice": "run `avrec fit` for a full refit" if due else "no full refit needed yet",
            },
        )
        store.register_model(
            ModelRecord(key, served.record.kind, rel, dict(served.record.params), report.as_dict(), time.time()),
            activate=True,
        )
        _prune(store)
    return report


def _persist(
    store: Store, estimator: Recommender, kind: str, params: dict[str, Any], loaded: StoreData | None = None
) -> tuple[str, str, bool]:
    """Write a new model version, its Annoy index and its user table (each atomically); (key, path in the
    store, indexed). The caller registers it afterwards, so readers never see a model whose files are
    incomplete. `loaded`: what the model was fitted on, with the histories the user table is made from."""
    key = f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.time_ns() % 1_000_000:06d}"
    store.claim_model_key(key)
    path = store.model_path(key)
    rel = path.relative_to(store.root).as_posix()
    try:
        estimator.save(path)
        embeddings = estimator.embeddings()
        if embeddings is not None:
            InnerProductIndex.build(embeddings[1], store.index_path(key), seed=int(params.get("seed", 42)))
            record = ModelRecord(key, kind, rel, params, {}, time.time())
            _write_user_table(store, record, estimator, embeddings, loaded)
    except OSError as exc:  # a full disk: what is half written is a temporary file, removed by the next fit
        raise StoreError(
            f"cannot write the new model {key} into {store.root} ({exc.strerror or exc}): free some space and "
            "run the command again; the active model is kept"
        ) from None
    return key, rel, embeddings is not None


def _write_user_table(
    store: Store,
    record: ModelRecord,
    estimator: Recommender,
    embeddings: tuple[UserSideFn, np.ndarray],
    loaded: StoreData | None = None,
) -> None:
    """Every known user's vector as `recommend` computes it from the store (`avrec.serving.uservectors`):
    from the histories `loaded` read with the training data when the model's users and items are its, so
    the events are not scanned twice; otherwise from the store right now."""
    from avrec.serving.served import Served, all_user_batches

    user_side, items = embeddings
    served = Served(estimator, record, list(estimator.item_ids), list(estimator.user_ids), str(store.root))
    if not uservectors.worth_writing(len(served.user_ids), items.shape[1]):
        return
    blocks = [np.zeros((0, items.shape[1]), np.float32)]
    same = (
        loaded is not None
        and served.user_ids == loaded.data.user_ids
        and served.item_ids == loaded.data.item_ids
    )
    with store.snapshot():
        if same and loaded is not None:
            last_event, attrs, histories = loaded.last_event_id, loaded.attrs_text, loaded.histories
        else:
            last_event, attrs, histories = store.last_event_id(), store.user_attrs_text(), None
        for batch in all_user_batches(store, served, served.user_ids, 1024, histories):
            blocks.append(np.asarray(user_side(batch.histories, batch.rows, batch.features), dtype=np.float32))
    uservectors.write(
        store.user_vectors_dir(record.model_key),
        user_ids=served.user_ids,
        users=np.vstack(blocks),
        attrs_text=attrs,
        item_ids=served.item_ids,
        items=items,
        last_event_id=last_event,
    )


def _prune(store: Store, keep: int = KEEP_MODELS) -> int:
    """Remove the files of all but the `keep` newest model versions (never the active one's); how many."""
    records = store.models()
    active = store.active_model()
    removed = 0
    for old in records[:-keep]:
        if active is not None and old.model_key == active.model_key:
            continue
        index = store.index_path(old.model_key)
        for path in (store.root / old.path, index, index.with_suffix(".json")):
            path.unlink(missing_ok=True)
        shutil.rmtree(store.user_vectors_dir(old.model_key), ignore_errors=True)
        removed += 1
    _remove_leftovers(store, records)
    return removed


def drop_older_models(store: Store) -> int:
    """Remove the files of every model version but the active one (`forget`: older versions still hold the
    forgotten user's vector); how many were removed."""
    with store.writer_lock("forget"):
        return _prune(store, keep=1)


def _remove_leftovers(store: Store, records: list[ModelRecord]) -> None:
    """Delete what killed fits left behind, and temporary files of registered versions.

    Only files named the way avrec names a model version's files (`avrec.store.files.owned_key`) AND whose
    version the store records as its own (registered, or claimed by a fit that never finished) are ever
    removed: anything else in `models/` or `indexes/` is someone else's and is left alone. Safe because
    the caller holds the writer lock: only fit and update write these folders.
    """
    registered = {r.model_key for r in records}
    pending = store.pending_model_keys() - registered
    for folder in (store.models_dir, store.indexes_dir):
        for path in folder.iterdir():
            key = owned_key(path.name)
            if key is None or not (key in pending or (key in registered and path.name.startswith("."))):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    store.release_model_keys(pending)
