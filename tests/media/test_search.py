from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from avrec.config import Settings
from avrec.embed import embed
from avrec.errors import AvrecError, UnknownIdError, UsageError
from avrec.ingest.media import ingest_media
from avrec.search import query_scores_by_id, search, similar
from avrec.store import Item, Store

pytestmark = pytest.mark.slow


@pytest.fixture
def catalogued(store: Store, clips: Path, no_clip_settings: Settings, tmp_path: Path) -> Settings:
    settings = dataclasses.replace(no_clip_settings, whisper_model=str(tmp_path / "no-whisper"))
    store.upsert_items([
        Item("with_audio", title="Rain on a tin roof", description="Storm sounds at night", tags=["rain", "storm"],
             path="with_audio.mp4"),
        Item("silent", title="Cooking pasta", description="A recipe for tomato sauce", tags=["food"],
             path="silent.mp4"),
        Item("tone", title="Piano practice", description="Scales on a piano", tags=["music"], path="tone.ogg"),
        Item("poster", title="Movie poster", tags=["film", "storm"], path="poster.png"),
    ])
    ingest_media(store, [clips])
    report = embed(store, settings, max_frames=3)
    assert report.ok and report.vectors["text"] == 4
    return settings


def test_search_by_text(store: Store, catalogued: Settings) -> None:
    hits = search(store, catalogued, "rain", k=2)
    assert hits[0].item_id == "with_audio" and hits[0].title == "Rain on a tin roof"
    assert hits[0].evidence[0]["modality"] == "text" and hits[0].score > hits[1].score
    assert search(store, catalogued, "spaghetti dinner", k=1)[0].item_id == "silent"
    scores = query_scores_by_id(store, catalogued, "rain")
    assert max(scores, key=lambda i: scores[i]) == "with_audio"
    with pytest.raises(UsageError):
        search(store, catalogued, "   ")


def test_similar(store: Store, catalogued: Settings) -> None:
    hits = similar(store, "with_audio", k=3)
    assert len(hits) == 3 and "with_audio" not in [h.item_id for h in hits]
    assert all(h.evidence for h in hits)
    poster = next(h for h in hits if h.item_id == "poster")
    text_ev = next(e for e in poster.evidence if e["modality"] == "text")
    assert text_ev["tags"] == ["storm"]
    visual = similar(store, "with_audio", k=1, modality="visual")
    assert visual[0].evidence[0]["modality"] == "visual" and "ts" in visual[0].evidence[0]
    audio = similar(store, "with_audio", k=1, modality="audio")
    assert audio[0].item_id == "tone" and "detail" in audio[0].evidence[0]
    with pytest.raises(UnknownIdError):
        similar(store, "nope")
    with pytest.raises(AvrecError, match="no audio vector"):
        similar(store, "silent", modality="audio")


def test_speech_is_transcribed_and_found(store: Store, speech_wav: Path, no_clip_settings: Settings,
                                         tmp_path: Path) -> None:
    d = tmp_path / "speech"
    d.mkdir()
    shutil.copy2(speech_wav, d / "weather.mp4")
    ingest_media(store, [d])
    store.upsert_items([Item("other", title="Cooking pasta", description="tomato sauce recipe")])
    report = embed(store, no_clip_settings, max_frames=2)
    assert report.ok and report.with_speech == 1
    transcript = store.transcript("weather")
    assert transcript is not None and transcript.has_speech and transcript.language == "en"
    assert "umbrella" in transcript.text.lower()
    assert transcript.segments and transcript.segments[0]["end"] > transcript.segments[0]["start"]
    hits = search(store, no_clip_settings, "bring an umbrella", k=2)
    assert hits[0].item_id == "weather"
    assert "umbrella" in hits[0].evidence[0]["snippet"].lower() and "ts" in hits[0].evidence[0]
