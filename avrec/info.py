"""`info`: what the store holds."""

from __future__ import annotations

from typing import Any

from avrec.store import Store


def info(store: Store) -> dict[str, Any]:
    with store.snapshot():
        counts = store.counts()
        encoders = store.vector_models()
        models = store.models()
        active = store.active_model()
        version = store.schema_version()
    present = [m for m in models if (store.root / m.path).exists()]
    return {
        "store": str(store.root),
        "schema_version": version,
        **counts,
        "encoders": encoders,
        "models": len(present),
        "active_model": None
        if active is None
        else {
            "model_key": active.model_key,
            "kind": active.kind,
            **{k: active.report.get(k) for k in ("users", "items", "interactions", "train_seconds")},
        },
        "model_keys": [m.model_key for m in present],
    }
