"""The local store: SQLite database plus index and model files. The only package that speaks SQL."""

from avrec.store.db import (
    MODALITIES,
    USER_VECTORS_SUFFIX,
    EventBlock,
    FrameRecord,
    Interaction,
    Item,
    MediaRecord,
    ModelRecord,
    Store,
    Transcript,
    VectorRecord,
    VisualLabel,
    database_error,
)
from avrec.store.files import atomic_path
from avrec.store.vectors import decode_vector, encode_vector

__all__ = [
    "MODALITIES",
    "USER_VECTORS_SUFFIX",
    "EventBlock",
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
    "database_error",
    "decode_vector",
    "encode_vector",
]
