"""Recommendation models behind one estimator interface (no DB access, no printing).

Public API used by the CLI:

* `make_model(name, **params)` -- a new model: "hybrid" (default), "mf", "content", "popular", "itemknn", "ease".
* `load_model(path)` -- any saved model; the kind stored in the file picks the class.
* `Recommender` -- fit / score / recommend / explain / embeddings / save / load; `Recommender.kind`.
* `ModelExplanation` -- what `explain` returns.
"""

from avrec.model import ease, hybrid, itemknn, popular  # noqa: F401  (registers the model kinds)
from avrec.model.base import ModelExplanation, Recommender, load_model, make_model, model_names
from avrec.model.data import ContentMatrix, TrainData
from avrec.model.ease import EaseModel
from avrec.model.hybrid import ContentModel, HybridModel, MatrixFactorization
from avrec.model.itemknn import ItemKNNModel
from avrec.model.popular import PopularModel

__all__ = [
    "ContentMatrix",
    "ContentModel",
    "EaseModel",
    "HybridModel",
    "ItemKNNModel",
    "MatrixFactorization",
    "ModelExplanation",
    "PopularModel",
    "Recommender",
    "TrainData",
    "load_model",
    "make_model",
    "model_names",
]
