"""The hybrid model (avrec's default): collaborative factors + per-modality content profiles + user
attributes + popularity bias, all one exact inner product.

score(u, i) = x_u . y_i                                   collaborative (implicit ALS)
            + sum_m w_m <p_u^m, c_i^m>                     text / visual / audio content profiles
            + w_user <a_u, L_i>                            user attributes
            + b_i                                          popularity bias
            + w_ease s_e (w_u B)_i                         EASE, on the catalog's most popular items
            + w_taste s_t sum_m (t_u C_m) . V_i^m          content-to-taste map, per modality
            + w_prior s_p pi_i                             popularity prior (observed, or from content)
            + w_n |h_u|^-e sum_j h_uj N_ij                 nearest warm items by poster (cold items)
            + w_k s_k t_u . R_i                            kernel ridge over warm items' text (cold items)

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

* The direct blocks (the `hybrid` model only; `ease_weight`, `taste_weight`, `prior_weight`,
  `neighbour_weight`, `kernel_weight`):
  - B: EASE's item-item weights (`avrec.model.ease`) on the interaction magnitudes w_u (BM25 is not applied;
    heavy-tailed counts count as 1 each, see `_direct_weights`),
    penalty `ease_regularization` x the mean diagonal of W'W. A sum over history items; zero for cold items.
    B spans the `ease_head` items with the most events (`ease_items`, at most `EASE_IN_HYBRID_MAX_ITEMS`, and
    fewer on large catalogs: see `ease_head_size`); history items and candidates outside it get no EASE
    term (ALS and the content blocks cover them). Memory: B is 4 x head^2 bytes (64 MB at 4,096 items), the
    block's item side (an identity on the head) 4 x n_items x head bytes, at most `EASE_ITEM_SIDE_CELLS` x 4.
  - t_u = w_u (B + I): the user's history and its EASE completion; C_m the normalised content of modality m
    and V = C (C_w'C_w + `taste_reg` I)^-1 over the modalities side by side (`visual_scale`, `audio_scale`
    weigh them against text): a per-user ridge regression from content to t_u, so a cold item is scored by
    how well its content fits what the user (and users like them) liked. Exact per history item. A visual
    or audio block wider than `content_rank` enters C (and the prior's and the cold projection's ridges)
    as its coordinates on its top principal directions over the warm items.
  - pi_i = log(1 + n_i) for an item with events; for one without, a ridge from its content to log(1 + n)
    fitted on the items with events (`avrec.model.content.ContentRidge.popularity`).
  - s_e, s_t, s_p: each block's scale, the spread (std) of the collaborative (ALS) part over the block's own
    on a sample of training users, fixed at fit time; so the weights are shares of a reference that does not
    depend on any blend weight, and mean the same on any data.
  - N_ij (`neighbour_weight`, `neighbour_k`): for a cold item i, the cosine of its normalised poster
    (`NEIGHBOUR_MODALITY`) vector with that of each of its `neighbour_k` nearest warm items j in the EASE
    head (positive only), zero elsewhere: a sequel shares its film's poster style, so a user who liked the
    film is told about the sequel. Unscaled, like the content profiles (same units: a similarity per history
    item over |h_u|^e).
  - R_i (`kernel_weight`, `kernel_sharpness`, `kernel_reg`): for a cold item i, (K + reg I)^-1 k_i over the
    warm items (`kernel_items`: every item with events, or the `KERNEL_MAX_ITEMS` with the most), K the
    kernel exp(sharpness (cos - 1)) between their `KERNEL_MODALITY` vectors and k_i that between i and each
    of them (`avrec.model.content.kernel_ridge_map`); t_u as in the taste map. Per user, a kernel ridge
    regression of the taste row on the warm items' text, evaluated at i: where the taste map fits a linear
    function of the content, this one fits a local one, so a cold item is scored by the history items whose
    text is near its own, and near-duplicates in the history (sequels, remakes) share one weight instead of
    counting twice. Scale s_k: the ALS spread over the block's own over the cold items. Its columns are the
    cold items (user side t_u R, item side an identity) or, where there are more cold than warm items, the
    warm items (user side t_u, item side R): whichever is narrower.
  All five are linear in the history (or constant), so the score stays one exact inner product and
  `explain` stays exact: EASE terms are collaborative, taste, neighbour and kernel terms belong to their modality,
  the prior's observed part is bias and its predicted part belongs to the modality it was predicted from.

`MatrixFactorization` (collaborative only) and `ContentModel` (content profiles only) are the same engine with
blocks switched off.

Why one long module: the score is one inner product, and its blocks are fitted, folded in (`update`), laid out
(`layout`) and explained together, so splitting the class would scatter one equation. What stands apart lives
apart: interaction weighting in `avrec.model.weighting`, content normalisation and the cold-item maps in
`avrec.model.content`, the ALS kernels and their back-ends in `avrec.model.als`, weight tuning in
`avrec.model.tuning`.
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
    ContentRidge,
    concatenated,
    extend_modalities,
    kernel_ridge_map,
    nearest,
    normalised_modalities,
    principal_basis,
    project_cold,
)
from avrec.model.data import TrainData
from avrec.model.ease import ease_weights, mean_gram_diagonal
from avrec.model.weighting import Confidence, binary

#: The hybrid's EASE block spans at most this many items, those with the most events (B: 64 MB at 4,096).
EASE_IN_HYBRID_MAX_ITEMS = 4096
#: ... and at most this many cells n_items x head in its item side (an identity on the head, 4 bytes a cell:
#: 64 MB), so the item matrix that `recommend` reads stays as wide as at 4,096 items on any catalog.
EASE_ITEM_SIDE_CELLS = 4096 * 4096
#: ... and no more items than hold this share of the events: EASE's penalty leaves the rarest items' weights
#: near zero, and the inverse costs the cube of the head (on validation splits of MovieLens 100K the 98% head,
#: 70% of the items with events, scored as well as all of them at a third of the time).
EASE_EVENT_SHARE = 0.98
#: The hybrid's blend (the direct blocks, and the text profile and bias weights), chosen on validation splits
#: carved from training data (see benchmarks/choose_blend.py); `LinearHybrid`'s own defaults leave the direct
#: blocks off (mf, content).
HYBRID_DEFAULTS: dict[str, float] = {
    # re-chosen with the short + long text vector (benchmarks/choose_blend.py): NDCG@10 over the anchors'
    # peers tuned on each validation split, 4 warm and 16 cold splits with title + genres + plot, 10 cold
    # with title + genres; these raised the mean and the worst split of all three (warm 1.056x -> 1.062x,
    # cold 1.059x -> 1.066x, title + genres 1.032x -> 1.042x; was text 0.1, bias 0, taste 0.25, prior 0.4).
    # Lower ridge penalties (taste_reg 1-3, projection_reg 3) scored better with the plot (1.09x) but not
    # with title + genres (1.04x, lower quartile 0.98-0.99 against 1.01)
    "ease_weight": 0.5,
    "taste_weight": 0.4,
    "prior_weight": 0.6,
    "text_weight": 0.075,
    "bias_weight": 0.05,
    # each cold item's nearest warm poster (k=1 beat 3), chosen by the lower quartile of text + posters / text
    # over the 16 validation splits of benchmarks/poster_gain.py (--neighbour-weights), with title + genres +
    # plot and with title + genres only: 0.3 against 0.2, quartile 1.070 / 1.038 against 1.065 / 1.035, mean
    # 1.085 / 1.057 against 1.081 / 1.054 (a similarity floor on the neighbours did not carry to both)
    "neighbour_weight": 0.3,
    "neighbour_k": 1,
    # kernel ridge over the warm items' text for cold items (kernel_sharpness 4, kernel_reg 0.1, the class
    # defaults), chosen on the splits of benchmarks/choose_blend.py: cold 1.066x -> 1.079x the best peer
    # (worst split 0.966 -> 0.973), title + genres 1.042x -> 1.049x (0.981 -> 0.986); warm unchanged.
    # Sharpness 3-6, reg 0.03-0.3 and weights 0.1-0.2 all scored within 0.3% of it; sharpness 10-20 or
    # reg 1-10 lost the worst splits, and the kernel over the EASE head only (half the warm items) lost
    # half the gain
    "kernel_weight": 0.15,
    "visual_weight": 0.05,
    "visual_scale": 0.35,
    "audio_scale": 0.35,  # no audio data to validate on: as much as posters
    # posters' 1280 dimensions enter the content maps as their top 64 principal directions: on the
    # validation splits of benchmarks/choose_blend.py, the same NDCG@10 (warm 1.000x, cold 1.007x) in
    # half the fitting time
    "content_rank": 64,
}
#: Modalities that enter the content maps with every dimension whatever `content_rank` says: on validation
#: splits of MovieLens 100K, SBERT text (384-d) cut to its top 256 principal directions lost 0.8% cold
#: NDCG@10 and to 128, 2.3%, while posters (1280-d) cut to 64 or 32 lost nothing.
FULL_RANK_MODALITIES = ("text",)
#: The modality whose nearest neighbours score cold items (posters: a sequel shares its film's poster style).
NEIGHBOUR_MODALITY = "visual"
NEIGHBOUR_BLOCK = f"neighbour/{NEIGHBOUR_MODALITY}"
#: The modality the kernel block compares cold items with warm ones by (SBERT text: on validation splits of
#: MovieLens 100K it carries nearly all of the content signal for cold items).
KERNEL_MODALITY = "text"
KERNEL_BLOCK = f"kernel/{KERNEL_MODALITY}"
#: The kernel block spans at most this many warm items (those with the most events), and no more than fit
#: `EASE_ITEM_SIDE_CELLS` in its item side: its fit is one single-precision Cholesky solve of that size (0.05 s
#: single-threaded at the 1,350 warm items of MovieLens 100K, about 1.1 s at 4,096), and it keeps each cold
#: item's weights over them (n_cold x that many floats, and as much while they are fitted).
KERNEL_MAX_ITEMS = 4096
#: Training users sampled to measure each block's spread (`blend_scales`): on MovieLens 100K, 128 users
#: give the scales of all 943 within 2-3% (and the same validation NDCG@10) at half the cost of 256.
SCALE_SAMPLE = 128
#: The direct blocks that are scaled to the ALS spread, in the order of `blend_scales`.
BLEND_SCALES = ("ease", "taste", "prior", "kernel")

__all__ = [
    "EASE_IN_HYBRID_MAX_ITEMS",
    "EASE_ITEM_SIDE_CELLS",
    "KERNEL_MAX_ITEMS",
    "MODALITIES",
    "ContentModel",
    "HybridModel",
    "LinearHybrid",
    "MatrixFactorization",
    "auto_regularization",
]


def padded_scales(scales: np.ndarray) -> np.ndarray:
    """`blend_scales` with one entry per `BLEND_SCALES` (a model saved before a block had fewer: zero)."""
    out = np.zeros(len(BLEND_SCALES), np.float32)
    given = np.asarray(scales, np.float32).ravel()[: len(out)]
    out[: len(given)] = given
    return out


def dense(x: np.ndarray | sp.spmatrix) -> np.ndarray:
    """`x` as a float64 array (a sparse matrix densified)."""
    if isinstance(x, sp.spmatrix | sp.sparray):
        return np.asarray(x.toarray(), np.float64)
    return np.asarray(x, np.float64)


def ease_head_size(n_items: int) -> int:
    """How many of the most popular items the hybrid's EASE block spans in a catalog of `n_items`."""
    return int(min(n_items, EASE_IN_HYBRID_MAX_ITEMS, EASE_ITEM_SIDE_CELLS // max(n_items, 1)))


def ease_head(counts: np.ndarray) -> np.ndarray:
    """The items (ascending rows) the hybrid's EASE block spans: the most events first (ties: lower row),
    as many as hold `EASE_EVENT_SHARE` of the events, at most `ease_head_size`. Items without events are
    never in it (their rows and columns of B would be zero)."""
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    held = np.cumsum(counts[order], dtype=np.float64)
    enough = int(np.searchsorted(held, EASE_EVENT_SHARE * held[-1]) + 1) if len(held) else 0
    return np.sort(order[: min(enough, ease_head_size(len(counts)))]).astype(np.int64)


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
    _use_direct = False  # EASE, the content-to-taste map and the content-predicted popularity prior

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
        ease_weight: float = 0.0,
        taste_weight: float = 0.0,
        prior_weight: float = 0.0,
        neighbour_weight: float = 0.0,
        neighbour_k: int = 1,
        kernel_weight: float = 0.0,
        kernel_sharpness: float = 4.0,
        kernel_reg: float = 0.1,
        ease_regularization: float = 8.0,
        taste_reg: float = 10.0,
        content_rank: int = 0,
        visual_scale: float = 1.0,
        audio_scale: float = 1.0,
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
            ("ease_regularization", ease_regularization),
            ("taste_reg", taste_reg),
            ("kernel_sharpness", kernel_sharpness),
            ("visual_scale", visual_scale),
            ("audio_scale", audio_scale),
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
            ("ease_weight", ease_weight),
            ("taste_weight", taste_weight),
            ("prior_weight", prior_weight),
            ("neighbour_weight", neighbour_weight),
            ("kernel_weight", kernel_weight),
        ):
            if not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if factors < 0 or (self._use_collab and factors == 0):
            raise ValueError(f"factors must be a positive integer, got {factors}")
        if weight_scaling not in ("auto", "log", "linear"):
            raise ValueError(f"weight_scaling must be 'auto', 'log' or 'linear', got {weight_scaling!r}")
        if confidence not in ("bm25", "plain"):
            raise ValueError(f"confidence must be 'bm25' or 'plain', got {confidence!r}")
        if content_rank < 0:
            raise ValueError(f"content_rank must be an integer >= 0 (0: every dimension), got {content_rank}")
        if not np.isfinite(kernel_reg) or kernel_reg <= 0:
            raise ValueError(f"kernel_reg must be a finite number > 0, got {kernel_reg}")
        if neighbour_k < 1:
            raise ValueError(f"neighbour_k must be a positive integer, got {neighbour_k}")
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
        self.ease_weight = float(ease_weight)
        self.taste_weight = float(taste_weight)
        self.prior_weight = float(prior_weight)
        self.neighbour_weight = float(neighbour_weight)
        self.neighbour_k = int(neighbour_k)
        self.kernel_weight = float(kernel_weight)
        self.kernel_sharpness = float(kernel_sharpness)
        self.kernel_reg = float(kernel_reg)
        self.ease_regularization = float(ease_regularization)
        self.taste_reg = float(taste_reg)
        self.content_rank = int(content_rank)
        self.visual_scale = float(visual_scale)
        self.audio_scale = float(audio_scale)
        self.weight_scaling_param = weight_scaling
        self.confidence = confidence
        self.tune_on_fit = bool(tune)  # `tune` itself is the method
        self.random_state = random_state
        if als_backend is not None and not isinstance(als_backend, als.ALSBackend):
            raise ValueError("als_backend must have fit_als and solve_users (see avrec.model.als.ALSBackend)")
        self.als_backend: als.ALSBackend = als_backend or als.default_backend()
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
        # Direct blocks (`_fit_direct`): EASE weights, per-modality content and taste-map item side, the
        # popularity prior (its observed/intercept part and its per-modality predicted parts), and each
        # block's scale (the std of the ALS part of the score over that of the block, on training users).
        self.ease = np.zeros((0, 0), np.float32)
        self.ease_items = np.zeros(0, np.int64)  # the items B spans (model rows, ascending)
        self.direct_content: dict[str, np.ndarray] = {}
        self.taste: dict[str, np.ndarray] = {}
        self.prior_base = np.zeros(0, np.float32)
        self.prior_parts: dict[str, np.ndarray] = {}
        self.blend_scales = np.zeros(len(BLEND_SCALES), np.float32)
        # Each cold item's nearest warm items in NEIGHBOUR_MODALITY (model rows, -1: none) and their
        # similarities; `neighbour_items` are the distinct rows among them (the block's columns).
        self.neighbours = np.zeros((0, 0), np.int64)
        self.neighbour_sims = np.zeros((0, 0), np.float32)
        self.neighbour_items = np.zeros(0, np.int64)
        # The kernel block: the warm items it spans (its columns), the cold items it scores, and each cold
        # item's row of (K + reg I)^-1 k_i (`avrec.model.content.kernel_ridge_map`).
        self.kernel_items = np.zeros(0, np.int64)
        self.kernel_rows = np.zeros(0, np.int64)
        self.kernel_map = np.zeros((0, 0), np.float32)
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
            "ease_weight": self.ease_weight,
            "taste_weight": self.taste_weight,
            "prior_weight": self.prior_weight,
            "neighbour_weight": self.neighbour_weight,
            "neighbour_k": self.neighbour_k,
            "kernel_weight": self.kernel_weight,
            "kernel_sharpness": self.kernel_sharpness,
            "kernel_reg": self.kernel_reg,
            "ease_regularization": self.ease_regularization,
            "taste_reg": self.taste_reg,
            "content_rank": self.content_rank,
            "visual_scale": self.visual_scale,
            "audio_scale": self.audio_scale,
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
        blocks = {m: vectors for m, (vectors, _) in content.items()}
        needs_maps = self._use_direct or (self._use_collab and self._project_cold)
        maps, bases = self._content_maps(blocks) if needs_maps else ({}, {})
        ridges: dict[float, ContentRidge] = {}  # one factorisation per penalty, shared by the content ridges
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
                self._fit_projection(blocks, maps, bases, ridges)
            # Each stored user vector is the exact least-squares fold-in of the user's training history
            # against the final item factors (projected cold items included, as they enter Y'Y): what
            # `explain` decomposes and what folding the same history in again reproduces.
            self.user_factors = self._solve_users(inter)
        self._fit_side(data, inter)
        if self._use_direct:
            self._fit_direct(blocks, maps, raw, ridges=ridges)

    def _solve_users(self, inter: sp.csr_matrix) -> np.ndarray:
        return self.als_backend.solve_users(self.item_factors, inter * self.alpha, self.regularization).astype(
            np.float32
        )

    def _ridge(self, blocks: dict[str, np.ndarray], reg: float, cache: dict[float, ContentRidge]) -> ContentRidge:
        """Ridge regressions from the modalities side by side, each scaled by how much it counts against
        text (`_modality_scales`), fitted on the warm items; cached per penalty."""
        if reg not in cache:
            cache[reg] = ContentRidge(concatenated(blocks, self._modality_scales()), self.item_counts > 0, reg)
        return cache[reg]

    def _content_maps(self, blocks: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Each modality as the content maps (taste, prior, cold projection) see it, and the bases used: a
        visual or audio block wider than `content_rank` enters through its coordinates on about its top
        `content_rank` principal directions over the warm items. Those modalities count `visual_scale` /
        `audio_scale` against text, so the ridges' penalty leaves their other directions little weight
        anyway (a poster vector has a few dozen directions whose variance over a thousand warm items
        outweighs it), while the ridges' Gram matrix and solves cost the square of the width."""
        warm = self.item_counts > 0
        maps: dict[str, np.ndarray] = {}
        bases: dict[str, np.ndarray] = {}
        rng = np.random.default_rng(self.random_state)
        for m, b in blocks.items():
            if m not in FULL_RANK_MODALITIES and 0 < self.content_rank < b.shape[1] and warm.any():
                bases[m] = principal_basis(b[warm], self.content_rank, rng)
                maps[m] = b @ bases[m]
            else:
                maps[m] = b
        return maps, bases

    def _fit_projection(
        self,
        blocks: dict[str, np.ndarray],
        maps: dict[str, np.ndarray],
        bases: dict[str, np.ndarray],
        ridges: dict[float, ContentRidge],
    ) -> None:
        """Ridge-project content onto item factors (fit on warm items) for items with no interactions."""
        warm = self.item_counts > 0
        if not blocks or not warm.any():
            return
        stacked = self._ridge(maps, self.projection_reg, ridges).fit(self.item_factors[warm].astype(np.float64))
        # the ridge saw each modality times its scale (and on its basis): folded into its weights, the
        # projection applies to the plain normalised vectors
        scales = self._modality_scales()
        weights: dict[str, np.ndarray] = {}
        start = 0
        for m, b in maps.items():
            stop = start + b.shape[1]
            weights[m] = float(scales.get(m, 1.0)) * stacked[start:stop]
            if m in bases:
                weights[m] = bases[m] @ weights[m]
            start = stop
        self.projection_weights = {m: w.astype(np.float32) for m, w in weights.items()}
        self.projections = project_cold(blocks, weights, ~warm, self.item_factors)

    def _modality_scales(self) -> dict[str, float]:
        """How much each modality counts against text in the content maps (taste, prior, cold projection)."""
        return {"text": 1.0, "visual": self.visual_scale, "audio": self.audio_scale}

    def _fit_direct(
        self,
        blocks: dict[str, np.ndarray],
        maps: dict[str, np.ndarray],
        raw: sp.csr_matrix,
        scales: np.ndarray | None = None,
        ridges: dict[float, ContentRidge] | None = None,
    ) -> None:
        """The direct blocks: EASE on the interaction magnitudes (catalogs up to `EASE_IN_HYBRID_MAX_ITEMS`),
        the ridge map from content to taste, and the popularity prior (observed for items with events,
        predicted from content for the others). `scales` (from an earlier fit) are kept; otherwise each block
        is scaled to the spread of the ALS part of the score on a sample of training users, so the blend
        weights mean the same on any dataset."""
        magnitude = self._direct_weights(raw)
        n_items = raw.shape[1]
        active = np.flatnonzero(np.diff(raw.indptr) > 0)
        sample = active[:: max(1, len(active) // SCALE_SAMPLE)][:SCALE_SAMPLE]
        reference = None
        if scales is None and sample.size:
            reference = self.user_factors[sample] @ self.item_factors.T
        events = np.asarray((magnitude != 0).sum(axis=0), dtype=np.float64).ravel()
        if (self.ease_weight or self.taste_weight or self.kernel_weight) and events.any():
            self.ease_items = ease_head(events)
            penalty = self.ease_regularization * mean_gram_diagonal(magnitude)
            self.ease = ease_weights(sp.csr_matrix(magnitude[:, self.ease_items]), penalty)
        warm = self.item_counts > 0
        modality_scales = self._modality_scales()
        if blocks and warm.any() and (self.taste_weight or self.prior_weight):
            ridge = self._ridge(maps, self.taste_reg, {} if ridges is None else ridges)
            start = 0
            taste = ridge.taste_map() if self.taste_weight else None
            popularity, intercept = ridge.popularity(self.item_counts)
            for m, b in maps.items():
                stop = start + b.shape[1]
                scale = float(modality_scales.get(m, 1.0))
                if taste is not None:
                    self.direct_content[m] = np.asarray(b, np.float32)
                    self.taste[m] = (scale * taste[:, start:stop]).astype(np.float32)
                if self.prior_weight:
                    part = np.zeros(n_items, np.float32)
                    part[~warm] = scale * (np.asarray(b[~warm], np.float64) @ popularity[start:stop])
                    self.prior_parts[m] = part
                start = stop
            self.prior_base = np.where(warm, np.log1p(self.item_counts), intercept).astype(np.float32)
        if self.prior_weight and not self.prior_base.size:
            self.prior_base = np.log1p(self.item_counts).astype(np.float32)
        if self.neighbour_weight and NEIGHBOUR_MODALITY in blocks and events.any():
            self._fit_neighbours(blocks[NEIGHBOUR_MODALITY], events)
        if self.kernel_weight and KERNEL_MODALITY in blocks and warm.any() and not warm.all():
            self._fit_kernel(blocks[KERNEL_MODALITY], events)
        if scales is None:
            scales = np.zeros(len(BLEND_SCALES), np.float32)
            if reference is not None:
                sample_weights = self._direct_weights(raw[sample])
                ease, taste_scores = self._direct_raw(sample_weights)
                kernel = self._kernel_scores(self._taste_rows(sample_weights)) if self.kernel_items.size else None
                spread = float(reference.std())
                for k, block in enumerate((ease, taste_scores, self._prior(), kernel)):
                    std = float(block.std()) if block is not None and block.size else 0.0
                    scales[k] = spread / std if std > 1e-12 else 0.0
        self.blend_scales = padded_scales(scales)

    def _fit_kernel(self, vectors: np.ndarray, events: np.ndarray) -> None:
        """The kernel block: each cold item's kernel ridge weights over the warm items (at most the width
        `KERNEL_MAX_ITEMS` and `EASE_ITEM_SIDE_CELLS` allow, those with the most events) by their normalised
        KERNEL_MODALITY vectors."""
        n_items = len(self.item_counts)
        warm = np.flatnonzero(self.item_counts > 0)
        width = min(KERNEL_MAX_ITEMS, max(1, EASE_ITEM_SIDE_CELLS // max(n_items, 1)))
        if len(warm) > width:
            warm = np.sort(warm[np.argsort(-events[warm], kind="stable")[:width]])
        self.kernel_items = warm
        self.kernel_rows = np.flatnonzero(self.item_counts == 0)
        self.kernel_map = kernel_ridge_map(vectors, self.kernel_rows, warm, self.kernel_sharpness, self.kernel_reg)

    def _kernel_scores(self, taste_rows: np.ndarray | sp.csr_matrix) -> np.ndarray:
        """Unweighted kernel block over the cold items it scores, from the users' taste rows (to measure its
        spread)."""
        return dense(taste_rows[:, self.kernel_items]) @ self.kernel_map.T.astype(np.float64)

    def _kernel_by_item(self) -> bool:
        """Whether the kernel block's columns are the cold items it scores (user side: the kernel ridge
        scores, item side: an identity) rather than the warm items it spans (user side: the taste row, item
        side: the kernel ridge weights): the narrower of the two, the same inner product."""
        return len(self.kernel_rows) <= len(self.kernel_items)

    def _kernel_users(self, taste_rows: np.ndarray | sp.csr_matrix) -> np.ndarray:
        """User side of the kernel block (before its weight and scale)."""
        if self._kernel_by_item():
            return self._kernel_scores(taste_rows)
        return dense(taste_rows[:, self.kernel_items])

    def _kernel_item_side(self) -> np.ndarray:
        """Item side of the kernel block: an identity on the cold items, or each cold item's kernel ridge
        weights (zero for warm items)."""
        if self._kernel_by_item():
            side = np.zeros((len(self.item_counts), len(self.kernel_rows)), np.float32)
            side[self.kernel_rows, np.arange(len(self.kernel_rows))] = 1.0
        else:
            side = np.zeros((len(self.item_counts), len(self.kernel_items)), np.float32)
            side[self.kernel_rows] = self.kernel_map
        return side

    def _fit_neighbours(self, vectors: np.ndarray, events: np.ndarray) -> None:
        """Each cold item's `neighbour_k` nearest warm items by their normalised NEIGHBOUR_MODALITY vectors,
        among the items of the EASE head (the most events: what the block's width and memory are bounded
        by, as EASE's are), with positive similarity only."""
        n_items = len(self.item_counts)
        candidates = ease_head(events)
        cold = np.flatnonzero(self.item_counts == 0)
        at, sims = nearest(vectors, cold, candidates, self.neighbour_k)
        self.neighbours = np.full((n_items, at.shape[1]), -1, np.int64)
        self.neighbour_sims = np.zeros((n_items, at.shape[1]), np.float32)
        self.neighbours[cold] = np.where(at >= 0, candidates[np.maximum(at, 0)], -1)
        self.neighbour_sims[cold] = sims
        self.neighbour_items = np.unique(self.neighbours[self.neighbours >= 0])

    def _neighbour_users(self, magnitude: sp.csr_matrix) -> np.ndarray:
        """User side of the neighbour block: w_n |h_u|^-e h_u over the block's columns."""
        norm = self._profile_norm(magnitude)[:, None]
        return (self.neighbour_weight * norm * magnitude[:, self.neighbour_items].toarray()).astype(np.float32)

    def _neighbour_item_side(self) -> np.ndarray:
        """Item side of the neighbour block: N[i, j] = similarity of j among i's nearest warm items."""
        side = np.zeros((self.n_items, len(self.neighbour_items)), np.float32)
        rows, slots = np.nonzero(self.neighbours >= 0)
        cols = np.searchsorted(self.neighbour_items, self.neighbours[rows, slots])
        np.add.at(side, (rows, cols), self.neighbour_sims[rows, slots])
        return side

    def _direct_weights(self, h: sp.csr_matrix) -> sp.csr_matrix:
        """The history as EASE and the taste map see it: the weights' magnitudes (events, ratings), but every
        event as 1 when the weights are heavy-tailed counts (log scaling): on validation splits of MovieLens
        with play-count-like weights, EASE on binary events scored 0.22 NDCG@10 against 0.17 on log counts,
        while on ratings the magnitudes won (0.25 against 0.23)."""
        if self.weights.scaling == "log":
            return binary(h)
        return self.weights.magnitude(h)

    def _prior(self) -> np.ndarray:
        out = self.prior_base.astype(np.float64)
        for part in self.prior_parts.values():
            out = out + part
        return out

    def _ease_scores(self, magnitude: sp.csr_matrix) -> np.ndarray:
        """w_u B over the EASE head (users x head)."""
        return np.asarray(magnitude[:, self.ease_items] @ self.ease)

    def _ease_positions(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each item's row in B and whether the EASE head holds it."""
        head = self.ease_items
        at = np.minimum(np.searchsorted(head, items), max(len(head) - 1, 0))
        return at, (head[at] == items) if len(head) else np.zeros(len(items), bool)

    def _taste_rows(self, magnitude: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """Each user's taste over the items: their history plus its EASE completion (when fitted)."""
        if self.ease.size:
            rows = magnitude.toarray()
            rows[:, self.ease_items] += self._ease_scores(magnitude)
            return rows
        return magnitude

    def _direct_raw(self, magnitude: sp.csr_matrix) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Unweighted EASE and taste scores for some histories (to measure their spread; EASE's over the
        items it spans)."""
        ease = self._ease_scores(magnitude) if self.ease.size else None
        taste = None
        if self.taste:
            t = self._taste_rows(magnitude)
            taste = sum(np.asarray(t @ self.direct_content[m]) @ v.T for m, v in self.taste.items())
        return ease, taste

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
        seen = sp.csr_matrix((inter > 0).astype(np.float32))
        active = np.diff(seen.indptr) > 0
        fa = feats[active]
        n_f = np.asarray(fa.sum(axis=0), dtype=np.float64).ravel()
        p_item = np.asarray(seen[active].mean(axis=0), dtype=np.float64).ravel()
        counts = np.asarray((fa.T @ seen[active]).todense(), dtype=np.float64)
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
        if self._use_direct and np.any(self.blend_scales):  # a model saved before the direct blocks has none
            new._fit_direct(blocks, new._content_maps(blocks)[0], raw, scales=self.blend_scales)
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
        each content modality, user attributes, bias, then the direct blocks (ease, taste/<modality>,
        prior). A block's inner product is that part of the score."""
        self._require_fitted()
        return self._layout()

    def _layout(self) -> list[tuple[str, int]]:
        blocks: list[tuple[str, int]] = []
        if self._use_collab:
            blocks.append(("collaborative", self.factors))
        blocks += [(m, c.shape[1]) for m, c in self.content.items()]
        if self.attr_lift.shape[0]:
            blocks.append(("user", self.attr_lift.shape[0]))
        blocks.append(("bias", 1))
        if self.ease.size and self.ease_weight:
            blocks.append(("ease", self.ease.shape[0]))
        if self.taste_weight:
            blocks += [(f"taste/{m}", v.shape[1]) for m, v in self.taste.items()]
        if self.prior_base.size and self.prior_weight:
            blocks.append(("prior", 1))
        if self.neighbour_weight and self.neighbour_items.size:
            blocks.append((NEIGHBOUR_BLOCK, len(self.neighbour_items)))
        if self.kernel_weight and self.kernel_items.size:
            blocks.append((KERNEL_BLOCK, min(len(self.kernel_rows), len(self.kernel_items))))
        return blocks

    def user_vectors(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """The user side of the score, one column block per entry of `layout`: [collaborative | w_m * profile
        per modality | w_user * attributes | 1 | EASE scores | taste per modality | 1]."""
        self._require_fitted()
        return self._user_vectors(histories, users, user_features)

    def _user_vectors(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None
    ) -> np.ndarray:
        history = as_history(histories, self.n_items)
        h = self.weights.transform(history)
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
        layout = self._layout()
        direct = ("ease", "prior", NEIGHBOUR_BLOCK, KERNEL_BLOCK)
        if any(name in direct or name.startswith("taste/") for name, _ in layout):
            blocks.update(self._direct_users(self._direct_weights(history)))
        return np.hstack([blocks[name] for name, _ in layout]).astype(np.float32)

    def _direct_users(self, magnitude: sp.csr_matrix) -> dict[str, np.ndarray]:
        """User side of the direct blocks, each times its blend weight and scale."""
        ease_scale, taste_scale, prior_scale, kernel_scale = (float(x) for x in self.blend_scales)
        out: dict[str, np.ndarray] = {"prior": np.full((magnitude.shape[0], 1), self.prior_weight * prior_scale)}
        if self.ease.size:
            out["ease"] = self.ease_weight * ease_scale * self._ease_scores(magnitude)
        t = self._taste_rows(magnitude) if self.taste or self.kernel_items.size else None
        if self.taste:
            for m, c in self.direct_content.items():
                out[f"taste/{m}"] = self.taste_weight * taste_scale * np.asarray(t @ c)
        if self.neighbour_items.size:
            out[NEIGHBOUR_BLOCK] = self._neighbour_users(magnitude)
        if t is not None and self.kernel_items.size:
            out[KERNEL_BLOCK] = self.kernel_weight * kernel_scale * self._kernel_users(t)
        return out

    def item_matrix(self) -> np.ndarray:
        """The item side of the score, matching `user_vectors`: [factors | content per modality | attribute
        lift | bias | identity (EASE) | taste map per modality | prior]."""
        self._require_fitted()
        return self._item_matrix()

    def _item_matrix(self) -> np.ndarray:
        if self._items is None:
            blocks: dict[str, np.ndarray] = {"bias": self.item_bias[:, None], **self.content}
            if self._use_collab:
                blocks["collaborative"] = self.item_factors
            if self.attr_lift.shape[0]:
                blocks["user"] = self.attr_lift.T
            layout = self._layout()
            names = {name for name, _ in layout}
            if "ease" in names:
                head = np.zeros((self.n_items, len(self.ease_items)), np.float32)
                head[self.ease_items, np.arange(len(self.ease_items))] = 1.0
                blocks["ease"] = head
            blocks.update({f"taste/{m}": v for m, v in self.taste.items()})
            if "prior" in names:
                blocks["prior"] = self._prior()[:, None]
            if NEIGHBOUR_BLOCK in names:
                blocks[NEIGHBOUR_BLOCK] = self._neighbour_item_side()
            if KERNEL_BLOCK in names:
                blocks[KERNEL_BLOCK] = self._kernel_item_side()
            self._items = np.hstack([blocks[name] for name, _ in layout]).astype(np.float32)
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
        history = as_history(history, self.n_items)
        h = self.weights.transform(history)
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
        direct = self._direct_weights(history)
        self._explain_direct(
            direct[:, items].toarray().ravel(), float(self._profile_norm(direct)[0]), items, i, parts, per
        )
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

    def _explain_direct(
        self,
        magnitude: np.ndarray,
        norm: float,
        items: np.ndarray,
        i: int,
        parts: dict[str, float],
        per: dict[str, np.ndarray],
    ) -> None:
        """Add the direct blocks to `parts` and `per` (in place). EASE: history item j adds w_j B[j, i]. Taste:
        j adds w_j (q_j + B[j] . q), q_k = c_k . V_i (the taste row is the history plus its EASE
        completion). Neighbours: j adds w_n |h_u|^-e w_j N[i, j] (to NEIGHBOUR_MODALITY: j is one of the
        items whose poster is nearest i's). Kernel: j adds w_j (r_j + B[j] . r), r the cold item's kernel ridge
        weights over the warm items (to KERNEL_MODALITY). The prior has no history terms: its observed part is
        bias, its predicted part goes to the modality it was predicted from."""
        names = {name for name, _ in self._layout()}
        ease_scale, taste_scale, prior_scale, kernel_scale = (float(x) for x in self.blend_scales)
        weights = magnitude.astype(np.float64)
        # each history item's row of B (zero for items outside the EASE head)
        at, in_head = self._ease_positions(items)
        b_rows = np.zeros((len(items), len(self.ease_items)))
        b_rows[in_head] = self.ease[at[in_head]]
        target, target_in_head = self._ease_positions(np.array([i]))
        if "ease" in names and target_in_head[0]:
            terms = self.ease_weight * ease_scale * weights * b_rows[:, target[0]]
            parts["collaborative"] = parts.get("collaborative", 0.0) + float(terms.sum())
            per["collaborative"] = per.get("collaborative", np.zeros(len(items))) + terms
        for m, v in self.taste.items():
            if f"taste/{m}" not in names:
                continue
            q = self.direct_content[m].astype(np.float64) @ v[i].astype(np.float64)
            spread = q[items]
            if self.ease.size:
                spread = spread + b_rows @ q[self.ease_items]
            terms = self.taste_weight * taste_scale * weights * spread
            parts[m] = parts.get(m, 0.0) + float(terms.sum())
            per[m] = per.get(m, np.zeros(len(items))) + terms
        if "prior" in names:
            w = self.prior_weight * prior_scale
            parts["bias"] = parts.get("bias", 0.0) + w * float(self.prior_base[i])
            for m, part in self.prior_parts.items():
                if part[i]:
                    parts[m] = parts.get(m, 0.0) + w * float(part[i])
        if NEIGHBOUR_BLOCK in names:
            near = np.zeros(len(items))
            for j, sim in zip(self.neighbours[i], self.neighbour_sims[i], strict=True):
                near += np.where(items == j, float(sim), 0.0)
            terms = self.neighbour_weight * norm * weights * near
            m = NEIGHBOUR_MODALITY
            parts[m] = parts.get(m, 0.0) + float(terms.sum())
            per[m] = per.get(m, np.zeros(len(items))) + terms
        row = int(np.searchsorted(self.kernel_rows, i))
        if KERNEL_BLOCK in names and row < len(self.kernel_rows) and self.kernel_rows[row] == i:
            r = np.zeros(len(self.item_counts))
            r[self.kernel_items] = self.kernel_map[row]
            spread = r[items]
            if self.ease.size:
                spread = spread + b_rows @ r[self.ease_items]
            terms = self.kernel_weight * kernel_scale * weights * spread
            m = KERNEL_MODALITY
            parts[m] = parts.get(m, 0.0) + float(terms.sum())
            per[m] = per.get(m, np.zeros(len(items))) + terms

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
        state["ease"], state["prior_base"], state["blend_scales"] = self.ease, self.prior_base, self.blend_scales
        state["ease_items"] = self.ease_items
        state["neighbours"], state["neighbour_sims"] = self.neighbours, self.neighbour_sims
        state["kernel_items"], state["kernel_rows"] = self.kernel_items, self.kernel_rows
        state["kernel_map"] = self.kernel_map
        direct = {"direct_content": self.direct_content, "taste": self.taste, "prior_parts": self.prior_parts}
        for prefix, arrays in direct.items():
            state.update({f"{prefix}/{m}": a for m, a in arrays.items()})
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
            if f"taste/{m}" in state:
                self.taste[m] = state[f"taste/{m}"]
                self.direct_content[m] = state[f"direct_content/{m}"]
            if f"prior_parts/{m}" in state:
                self.prior_parts[m] = state[f"prior_parts/{m}"]
        # models saved before the direct blocks have none of these arrays
        self.ease = state.get("ease", self.ease)
        # models saved before the EASE head spanned every item
        self.ease_items = state.get("ease_items", np.arange(self.ease.shape[0], dtype=np.int64))
        self.prior_base = state.get("prior_base", self.prior_base)
        # models saved before the kernel block have three scales
        self.blend_scales = padded_scales(state.get("blend_scales", self.blend_scales))
        # models saved before the neighbour block
        self.neighbours = state.get("neighbours", self.neighbours)
        self.neighbour_sims = state.get("neighbour_sims", self.neighbour_sims)
        self.neighbour_items = np.unique(self.neighbours[self.neighbours >= 0])
        self.kernel_items = state.get("kernel_items", self.kernel_items)
        self.kernel_rows = state.get("kernel_rows", self.kernel_rows)
        self.kernel_map = state.get("kernel_map", self.kernel_map)
        if "user_features/data" in state:
            shape = tuple(int(s) for s in state["user_features/shape"])
            self.train_user_features = sp.csr_matrix(
                (state["user_features/data"], state["user_features/indices"], state["user_features/indptr"]),
                shape=shape,
            )


@register
class HybridModel(LinearHybrid):
    """avrec's default: ALS + content profiles + cold-item content projection + user attributes + bias, with
    EASE, the content-to-taste map and the popularity prior on top (defaults chosen on validation splits)."""

    kind = "hybrid"
    _use_direct = True

    def __init__(self, **params: Any) -> None:
        for key, value in HYBRID_DEFAULTS.items():
            params.setdefault(key, value)
        super().__init__(**params)


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
