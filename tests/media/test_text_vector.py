"""An item's text vector: short metadata (title, tags; frame labels only without other text) and long text
(description, transcript) encoded apart and mixed, so a long description cannot drown the tags."""

from __future__ import annotations

import numpy as np
import pytest

from avrec.config import Settings
from avrec.embed import embed
from avrec.embed.text import (
    SHORT_TEXT_WEIGHT,
    ItemTexts,
    encode_item_texts,
    item_texts,
    mix_text_vectors,
    text_hash,
)
from avrec.search import search
from avrec.store import Item, Store
from avrec.store.media_queries import TextSource

pytestmark = pytest.mark.slow

# About 400 words on bookkeeping: far past all-MiniLM-L6-v2's 256 tokens, so in one string with the
# description first the tags would be cut off.
LONG = " ".join(
    f"Chapter {n}: the ledger, quarterly tax forms, invoices, receipts and spreadsheet columns of an accountant's "
    "office, reconciled line by line against the bank statement before the audit."
    for n in range(16)
)


def test_item_texts_split_short_metadata_from_long_text() -> None:
    source = TextSource("a", " Volcano ", LONG, ["lava", " "], "spoken words", ["volcano", "alp"])
    texts = item_texts(source)
    assert texts.short == "Volcano. Tags: lava"  # labels stay out of a text that has words
    assert texts.long == LONG + ". spoken words"
    # an item with nothing but what its frames show is known by that
    assert item_texts(TextSource("c", " ", None, [], None, ["seashore"])) == ItemTexts("Frames show: seashore", "")
    assert item_texts(TextSource("d", None, "A walk.", [], None, ["seashore"])) == ItemTexts("", "A walk.")
    assert item_texts(TextSource("b", None, None)) == ItemTexts("", "")
    assert not item_texts(TextSource("b", None, None))
    # the hash covers both sides: changing either re-embeds
    assert text_hash(texts) != text_hash(ItemTexts(texts.short, texts.long + "!"))
    assert text_hash(texts) != text_hash(ItemTexts(texts.short + "!", texts.long))


def test_mix_is_unit_length_and_falls_back_to_the_side_present() -> None:
    rng = np.random.default_rng(0)
    short, long = rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
    short /= np.linalg.norm(short, axis=1, keepdims=True)
    long /= np.linalg.norm(long, axis=1, keepdims=True)
    long[1] = 0.0  # no long text
    short[2] = 0.0  # no short text
    mixed = mix_text_vectors(short, long)
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(mixed[1], short[1], rtol=1e-5)
    np.testing.assert_allclose(mixed[2], long[2], rtol=1e-5)
    both = SHORT_TEXT_WEIGHT * short[0] + (1 - SHORT_TEXT_WEIGHT) * long[0]
    np.testing.assert_allclose(mixed[0], both / np.linalg.norm(both), rtol=1e-5)


def test_encode_item_texts_encodes_each_side_present() -> None:
    seen: list[list[str]] = []

    def encode(xs: list[str]) -> np.ndarray:
        seen.append(xs)
        return np.array([[1.0, 0.0] if x.startswith("s") else [0.0, 1.0] for x in xs], np.float32)

    vecs = encode_item_texts(encode, [ItemTexts("s1", "l1"), ItemTexts("s2", ""), ItemTexts("", "l3")])
    assert seen == [["s1", "s2"], ["l1", "l3"]]
    np.testing.assert_allclose(vecs[1], [1.0, 0.0])
    np.testing.assert_allclose(vecs[2], [0.0, 1.0])
    assert vecs[0][0] > vecs[0][1] > 0  # the short side weighs more


def test_long_description_does_not_hide_the_tags(store: Store, no_clip_settings: Settings) -> None:
    store.upsert_items([
        Item("erupting", title="Field notes", description=LONG, tags=["volcano eruption", "lava"]),
        Item("books", title="Office diary", description=LONG.replace("audit", "holiday")),
        Item("pasta", title="Cooking pasta", description="A recipe for tomato sauce", tags=["food"]),
    ])
    report = embed(store, no_clip_settings, modalities=["text"])
    assert report.ok and report.vectors["text"] == 3
    assert search(store, no_clip_settings, "volcano eruption, lava", k=1)[0].item_id == "erupting"
    assert search(store, no_clip_settings, "accountant's ledger and tax forms", k=2)[0].item_id in {"erupting", "books"}
    # a second run re-embeds nothing; a changed description re-embeds that item
    assert embed(store, no_clip_settings, modalities=["text"]).vectors["text"] == 0
    store.upsert_items([Item("pasta", title="Cooking pasta", description="A recipe for pesto", tags=["food"])])
    assert embed(store, no_clip_settings, modalities=["text"]).vectors["text"] == 1
