"""The local store: SQLite database plus index and model files. The only package that speaks SQL."""

from avrec.store.db import (
    MODALITIES,
    FrameRecord,
    Interaction,
    Item,
    MediaRecord,
    ModelRecord,
    Store,
    Transcript,
    VectorRecord,
    VisualLabel,
)
from avrec.store.files import atomic_path, atomic_write
from avrec.store.vectors import decode_vector, encode_vector

__all__ = [
    "MODALITIES",
    "FrameRecord",
    "Interaction",
    "Item",
    "MediaRecord",
    "ModelRecord",
    "Store",
    "Transcript",
    "VectorRecord",
    "VisualLabel",
    "atomic_path",
    "atomic_write",
    "decode_vector",
    "encode_vector",
]
