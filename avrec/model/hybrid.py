"""The hybrid model (avrec's default): collaborative factors + per-modality content profiles + user
attributes + popularity bias, all one exact inner product.

score(u, i) = x_u . y_i                                   collaborative (implicit ALS)
            + sum_m w_m <p_u^m, c_i^m>                     text / visual / audio content profiles
            + w_user <a_u, L_i>                            user attributes
            + b_i                                          popularity bias

* x_u, y_i: implicit-ALS factors (`avrec.model.als`). A user's x_u is the least-squares solution against the
  item factors given the user's history, so a new user is folded in without retraining and `explain` can
  split x_u . y_i exactly into per-history-item terms c_j y_i' A_u^-1 y_j (as implicit's ALS explain does).
* An item with no training interactions has no learned y_i; it gets a ridge projection of its content
  vectors onto the factor space, y_i = sum_m c_i^m W_m, fitted on the items that do have interactions. Its
  collaborative-looking term is then made of content only and is reported under each modality's part.
* c_i^m: item content vectors per modality, centred and L2-normalised. p_u^m = sum_j h_uj c_j^m / |h_u|^e is
  the user's content profile (e = `history_exponent`), so the content part of item i is a sum of
  similarity-weighted history terms w_m h_uj <c_j, c_i> / |h_u|^e.
* L_i: for each user attribute f, how much more often users with f interact with item i than users overall
  (P(i | f) - P(i), smoothed); a_u is the user's attribute row divided by its number of non-zeros. Users with
  attributes and no history are served from attribute-conditioned popularity rather than global popularity.
* b_i = w_bias * log(1 + n_i) / log(1 + max n): popularity, zero for cold items.

`MatrixFactorization` (collaborative only) and `ContentModel` (content profiles only) are the same engine with
blocks switched off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from avrec.model import als
from avrec.model.base import (
    ModelExplanation,
    Recommender,
    UserSideFn,
    as_history,
    check_finite,
    register,
    sorted_contributions,
)
from avrec.model.content import (
    MODALITIES,
    extend_modalities,
    fit_projection,
    normalised_modalities,
    project_cold,
)
from avrec.model.data import TrainData
from avrec.model.weighting import Confidence

__all__ = ["MODALITIES", "ContentModel", "HybridModel", "LinearHybrid", "MatrixFactorization", "auto_regularization"]


def auto_regularization(interactions: sp.spmatrix) -> float:
    """ALS regularization that grows with the square root of the data's density (interactions per user
    and item).

    The penalty competes with sums over each user's and item's interactions, so a constant tuned on one
    dataset over-shrinks a sparse one and under-shrinks a dense one; validation splits carved from the
    training data of MovieLens 100K variants (all users, a 30% sample, all ratings as weights) favour
    square-root growth. It gives about 20 on MovieLens 100K (the value validation picks there).
    """
    n_users, n_items = interactions.shape
    density = interactions.nnz / max(n_users + n_items, 1)
    return float(np.clip(4.9 * np.sqrt(density), 1.0, 200.0))


class LinearHybrid(Recommender):
    """Engine shared by the hybrid, mf and content models (see the module docstring for the score).

    `als_backend` runs the factorization's two kernels (`avrec.model.als.ALSBackend`): in this process by
    default, on Spark with `avrec.engines.spark.SparkALS`. It is how the model is fitted, not part of it:
    it is not a hyperparameter and is not saved.
    """

    kind = "linear"
    _use_collab = True
    _use_content = True
    _use_side = True  # bias and user attributes
    _project_cold = True  # items without interactions get factors projected from their content

    def __init__(
        self,
        factors: int = 48,
        regularization: float | None = None,
        alpha: float = 1.0,
        iterations: int = 10,
        cg_steps: int = 3,
        text_weight: float = 0.1,
        visual_weight: float = 0.0,
        audio_weight: float = 0.1,
        user_weight: float = 0.1,
        bias_weight: float = 0.0,
        history_exponent: float = 0.5,
        projection_reg: float = 10.0,
        weight_scaling: str = "auto",
        confidence: str = "bm25",
        tune: bool = False,
        random_state: int | None = 42,
        als_backend: als.ALSBackend | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("regularization", 1.0 if regularization is None else regularization),
            ("alpha", alpha),
            ("projection_reg", projection_reg),
        ):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name, value in (
            ("text_weight", text_weight),
            ("visual_weight", visual_weight),
            ("audio_weight", audio_weight),
            ("user_weight", user_weight),
            ("bias_weight", bias_weight),
            ("history_exponent", history_exponent),
        ):
            if not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if factors < 0 or (self._use_collab and factors == 0):
            raise ValueError(f"factors must be a positive integer, got {factors}")
        if weight_scaling not in ("auto", "log", "linear"):
            raise ValueError(f"weight_scaling must be 'auto', 'log' or 'linear', got {weight_scaling!r}")
        if confidence not in ("bm25", "plain"):
            raise ValueError(f"confidence must be 'bm25' or 'plain', got {confidence!r}")
        if iterations < 1 or cg_steps < 1:
            raise ValueError("iterations and cg_steps must be at least 1")
        if regularization is not None and regularization <= 0 and self._use_collab:
            raise ValueError("regularization must be > 0 (try 10-50 for implicit feedback), or None for auto")
        self.factors = int(factors)
        #: What the caller asked for (None: scale with the data, see `auto_regularization`) ...
        self.regularization_param = regularization
        #: ... and the value in use (resolved by `fit`).
        self.regularization = float(regularization) if regularization is not None else float("nan")
        self.alpha = float(alpha)
        self.iterations = int(iterations)
        self.cg_steps = int(cg_steps)
        self.text_weight = float(text_weight)
        self.visual_weight = float(visual_weight)
        self.audio_weight = float(audio_weight)
        self.user_weight = float(user_weight)
        self.bias_weight = float(bias_weight)
        self.history_exponent = float(history_exponent)
        self.projection_reg = float(projection_reg)
        self.weight_scaling_param = weight_scaling
        self.confidence = confidence
        self.tune_on_fit = bool(tune)  # `tune` itself is the method
        self.random_state = random_state
        if als_backend is not None and not isinstance(als_backend, als.ALSBackend):
            raise ValueError("als_backend must have fit_als and solve_users (see avrec.model.als.ALSBackend)")
        self.als_backend: als.ALSBackend = als_backend or als.LOCAL
        self.tuned_params_: dict[str, float] = {}
        self._reset()

    def _reset(self) -> None:
        self._items: np.ndarray | None = None  # `item_matrix`, built once per fitted or loaded model
        self.user_factors = np.zeros((0, 0), np.float32)
        self.item_factors = np.zeros((0, 0), np.float32)
        self.projections: dict[str, np.ndarray] = {}
        self.projection_weights: dict[str, np.ndarray] = {}
        self.content: dict[str, np.ndarray] = {}
        self.content_means: dict[str, np.ndarray] = {}
        self.item_bias = np.zeros(0, np.float32)
        self.attr_lift = np.zeros((0, 0), np.float32)
        self.attr_factors = np.zeros((0, 0), np.float32)
        self.train_user_features: sp.csr_matrix | None = None
        self.item_counts = np.zeros(0, np.float32)
        #: Interaction weights as the model uses them (fitted with the model, see `avrec.model.weighting`).
        self.weights = Confidence(self.weight_scaling_param, bm25=self.confidence == "bm25")

    def get_params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            # A fitted model reports the value it used, so a saved model reloads exactly.
            "regularization": self.regularization if self.fitted_ else self.regularization_param,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "cg_steps": self.cg_steps,
            "text_weight": self.text_weight,
            "visual_weight": self.visual_weight,
            "audio_weight": self.audio_weight,
            "user_weight": self.user_weight,
            "bias_weight": self.bias_weight,
            "history_exponent": self.history_exponent,
            "projection_reg": self.projection_reg,
            "weight_scaling": self.weights.scaling if self.fitted_ else self.weight_scaling_param,
            "confidence": self.confidence,
            "tune": False,  # a loaded model is already tuned: its weights are the chosen ones
            "random_state": self.random_state,
        }

    def _weight(self, modality: str) -> float:
        return float(getattr(self, f"{modality}_weight"))

    # -- fitting ----------------------------------------------------------------------------------
    def tune(self, data: TrainData) -> LinearHybrid:
        """Set blend weights by validation on splits carved from `data` (training data only); returns self.

        Call `fit(data)` afterwards (or construct with `tune=True`, which does both).
        """
        from avrec.model.tuning import tune_weights

        self.tuned_params_ = tune_weights(self, data)
        for key, value in self.tuned_params_.items():
            setattr(self, key, value)
        return self

    # -- fitting ----------------------------------------------------------------------------------
    def _fit(self, data: TrainData) -> None:
        if self.tune_on_fit:
            self.tune(data)
        self._reset()
        raw = sp.csr_matrix(data.interactions, dtype=np.float32)
        raw.eliminate_zeros()
        inter = self.weights.fit(raw).transform(raw)
        self.item_counts = np.asarray((inter > 0).sum(axis=0), dtype=np.float32).ravel()
        if self.regularization_param is None:
            self.regularization = auto_regularization(inter)
        content = normalised_modalities(data) if self._use_content or self._project_cold else {}
        if self._use_content:
            for m, (vectors, mean) in content.items():
                if self._weight(m) != 0.0:
                    self.content[m], self.content_means[m] = vectors, mean
        if self._use_collab:
            rng = np.random.default_rng(self.random_state)
            self.user_factors, self.item_factors = self.als_backend.fit_als(
                inter * self.alpha, self.factors, self.regularization, self.iterations, self.cg_steps, rng,
                exact_users=False,
            )
            if self._project_cold:
                for m, (_, mean) in content.items():
                    self.content_means.setdefault(m, mean)
                self._fit_projection({m: vectors for m, (vectors, _) in content.items()})
            # Each stored user vector is the exact least-squares fold-in of the user's training history
            # against the final item factors (projected cold items included, as they enter Y'Y): what
            # `explain` decomposes and what folding the same history in again reproduces.
            self.user_factors = self._solve_users(inter)
        self._fit_side(data, inter)

    def _solve_users(self, inter: sp.csr_matrix) -> np.ndarray:
        return self.als_backend.solve_users(self.item_factors, inter * self.alpha, self.regularization).astype(
            np.float32
        )

    def _fit_projection(self, blocks: dict[str, np.ndarray]) -> None:
        """Ridge-project content onto item factors (fit on warm items) for items with no interactions."""
        warm = self.item_counts > 0
        if not blocks or not warm.any():
            return
        weights = fit_projection(blocks, self.item_factors, warm, self.projection_reg)
        self.projection_weights = {m: w.astype(np.float32) for m, w in weights.items()}
        self.projections = project_cold(blocks, weights, ~warm, self.item_factors)

    def _fit_side(self, data: TrainData, inter: sp.csr_matrix) -> None:
        """Popularity bias and the user-attribute blocks, from the (weighted) interactions."""
        counts = self.item_counts
        if not self._use_side:
            self.item_bias = np.zeros(len(counts), np.float32)
            return
        top = max(float(np.log1p(counts.max())), 1e-12) if counts.size else 1.0
        self.item_bias = (self.bias_weight * np.log1p(counts) / top).astype(np.float32)
        self._fit_attributes(data, inter)

    def _fit_attributes(self, data: TrainData, inter: sp.csr_matrix) -> None:
        feats = data.user_features
        # Fitted even when user_weight is 0: the attribute-to-factor regression below is what serves
        # users who have attributes and no history.
        if feats is None or feats.shape[1] == 0:
            self.attr_lift = np.zeros((0, data.n_items), np.float32)
            self.attr_factors = np.zeros((0, self.factors), np.float32)
            self.train_user_features = None
            return
        feats = sp.csr_matrix(feats, dtype=np.float32)
        self.train_user_features = feats
        binary = sp.csr_matrix((inter > 0).astype(np.float32))
        active = np.diff(binary.indptr) > 0
        fa = feats[active]
        n_f = np.asarray(fa.sum(axis=0), dtype=np.float64).ravel()
        p_item = np.asarray(binary[active].mean(axis=0), dtype=np.float64).ravel()
        counts = np.asarray((fa.T @ binary[active]).todense(), dtype=np.float64)
        prior = 20.0  # pseudo-users: shrinks the lift of rare attributes towards zero
        p_item_given_f = (counts + prior * p_item) / (n_f[:, None] + prior)
        lift = p_item_given_f - p_item
        scale = max(float(np.abs(lift).max()), 1e-12)
        self.attr_lift = (lift / scale).astype(np.float32)
        if self._use_collab:
            # Users with attributes but no history get factors regressed from their attributes (ridge,
            # fitted on users with history): attribute-conditioned taste instead of nothing.
            a = self._normalise_attrs(fa).toarray().astype(np.float64)
            target = self.user_factors[active].astype(np.float64)
            w = np.linalg.solve(a.T @ a + self.projection_reg * np.eye(a.shape[1]), a.T @ target)
            self.attr_factors = w.astype(np.float32)

    # -- incremental update -------------------------------------------------------------------------
    def update(self, data: TrainData) -> LinearHybrid:
        """A copy of this model extended to `data` without retraining: users and items that appeared since
        `fit` are folded in.

        Item factors learned by `fit` are kept. An item new since the fit (or cold then) that now has
        interactions gets factors by one least-squares solve against the user factors (the ALS item step);
        one still without interactions gets the content projection. Every user is then re-solved exactly
        against the item factors, so new events count at once. Content of new items is normalised with the
        centres stored at fit time. Attribute lift and the popularity bias are recomputed.
        """
        self._require_fitted()
        new = type(self)(**self.get_params(), als_backend=self.als_backend)
        new.user_ids, new.item_ids = list(data.user_ids), list(data.item_ids)
        old_item = {item: j for j, item in enumerate(self.item_ids)}
        rows = np.asarray([old_item.get(item, -1) for item in data.item_ids], dtype=np.int64)
        new.weights = self.weights.extend(rows, self.n_users)
        raw = sp.csr_matrix(data.interactions, dtype=np.float32)
        raw.eliminate_zeros()
        inter = new.weights.transform(raw)
        new.item_counts = np.asarray((inter > 0).sum(axis=0), dtype=np.float32).ravel()
        blocks = extend_modalities(data, rows, self.content_means, self.content)
        new.content = {m: block for m, block in blocks.items() if m in self.content}
        new.content_means = dict(self.content_means)
        new.projection_weights = dict(self.projection_weights)
        if self._use_collab:
            new.item_factors = self._extended_item_factors(data, rows, inter, new.item_counts)
            new.projections = project_cold(blocks, self.projection_weights, new.item_counts == 0, new.item_factors)
            new.user_factors = new._solve_users(inter)
        new._fit_side(data, inter)
        check_finite(self.kind, new._state())
        new.fitted_ = True
        return new

    def _extended_item_factors(
        self, data: TrainData, rows: np.ndarray, inter: sp.csr_matrix, counts: np.ndarray
    ) -> np.ndarray:
        """Item factors over `data`'s items: kept from the fit, solved against the user factors for items
        that were new or cold then and have interactions now, zero for items still without any (their
        content projection is added by the caller)."""
        kept = rows >= 0
        old_counts = np.zeros(len(rows), np.float32)
        old_counts[kept] = self.item_counts[rows[kept]]
        y = np.zeros((len(rows), self.factors), np.float32)
        y[kept] = self.item_factors[rows[kept]]
        solve = (counts > 0) & (~kept | (old_counts == 0))
        if solve.any():
            old_user = {u: r for r, u in enumerate(self.user_ids)}
            urows = np.asarray([old_user.get(u, -1) for u in data.user_ids], dtype=np.int64)
            known = urows >= 0
            cols = inter[known][:, np.flatnonzero(solve)].T.tocsr()
            y[solve] = als.solve_exact(self.user_factors[urows[known]], cols * self.alpha, self.regularization)
        y[counts == 0] = 0.0
        return y

    # -- user side --------------------------------------------------------------------------------
    def _attr_rows(self, users: np.ndarray, user_features: sp.csr_matrix | None) -> sp.csr_matrix | None:
        if self.attr_lift.shape[0] == 0:
            return None
        n_f = self.attr_lift.shape[0]
        if user_features is not None:
            feats = sp.csr_matrix(user_features, dtype=np.float32)
            if feats.shape != (len(users), n_f):
                raise ValueError(f"user_features must be {len(users)} x {n_f}, got {feats.shape}")
        else:
            feats = sp.csr_matrix((len(users), n_f), dtype=np.float32)
            known = users >= 0
            if known.any() and self.train_user_features is not None:
                feats = sp.vstack(
                    [self.train_user_features[u] if u >= 0 else sp.csr_matrix((1, n_f)) for u in users]
                ).tocsr()
        return self._normalise_attrs(feats)

    @staticmethod
    def _normalise_attrs(feats: sp.csr_matrix) -> sp.csr_matrix:
        nnz = np.maximum(np.diff(feats.indptr), 1).astype(np.float32)
        return sp.csr_matrix(sp.diags(1.0 / nnz) @ feats)

    def _collab_users(
        self, h: sp.csr_matrix, users: np.ndarray, attrs: sp.csr_matrix | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Collaborative user vectors and a mask of rows that came from attributes (empty history)."""
        x = np.zeros((h.shape[0], self.factors), np.float32)
        known = users >= 0
        if known.any():
            x[known] = self.user_factors[users[known]]
        new = ~known
        if new.any():
            x[new] = als.solve_exact(self.item_factors, h[new] * self.alpha, self.regularization).astype(
                np.float32
            )
        empty = np.diff(h.indptr) == 0
        from_attrs = np.zeros_like(empty)
        if attrs is not None and self.attr_factors.shape[0]:
            from_attrs = empty & (np.diff(attrs.indptr) > 0)
            if from_attrs.any():
                x[from_attrs] = (attrs[from_attrs] @ self.attr_factors).astype(np.float32)
        # Nothing to go on (a new user with no history and no attributes): the average training user, so
        # broadly liked items come first instead of every score being zero.
        blank = empty & ~from_attrs & ~known
        if blank.any() and self.user_factors.shape[0]:
            x[blank] = self.user_factors.mean(axis=0)
        return x, from_attrs

    def _profile_norm(self, h: sp.csr_matrix) -> np.ndarray:
        total = np.asarray(h.sum(axis=1), dtype=np.float64).ravel()
        return np.where(total > 0, np.maximum(total, 1e-12) ** -self.history_exponent, 0.0)

    def layout(self) -> list[tuple[str, int]]:
        """Name and width of each column block of `user_vectors` and `item_matrix`, in order: collaborative,
        each content modality, user attributes, bias. A block's inner product is that part of the score."""
        self._require_fitted()
        blocks: list[tuple[str, int]] = []
        if self._use_collab:
            blocks.append(("collaborative", self.factors))
        blocks += [(m, c.shape[1]) for m, c in self.content.items()]
        if self.attr_lift.shape[0]:
            blocks.append(("user", self.attr_lift.shape[0]))
        blocks.append(("bias", 1))
        return blocks

    def user_vectors(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """The user side of the score, one column block per entry of `layout`:
        [collaborative | w_m * profile per modality | w_user * attributes | 1]."""
        self._require_fitted()
        h = self.weights.transform(as_history(histories, self.n_items))
        u = self._check_users(users, h.shape[0])
        attrs = self._attr_rows(u, user_features)
        blocks: dict[str, np.ndarray] = {"bias": np.ones((h.shape[0], 1), np.float32)}
        if self._use_collab:
            blocks["collaborative"] = self._collab_users(h, u, attrs)[0]
        if self.content:
            scale = sp.diags(self._profile_norm(h))
            for m, c in self.content.items():
                blocks[m] = self._weight(m) * np.asarray(scale @ (h @ c), dtype=np.float32)
        if attrs is not None:
            blocks["user"] = self.user_weight * attrs.toarray()
        return np.hstack([blocks[name] for name, _ in self.layout()]).astype(np.float32)

    def item_matrix(self) -> np.ndarray:
        """The item side of the score, matching `user_vectors`: [factors | content per modality | attribute
        lift | bias]."""
        self._require_fitted()
        if self._items is None:
            blocks: dict[str, np.ndarray] = {"bias": self.item_bias[:, None], **self.content}
            if self._use_collab:
                blocks["collaborative"] = self.item_factors
            if self.attr_lift.shape[0]:
                blocks["user"] = self.attr_lift.T
            self._items = np.hstack([blocks[name] for name, _ in self.layout()]).astype(np.float32)
        return self._items

    def score(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Exact inner product of `user_vectors` and `item_matrix` (see `Recommender.score`)."""
        return self.user_vectors(histories, users, user_features) @ self.item_matrix().T

    def embeddings(self) -> tuple[UserSideFn, np.ndarray] | None:
        """`(self.user_vectors, self.item_matrix())`: the score is exactly their inner product."""
        self._require_fitted()
        return self.user_vectors, self.item_matrix()

    # -- explanations -----------------------------------------------------------------------------
    def explain(
        self, history: sp.csr_matrix, user: int, item: int, user_features: sp.csr_matrix | None = None
    ) -> ModelExplanation:
        """Parts (collaborative, text, visual, audio, user, bias) of the score and the history behind each."""
        self._require_fitted()
        i = self._check_item(item)
        h = self.weights.transform(as_history(history, self.n_items))
        if h.shape[0] != 1:
            raise ValueError("explain takes the history of exactly one user (1 x n_items)")
        users = self._check_users(np.array([user]), 1)
        cold = bool(self.item_counts[i] == 0)
        items = h.indices.astype(np.int64)
        weights = h.data.astype(np.float64)
        parts: dict[str, float] = {}
        per: dict[str, np.ndarray] = {}
        attrs = self._attr_rows(users, user_features)
        if self._use_collab:
            xs, from_attrs = self._collab_users(h, users, attrs)
            x = xs[0].astype(np.float64)
            a = als.user_system(self.item_factors, items, self.alpha * weights, self.regularization)
            y_hist = self.item_factors[items].astype(np.float64)
            conf = 1.0 + self.alpha * weights
            # x = A^-1 sum_j c_j y_j, so y_i . x = sum_j c_j (A^-1 y_i) . y_j (A is symmetric).
            if from_attrs[0]:
                # no history: the user's factors were regressed from attributes
                parts["user"] = float(x @ self.item_factors[i].astype(np.float64))
            elif cold and self.projections:
                for m, proj in self.projections.items():
                    yi = proj[i].astype(np.float64)
                    parts[m] = parts.get(m, 0.0) + float(x @ yi)
                    per[m] = per.get(m, np.zeros(len(items))) + conf * (y_hist @ np.linalg.solve(a, yi))
            else:
                yi = self.item_factors[i].astype(np.float64)
                parts["collaborative"] = float(x @ yi)
                per["collaborative"] = conf * (y_hist @ np.linalg.solve(a, yi))
        if self.content:
            norm = float(self._profile_norm(h)[0])
            for m, c in self.content.items():
                terms = (
                    self._weight(m) * norm * weights * (c[items].astype(np.float64) @ c[i].astype(np.float64))
                )
                parts[m] = parts.get(m, 0.0) + float(terms.sum())
                per[m] = per.get(m, np.zeros(len(items))) + terms
        if attrs is not None:
            parts["user"] = parts.get("user", 0.0) + float(
                self.user_weight * (attrs @ self.attr_lift[:, i].astype(np.float64))[0]
            )
        if self._use_side:
            parts["bias"] = float(self.item_bias[i])
        total = float(sum(parts.values()))
        history_total = np.zeros(len(items))
        for v in per.values():
            history_total += v
        return ModelExplanation(
            score=total,
            parts=parts,
            history=sorted_contributions(items, history_total),
            per_modality_history={m: sorted_contributions(items, v) for m, v in per.items()},
            cold_item=cold,
        )

    # -- persistence ------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "item_bias": self.item_bias,
            "attr_lift": self.attr_lift,
            "attr_factors": self.attr_factors,
            "item_counts": self.item_counts,
            **self.weights.state(),
        }
        for m, c in self.content.items():
            state[f"content/{m}"] = c
        for m, p in self.projections.items():
            state[f"projection/{m}"] = p
        for m, w in self.projection_weights.items():
            state[f"projection_weights/{m}"] = w
        for m, mean in self.content_means.items():
            state[f"content_mean/{m}"] = mean
        if self.train_user_features is not None:
            f = self.train_user_features
            state["user_features/data"] = f.data
            state["user_features/indices"] = f.indices
            state["user_features/indptr"] = f.indptr
            state["user_features/shape"] = np.array(f.shape, dtype=np.int64)
        return state

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self._reset()
        self.user_factors = state["user_factors"]
        self.item_factors = state["item_factors"]
        self.item_bias = state["item_bias"]
        self.attr_lift = state["attr_lift"]
        self.attr_factors = state["attr_factors"]
        self.item_counts = state["item_counts"]
        self.weights.set_state(dict(state))
        for m in MODALITIES:
            if f"content/{m}" in state:
                self.content[m] = state[f"content/{m}"]
            if f"projection/{m}" in state:
                self.projections[m] = state[f"projection/{m}"]
            if f"projection_weights/{m}" in state:
                self.projection_weights[m] = state[f"projection_weights/{m}"]
            if f"content_mean/{m}" in state:
                self.content_means[m] = state[f"content_mean/{m}"]
        if "user_features/data" in state:
            shape = tuple(int(s) for s in state["user_features/shape"])
            self.train_user_features = sp.csr_matrix(
                (state["user_features/data"], state["user_features/indices"], state["user_features/indptr"]),
                shape=shape,
            )


@register
class HybridModel(LinearHybrid):
    """avrec's default: ALS + content profiles + cold-item content projection + user attributes + bias."""

    kind = "hybrid"


@register
class MatrixFactorization(LinearHybrid):
    """Pure implicit ALS: score = x_u . y_i; cold items score zero."""

    kind = "mf"
    _use_content = False
    _use_side = False
    _project_cold = False  # pure MF has no content: items without interactions keep zero factors


@register
class ContentModel(LinearHybrid):
    """Content only: score = sum_m w_m <user profile_m, item content_m> (nearest neighbours by content)."""

    kind = "content"
    _use_collab = False
    _use_side = False

    def __init__(self, **params: Any) -> None:
        params.setdefault("factors", 0)
        params.setdefault("text_weight", 1.0)
        params.setdefault("visual_weight", 0.2)
        params.setdefault("audio_weight", 0.5)
        super().__init__(**params)
