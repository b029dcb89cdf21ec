"""The local store: SQLite database plus index and model files. The only package that speaks SQL."""

from avrec.store.db import (
    MODALITIES,
    USER_VECTORS_SUFFIX,
    FrameRecord,
    Interaction,
    Item,
    MediaRecord,
    ModelRecord,
    Store,
    Transcript,
    VectorRecord,
)
from avrec.store.files import atomic_path, atomic_write
from avrec.store.vectors import decode_vector, encode_vector

__all__ = [
    "MODALITIES",
    "USER_VECTORS_SUFFIX",
    "FrameRecord",
    "Interaction",
    "Item",
    "MediaRecord",
    "ModelRecord",
    "Store",
    "Transcript",
    "VectorRecord",
    "atomic_path",
    "atomic_write",
    "decode_vector",
    "encode_vector",
]
