"""`explain`: why a user gets an item — the model's own terms, the history that drove them, and the
content evidence (matching frames with timestamps, what the frames show as ImageNet labels, snippets and
shared tags, named sound descriptors)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from avrec.errors import UnknownIdError
from avrec.evidence import audio_traits, closest_frames
from avrec.serving.served import Served, load_served, user_batch
from avrec.store import Store

N_HISTORY = 5
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    "the and for with that this from are was were you your have has had not but all any can her his its our "
    "out who what when where which will into over under about after before than then them they there these "
    "those some such very just more most also only".split()
)


@dataclass
class Explanation:
    """What `explain` returns (its `--format json` schema is documented in the README)."""

    user_id: str
    item_id: str
    score: float
    parts: dict[str, float]
    history: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    sentence: str
    cold_item: bool = False
    model: str = ""
    title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(
    store: Store,
    *,
    user_id: str,
    item_id: str,
    history: list[str] | None = None,
    n_history: int = N_HISTORY,
    served: Served | None = None,
) -> Explanation:
    served = served or load_served(store)
    j = served.item_pos.get(item_id)
    if j is None:
        if store.get_item(item_id) is None:
            raise UnknownIdError(f"unknown item id {item_id!r}")
        raise UnknownIdError(
            f"item {item_id!r} was stored after the last fit; run `avrec fit --incremental` (or `avrec fit`)"
        )
    batch = user_batch(store, served, [user_id], history=history)
    feats = batch.features[0] if batch.features is not None else None
    mexp = served.model.explain(batch.histories[0], int(batch.rows[0]), j, feats)
    titles = _titles(store, [served.item_ids[i] for i, _ in mexp.history[:n_history]] + [item_id])
    hist = [
        {"item_id": served.item_ids[i], "contribution": float(c), "title": titles.get(served.item_ids[i])}
        for i, c in mexp.history[:n_history]
    ]
    evidence = _evidence(store, served, item_id, mexp.parts, mexp.per_modality_history)
    sentence = _sentence(mexp.parts, hist, evidence, titles, bool(mexp.cold_item))
    return Explanation(
        user_id=user_id,
        item_id=item_id,
        score=float(mexp.score),
        parts={name: float(v) for name, v in mexp.parts.items()},
        history=hist,
        evidence=evidence,
        sentence=sentence,
        cold_item=bool(mexp.cold_item),
        model=served.record.kind,
        title=titles.get(item_id),
    )


def _titles(store: Store, ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item_id in ids:
        item = store.get_item(item_id)
        out[item_id] = item.title if item and item.title else item_id
    return out


def _evidence(
    store: Store,
    served: Served,
    item_id: str,
    parts: dict[str, float],
    per_modality: dict[str, list[tuple[int, float]]],
) -> list[dict[str, Any]]:
    """Evidence for each content part that pushed the score up, from the history items that pushed most."""
    evidence: list[dict[str, Any]] = []
    top = {
        m: [served.item_ids[i] for i, c in pairs[:3] if c > 0]
        for m, pairs in per_modality.items()
        if parts.get(m, 0.0) > 0
    }
    if top.get("visual"):
        evidence.extend(_visual_evidence(store, item_id, top["visual"]))
    # What the frames show describes the item whatever the sign of its parts (the labels feed the visual part
    # through the frames and the text part through the item's text); shared labels come from the drivers.
    evidence.extend(_label_evidence(store, item_id, top.get("visual", []) + top.get("text", [])))
    if top.get("text"):
        evidence.extend(_text_evidence(store, item_id, top["text"]))
    if top.get("audio"):
        evidence.extend(_audio_evidence(store, item_id, top["audio"]))
    return evidence


def _visual_evidence(store: Store, item_id: str, sources: list[str]) -> list[dict[str, Any]]:
    """The frame of the recommended item closest to a frame of the history items that drove the visual part."""
    best: dict[str, Any] | None = None
    for src in sources:
        match = closest_frames(store, item_id, src)
        if match is None:
            continue
        if best is None or match[2] > best["similarity"]:
            best = {"modality": "visual", "frame_ts": match[0], "matched_item": src, "matched_frame_ts": match[1],
                    "similarity": match[2]}
    if best is None:
        return [{"modality": "visual", "matched_item": sources[0]}] if sources else []
    return [best]


def _label_evidence(store: Store, item_id: str, sources: list[str]) -> list[dict[str, Any]]:
    """What the item's frames show (ImageNet labels), and which of them a driving history item shows too."""
    labels = store.visual_labels(item_id)
    if not labels:
        return []
    names = [v.label for v in labels]
    ev: dict[str, Any] = {
        "modality": "visual",
        "labels": names,
        "detail": "frames show: " + ", ".join(names[:3]),
        "frame_ts": labels[0].ts,
    }
    for src in dict.fromkeys(sources):
        shared = [n for n in names if n in {v.label for v in store.visual_labels(src)}]
        if shared:
            ev["shared_labels"] = shared
            ev["matched_item"] = src
            break
    return [ev]


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOP


def _text_evidence(store: Store, item_id: str, sources: list[str]) -> list[dict[str, Any]]:
    item = store.require_item(item_id)
    out: list[dict[str, Any]] = []
    tags = {t.lower() for t in item.tags}
    shared: list[str] = []
    vocabulary: set[str] = set()
    for src in sources:
        other = store.get_item(src)
        if other is None:
            continue
        shared.extend(t for t in other.tags if t.lower() in tags and t not in shared)
        vocabulary |= _words(" ".join(filter(None, [other.title, other.description, " ".join(other.tags)])))
        transcript = store.transcript(src)
        if transcript and transcript.has_speech:
            vocabulary |= _words(transcript.text)
    if shared:
        out.append({"modality": "text", "tags": shared, "matched_item": sources[0]})
    snippets: list[tuple[int, dict[str, Any]]] = []
    for sentence in re.split(r"(?<=[.!?])\s+", item.description or ""):
        if sentence.strip():
            snippets.append(
                (
                    len(_words(sentence) & vocabulary),
                    {"modality": "text", "snippet": sentence.strip(), "source": "description"},
                )
            )
    transcript = store.transcript(item_id)
    if transcript and transcript.has_speech:
        for seg in transcript.segments:
            text = str(seg.get("text", "")).strip()
            if text:
                snippets.append(
                    (
                        len(_words(text) & vocabulary),
                        {
                            "modality": "text",
                            "snippet": text,
                            "source": "transcript",
                            "start": seg.get("start"),
                            "end": seg.get("end"),
                        },
                    )
                )
    snippets.sort(key=lambda s: -s[0])
    if snippets and (snippets[0][0] > 0 or not shared):
        out.append(snippets[0][1])
    return out


def _audio_evidence(store: Store, item_id: str, sources: list[str]) -> list[dict[str, Any]]:
    """The named acoustic descriptors (tempo, loudness, ...) the item shares with the history behind the
    audio part."""
    mine = store.vector_meta(item_id, "audio")
    for src in sources:
        traits = audio_traits(mine, store.vector_meta(src, "audio"))
        if traits:
            return [{"modality": "audio", "descriptors": traits, "matched_item": src}]
    return [{"modality": "audio", "matched_item": sources[0]}] if sources else []


def _sentence(
    parts: dict[str, float],
    history: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    titles: dict[str, str],
    cold: bool,
) -> str:
    clauses: list[str] = []
    drivers = [h["title"] or h["item_id"] for h in history if h["contribution"] > 0][:2]
    if cold:
        clauses.append("New item with no views yet, recommended from its content")
    if drivers:
        clauses.append("because you watched " + " and ".join(drivers))
    for ev in evidence:
        name = titles.get(ev.get("matched_item", ""), ev.get("matched_item", ""))
        if ev["modality"] == "visual" and ev.get("labels"):
            clauses.append(ev["detail"] + (f" (like {name})" if ev.get("shared_labels") else ""))
        elif ev["modality"] == "visual" and "frame_ts" in ev:
            clauses.append(f"visually close to {name} (frame at {_clock(ev['frame_ts'])})")
        elif ev["modality"] == "text" and ev.get("tags"):
            clauses.append("shares tags " + ", ".join(ev["tags"][:3]) + (f" with {name}" if name else ""))
        elif ev["modality"] == "audio" and ev.get("descriptors"):
            clauses.append("similar " + " and ".join(ev["descriptors"]) + (f" to {name}" if name else ""))
    if not clauses:
        main = max(parts, key=lambda p: parts[p]) if parts else "bias"
        clauses.append("Popular with people like you" if main in ("bias", "user") else f"Strong {main} match")
    text = "; ".join(clauses)
    return text[:1].upper() + text[1:] + "."


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"
