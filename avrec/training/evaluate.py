"""Offline evaluation: fit models on a split of the interactions and report ranking metrics (no DB access).

`evaluate(data, timestamps, models, split=..., ks=..., seed=...)` returns an `EvaluationReport`; with
`plot_path` it also writes a PNG of each metric against k for the models compared.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from avrec.model import make_model
from avrec.model.data import TrainData
from avrec.model.metrics import coverage_at_k, map_at_k, ndcg_at_k, recall_at_k, top_k
from avrec.model.splits import Split, make_split

METRICS = ("ndcg", "recall", "map", "coverage")


@dataclass
class ModelResult:
    """One model's metrics: `metrics[name][k]` (name in METRICS) and its training time in seconds."""

    model: str
    train_seconds: float
    metrics: dict[str, dict[int, float]]


@dataclass
class EvaluationReport:
    split: str
    seed: int
    ks: list[int]
    users_evaluated: int
    train_interactions: int
    test_interactions: int
    results: list[ModelResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (metric keys become strings of k)."""
        out = asdict(self)
        for r in out["results"]:
            r["metrics"] = {m: {str(k): v for k, v in by_k.items()} for m, by_k in r["metrics"].items()}
        return out


def score_split(
    model_name: str, data: TrainData, split: Split, params: dict[str, Any] | None = None
) -> tuple[np.ndarray, float]:
    """Fit `model_name` on the split's training part; return (scores for split.test_users, train seconds)."""
    train = replace(data, interactions=split.train)
    model = make_model(model_name, **(params or {}))
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    users = split.test_users
    histories = split.train[users]
    if split.cold_users:
        feats = data.user_features[users] if data.user_features is not None else None
        return model.score(histories, np.full(len(users), -1), feats), seconds
    return model.score(histories, users), seconds


def metrics_for(scores: np.ndarray, split: Split, ks: list[int]) -> dict[str, dict[int, float]]:
    """All METRICS at every k for scores of `split.test_users` (seen items excluded)."""
    users = split.test_users
    top = top_k(scores, max(ks), exclude=split.train[users], candidates=split.candidates)
    relevant = sp.csr_matrix(split.test[users])
    n_candidates = len(split.candidates) if split.candidates is not None else scores.shape[1]
    return {
        "ndcg": {k: ndcg_at_k(top, relevant, k) for k in ks},
        "recall": {k: recall_at_k(top, relevant, k) for k in ks},
        "map": {k: map_at_k(top, relevant, k) for k in ks},
        "coverage": {k: coverage_at_k(top, n_candidates, k) for k in ks},
    }


def evaluate(
    data: TrainData,
    timestamps: sp.csr_matrix | None,
    models: list[str],
    split: str = "random",
    ks: tuple[int, ...] | list[int] = (5, 10, 20),
    seed: int = 42,
    frac: float = 0.2,
    params: dict[str, dict[str, Any]] | None = None,
    plot_path: Path | None = None,
) -> EvaluationReport:
    """Fit each of `models` on the training part of `split` and measure them on its test part.

    `split` is "random" (frac of each user's interactions), "temporal" (each user's last 5; needs
    `timestamps`, same pattern as the interactions), "cold_items" (frac of items held out, ranked among
    themselves) or "cold_users" (frac of users held out, served from `data.user_features`).
    `params` optionally maps a model name to its hyperparameters.
    """
    if not models:
        raise ValueError("name at least one model to evaluate")
    k_list = sorted({int(k) for k in ks})
    if not k_list or k_list[0] < 1:
        raise ValueError("ks must be positive integers")
    s = make_split(split, data.interactions, timestamps, frac=frac, seed=seed)
    if len(s.test_users) == 0:
        raise ValueError(f"the {split} split left no test users; the data has too few interactions per user")
    report = EvaluationReport(split, seed, k_list, int(len(s.test_users)), int(s.train.nnz), int(s.test.nnz))
    for name in models:
        scores, seconds = score_split(name, data, s, (params or {}).get(name))
        report.results.append(ModelResult(name, seconds, metrics_for(scores, s, k_list)))
    if plot_path is not None:
        plot_report(report, plot_path)
    return report


def plot_report(report: EvaluationReport, path: Path) -> Path:
    """A PNG with one panel per metric: metric vs k, one line per model (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avrec.store.files import atomic_path

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.4))
    for ax, metric in zip(axes, METRICS, strict=True):
        for r in report.results:
            ax.plot(report.ks, [r.metrics[metric][k] for k in report.ks], marker="o", label=r.model)
        ax.set_title(f"{metric}@k ({report.split})")
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def report_rows(report: EvaluationReport) -> list[dict[str, Any]]:
    """Flat rows (one per model and k): model, k, ndcg, recall, map, coverage, train_seconds."""
    return [
        {"model": r.model, "k": k, **{m: r.metrics[m][k] for m in METRICS}, "train_seconds": r.train_seconds}
        for r in report.results
        for k in report.ks
    ]


def holdout_report(
    data: TrainData, model: str, fraction: float = 0.2, seed: int = 42, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`fit --holdout`: metrics@10 of `model` on a random per-user holdout of `data` (JSON-ready dict)."""
    report = evaluate(
        data, None, [model], split="random", ks=[10], seed=seed, frac=fraction, params={model: params or {}}
    )
    result = report.results[0]
    return {
        "split": "random",
        "fraction": fraction,
        "users": report.users_evaluated,
        **{f"{m}@10": result.metrics[m][10] for m in METRICS},
    }


def evaluate_store(
    store: Any,
    models: list[str],
    split: str = "random",
    ks: list[int] | tuple[int, ...] = (5, 10, 20),
    fraction: float = 0.2,
    seed: int = 42,
    plot: Path | None = None,
) -> dict[str, Any]:
    """`avrec evaluate`: `evaluate` on a store's data (loaded by `avrec.training.dataset`); JSON-ready with `rows`."""
    from avrec.errors import InputError, UsageError
    from avrec.model.splits import SPLITS
    from avrec.training.dataset import load_train_data
    from avrec.training.fit import check_model_names

    check_model_names(models)
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose random, temporal, cold-items or cold-users")
    data, timestamps = load_train_data(store)
    try:
        report = evaluate(data, timestamps, models, split=split, ks=ks, seed=seed, frac=fraction, plot_path=plot)
    except ValueError as exc:  # the store's data cannot support this split or model
        raise InputError(f"cannot evaluate on {store.root}: {exc}") from None
    out = report.as_dict()
    out["rows"] = report_rows(report)
    out["plot"] = str(plot) if plot is not None else None
    return out
