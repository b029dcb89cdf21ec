"""avrec: recommend audio and video content by understanding it.

The Python API mirrors the command line; each function takes an open `Store` first::

    from avrec import Store, Settings, ingest_catalog, ingest_interactions, ingest_media, embed, fit
    from avrec import recommend, explain, info

    with Store("avrec-store") as store:
        ingest_catalog(store, "catalog.csv")
        ingest_interactions(store, "events.csv")
        embed(store, Settings())
        fit(store)
        for rec in recommend(store, users=["u1"], k=5):
            print(rec.item_id, rec.score)
        print(explain(store, user_id="u1", item_id="i9").sentence)

Attributes are imported on first use, so `import avrec` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "Store": "avrec.store",
    "Settings": "avrec.config",
    "AvrecError": "avrec.errors",
    "ingest_catalog": "avrec.ingest",
    "ingest_interactions": "avrec.ingest",
    "ingest_users": "avrec.ingest",
    "ingest_media": "avrec.ingest.media",
    "embed": "avrec.embed",
    "fit": "avrec.training.fit",
    "recommend": "avrec.recommend",
    "recommend_by": "avrec.recommend",
    "explain": "avrec.explain",
    "info": "avrec.info",
    "search": "avrec.search",
    "similar": "avrec.search",
    "evaluate_store": "avrec.training.evaluate",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'avrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
