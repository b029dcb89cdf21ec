"""The estimator interface every avrec model implements, and its file format.

A model is fitted on a `TrainData`, then scores users given their histories. Users are addressed by their
training row (`users[i] >= 0`) or as new users (`users[i] == -1`, folded in from their history, attributes).
Model files are `.npz` archives written atomically and read with `allow_pickle=False`; the archive's
`__kind__` entry names the class, so `load_model` can dispatch on it.
"""

from __future__ import annotations

import json
import math
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from avrec.errors import ModelFileError
from avrec.model.data import TrainData
from avrec.store.files import atomic_path

FORMAT_VERSION = 1

#: A function mapping (histories, users, user_features) to user vectors; see `Recommender.embeddings`.
UserSideFn = Callable[[sp.csr_matrix, np.ndarray, "sp.csr_matrix | None"], np.ndarray]

R = TypeVar("R", bound="Recommender")


@dataclass
class ModelExplanation:
    """Why a model gave `item` the score it did for one user.

    `parts` maps part names (collaborative, text, visual, audio, user, bias) to the model's real additive
    terms; they sum to `score` within 1e-4. `history` lists (item index, contribution) for the user's history
    items, largest first: the total each history item adds to the score. `per_modality_history` gives the same
    per part. `cold_item` is True when the item had no training interactions (scored from content only).
    """

    score: float
    parts: dict[str, float]
    history: list[tuple[int, float]] = field(default_factory=list)
    per_modality_history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    cold_item: bool = False


def as_history(histories: sp.spmatrix | np.ndarray, n_items: int) -> sp.csr_matrix:
    """Validate and convert user histories (rows of item weights) into float32 CSR."""
    h = sp.csr_matrix(histories, dtype=np.float32)
    if h.shape[1] != n_items:
        raise ValueError(f"histories have {h.shape[1]} item columns; the model has {n_items} items")
    if h.nnz and (not np.all(np.isfinite(h.data)) or h.data.min() < 0):
        raise ValueError("history weights must be finite and non-negative")
    h.eliminate_zeros()
    h.sort_indices()
    return h


def sorted_contributions(items: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    """(item, contribution) pairs, largest contribution first."""
    order = np.argsort(-values, kind="stable")
    return [(int(items[o]), float(values[o])) for o in order]


def check_finite(name: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Raise if fitting produced NaN or infinite parameters (a diverged fit must not be saved)."""
    for key, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(
                f"{name} fit produced non-finite values in {key!r}; try a larger regularization "
                "or check the interaction weights"
            )


class Recommender(ABC):
    """Base of every avrec model: fit / score / recommend / explain / embeddings / save / load.

    Subclasses declare `kind`, take hyperparameters (and `random_state`, where randomness is involved) as
    keyword arguments in `__init__`, validate them with `ValueError`, and implement `_fit`, `score`,
    `explain`, `_state` and `_set_state`.
    """

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.user_ids: list[str] = []
        self.item_ids: list[str] = []
        self.fitted_ = False

    # -- hyperparameters --------------------------------------------------------------------------
    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable)."""

    # -- training ---------------------------------------------------------------------------------
    def fit(self: R, data: TrainData) -> R:
        """Train on `data`; keeps `data.user_ids` / `data.item_ids` so callers can map ids. Returns self."""
        if data.n_items == 0:
            raise ValueError("cannot fit a model on a catalog with no items")
        self.user_ids = list(data.user_ids)
        self.item_ids = list(data.item_ids)
        self._fit(data)
        check_finite(self.kind, self._state())
        self.fitted_ = True
        return self

    @abstractmethod
    def _fit(self, data: TrainData) -> None: ...

    def _require_fitted(self) -> None:
        if not self.fitted_:
            raise ValueError(f"the {self.kind} model is not fitted; call fit(data) first")

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def _check_users(self, users: np.ndarray, n: int) -> np.ndarray:
        u = np.asarray(users, dtype=np.int64).reshape(-1)
        if u.shape[0] != n:
            raise ValueError(f"got {u.shape[0]} user rows for {n} histories")
        if u.size and (u.min() < -1 or u.max() >= self.n_users):
            raise ValueError(f"user rows must be -1 (new user) or in [0, {self.n_users})")
        return u

    # -- scoring ----------------------------------------------------------------------------------
    @abstractmethod
    def score(
        self,
        histories: sp.csr_matrix,
        users: np.ndarray,
        user_features: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """Scores (n x n_items, float32) for n users.

        `histories` (n x n_items CSR) holds each user's interaction weights; `users[i]` is the user's
        training row, or -1 for a user the model has not seen (folded in from the history and, for models
        that use them, `user_features`, n x n_user_features aligned with the training features).
        For a known user, pass the history the model was trained on to get exactly what `explain` decomposes.
        """

    def recommend(
        self,
        histories: sp.csr_matrix,
        users: np.ndarray,
        k: int = 10,
        user_features: sp.csr_matrix | None = None,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and their scores per user (n x k; index -1 / score -inf pad short rows)."""
        from avrec.model.metrics import top_k

        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        h = as_history(histories, self.n_items)
        scores = self.score(h, users, user_features)
        idx = top_k(scores, k, exclude=h if exclude_seen else None, candidates=candidates)
        vals = np.where(idx >= 0, np.take_along_axis(scores, np.maximum(idx, 0), axis=1), -np.inf)
        return idx, vals.astype(np.float32)

    @abstractmethod
    def explain(
        self,
        history: sp.csr_matrix,
        user: int,
        item: int,
        user_features: sp.csr_matrix | None = None,
    ) -> ModelExplanation:
        """Decompose `score(history, [user], user_features)[0, item]` into the model's additive parts."""

    def embeddings(self) -> tuple[UserSideFn, np.ndarray] | None:
        """`(user_vectors_fn, item_matrix)` when the score is an exact inner product, else None.

        `user_vectors_fn(histories, users, user_features)` returns an (n x d) float32 matrix U and
        `item_matrix` is (n_items x d) V with `score(...) == U @ V.T` (up to float32 rounding), so an Annoy
        index over V with the inner-product-to-angular augmentation retrieves candidates for exact re-scoring.
        """
        return None

    def _check_item(self, item: int) -> int:
        if not 0 <= int(item) < self.n_items:
            raise ValueError(f"item index {item} is outside the model's {self.n_items} items")
        return int(item)

    # -- persistence ------------------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (numeric or unicode dtypes only)."""

    @abstractmethod
    def _set_state(self, state: Mapping[str, np.ndarray]) -> None: ...

    def save(self, path: str | Path) -> Path:
        """Write the model to `path` (.npz) atomically: readers see the old file or the new one."""
        self._require_fitted()
        final = Path(path)
        arrays: dict[str, np.ndarray] = {f"state/{k}": v for k, v in self._state().items()}
        arrays["__kind__"] = np.array(self.kind)
        arrays["__format__"] = np.array(FORMAT_VERSION)
        arrays["__params__"] = np.array(json.dumps(self.get_params(), sort_keys=True))
        arrays["__user_ids__"] = np.array(self.user_ids, dtype=str)
        arrays["__item_ids__"] = np.array(self.item_ids, dtype=str)
        with atomic_path(final) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]
        return final

    @classmethod
    def _from_archive(cls: type[R], archive: Mapping[str, np.ndarray]) -> R:
        params = json.loads(str(archive["__params__"]))
        model = cls(**params)
        model.user_ids = [str(x) for x in archive["__user_ids__"].tolist()]
        model.item_ids = [str(x) for x in archive["__item_ids__"].tolist()]
        model._set_state({k[len("state/") :]: archive[k] for k in archive if k.startswith("state/")})
        model.fitted_ = True
        return model

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        """Read a model saved by `save` (no pickle); the file must hold this class's kind."""
        model = load_model(path)
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {model.kind} model, not {cls.kind}")
        return model


_REGISTRY: dict[str, type[Recommender]] = {}


def register(cls: type[R]) -> type[R]:
    """Class decorator: make a model available to `make_model` and `load_model` under its `kind`."""
    _REGISTRY[cls.kind] = cls
    return cls


def model_names() -> list[str]:
    return sorted(_REGISTRY)


#: Integer hyperparameters and the range that makes sense. Beyond it a value only costs memory and time
#: (factors=100000 asked for a 37 GiB matrix).
INT_PARAM_RANGES: dict[str, tuple[int, int]] = {
    "factors": (0, 1024),
    "iterations": (1, 1000),
    "cg_steps": (1, 100),
    "content_rank": (0, 65_536),
    "neighbours": (1, 10_000),
    "random_state": (0, 2**32 - 1),
}
#: The largest magnitude any real-valued hyperparameter may take (alpha=1e39 overflowed float32).
MAX_PARAM_MAGNITUDE = 1e6


def check_params(name: str, params: dict[str, Any]) -> None:
    """A ValueError naming the first hyperparameter whose value has the wrong type or an absurd size.

    Types come from the model's defaults; names the model does not know are left to the model.
    """
    defaults = _REGISTRY[name]().get_params()
    for key, value in params.items():
        if key not in defaults or (key == "random_state" and value is None):
            continue
        default = defaults[key]
        shown = f"{key}={value!r}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{shown}: must be true or false")
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError(f"{shown}: must be text, such as {default!r}")
        elif key in INT_PARAM_RANGES:
            low, high = INT_PARAM_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{shown}: must be a whole number from {low} to {high}")
            if not low <= value <= high:
                raise ValueError(f"{shown} is out of range: use a whole number from {low} to {high}")
        elif isinstance(default, (int, float)) or default is None:
            if value is None and default is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{shown}: must be a number")
            if not math.isfinite(value) or abs(value) > MAX_PARAM_MAGNITUDE:
                raise ValueError(f"{shown}: must be a finite number no larger than {MAX_PARAM_MAGNITUDE:g}")


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model of kind `name` (hybrid, mf, content, popular, itemknn, ease) with `params`
    (checked by :func:`check_params`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(model_names())}")
    if params:
        check_params(name, params)
    return _REGISTRY[name](**params)


def load_model(path: str | Path) -> Recommender:
    """Load any avrec model file; the kind stored in the file picks the class."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as npz:
            archive = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # damaged or cut short
        raise ModelFileError(f"{p} is not a readable avrec model file ({exc}); run `avrec fit` again") from None
    if "__kind__" not in archive:
        raise ModelFileError(f"{p} is not an avrec model file (no __kind__ entry)")
    kind = str(archive["__kind__"])
    if int(archive.get("__format__", np.array(0))) > FORMAT_VERSION:
        raise ModelFileError(f"{p} was written by a newer avrec (format {archive['__format__']}); upgrade avrec")
    if kind not in _REGISTRY:
        raise ModelFileError(f"{p} holds an unknown model kind {kind!r}")
    try:
        return _REGISTRY[kind]._from_archive(archive)
    except (KeyError, ValueError, TypeError, IndexError) as exc:  # an entry missing or of the wrong shape
        raise ModelFileError(f"{p} is a damaged avrec model file ({exc!r}); run `avrec fit` again") from None
