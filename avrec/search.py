"""Text-to-content search, item-to-item similarity, and query vectors for `recommend --query`.

search: the query goes through the SBERT text encoder and is compared with every item's text vector
(title, description, tags, transcript, visual labels); for the best candidates each transcript segment is
compared too, so a phrase spoken somewhere in a long clip still finds it, and the best segment is the
evidence. Likewise each visual label (the ImageNet classes an item's frames show) is compared with the
query on its own: "seashore" finds a clip whose frames show a seashore even when its words never say so,
with evidence "frames show: seashore" and the timestamp of the clearest frame. When
CLIP weights are present and frames were embedded with them, the query also goes through CLIP's text
tower and is compared with every stored frame; an item's visual score is its best frame (evidence: that
frame's timestamp). With one modality the hit score is its cosine similarity; with both, the two
rankings are fused by reciprocal rank (score = sum of 1 / (60 + rank)), and each evidence entry keeps
its own cosine.

similar: cosine similarity between stored vectors of the same encoder, averaged over the modalities the
item has (a candidate lacking one scores 0 there). Evidence names the closest frames (timestamps), the
visual labels both items' frames show ("both show candle"), the acoustic traits the two share ("tempo",
"loudness", ...) and shared tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avrec.config import Settings
from avrec.errors import AvrecError, UsageError
from avrec.evidence import audio_traits, closest_frames
from avrec.store import MODALITIES, Store
from avrec.store.media_queries import frame_matrix, item_vector, vector_metas

RRF_K = 60
#: A visual label counts as matching the query from this SBERT cosine on (weaker matches are noise).
LABEL_MATCH = 0.5
_SEGMENT_CANDIDATES = 50
_MAX_SEGMENTS = 200


@dataclass
class SearchHit:
    """One result: the item, its score, and why (a list of evidence objects).

    Each evidence object has `modality` and `score`, and where it applies `ts` (seconds into the hit's
    media: the matching frame or transcript segment), `snippet` (matching text), `tags` (shared tags),
    `detail` (in words, e.g. "similar tempo and loudness") and `query_ts` (the source item's frame).
    """

    item_id: str
    score: float
    title: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "score": self.score, "title": self.title, "evidence": self.evidence}


def encode_query(store: Store, settings: Settings, text: str) -> dict[str, np.ndarray]:
    """The query as unit vectors comparable with stored ones: `text` (SBERT) always when text vectors
    exist, `visual` (CLIP text tower) when frames were embedded with the CLIP weights configured now."""
    from avrec.encoders import clip_model_id, load_clip_encoder, load_text_encoder
    from avrec.encoders.text import resolve_text_model
    from avrec.store.media_queries import frame_model_ids

    if not text.strip():
        raise UsageError("the query text is empty")
    out: dict[str, np.ndarray] = {}
    text_id = resolve_text_model(settings.text_model)[1]
    if store.vectors("text", text_id)[0]:
        out["text"] = load_text_encoder(settings).encode_batch([text])[0]
    clip_id = clip_model_id(settings)
    if clip_id is not None and frame_model_ids(store).get(clip_id):
        out["visual"] = load_clip_encoder(settings).encode_text([text])[0]
    return out


def search(store: Store, settings: Settings, text: str, k: int = 10) -> list[SearchHit]:
    """Items matching `text`, best first (see the module docstring for scoring and evidence)."""
    if k < 1:
        raise UsageError("-k must be at least 1")
    query = encode_query(store, settings, text)
    if not query:
        raise AvrecError(f"store {store.root} holds no text vectors to search; run `avrec embed` first")
    per_modality: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {}
    if "text" in query:
        per_modality["text"] = _text_scores(store, settings, query["text"])
    if "visual" in query:
        per_modality["visual"] = _frame_scores(store, settings, query["visual"])
    return _fuse(store, per_modality, k)


def query_scores_by_id(store: Store, settings: Settings, text: str) -> dict[str, float]:
    """item id -> how well the item matches `text`: text cosine plus best-frame CLIP cosine when present."""
    query = encode_query(store, settings, text)
    scores: dict[str, float] = {}
    if "text" in query:
        for item_id, (score, _) in _text_scores(store, settings, query["text"], rescore=False).items():
            scores[item_id] = scores.get(item_id, 0.0) + score
    if "visual" in query:
        for item_id, (score, _) in _frame_scores(store, settings, query["visual"]).items():
            scores[item_id] = scores.get(item_id, 0.0) + score
    return scores


def query_scores_by_row(
    store: Store, settings: Settings, text: str, item_ids: list[str] | None = None
) -> np.ndarray:
    """`query_scores_by_id` as an array over `item_ids` (default: the fitted model's items), 0 where unknown.

    This is what `recommend --query` adds (times a weight) to every user's scores to steer the list.
    """
    if item_ids is None:
        from avrec.serving.served import load_served

        item_ids = load_served(store).item_ids
    scores = query_scores_by_id(store, settings, text)
    return np.asarray([scores.get(i, 0.0) for i in item_ids], dtype=np.float64)


def similar(store: Store, item_id: str, k: int = 10, modality: str | None = None) -> list[SearchHit]:
    """Items whose stored content vectors are closest to `item_id`'s, best first."""
    if k < 1:
        raise UsageError("-k must be at least 1")
    if modality is not None and modality not in MODALITIES:
        raise UsageError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    source = store.require_item(item_id)
    wanted = [modality] if modality else list(MODALITIES)
    mine = {m: v for m in wanted if (v := item_vector(store, item_id, m)) is not None}
    if not mine:
        what = f"{modality} vector" if modality else "content vector"
        raise AvrecError(f"item {item_id!r} has no {what} yet; run `avrec embed` first")
    totals: dict[str, float] = {}
    per: dict[str, dict[str, float]] = {}
    for m, (model_id, vec) in mine.items():
        ids, mat, _ = store.vectors(m, model_id)
        sims = _cosines(mat, vec)
        per[m] = {}
        for other, s in zip(ids, sims.tolist(), strict=True):
            if other != item_id:
                per[m][other] = s
                totals[other] = totals.get(other, 0.0) + s / len(mine)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    hits = []
    audio_meta = vector_metas(store, "audio", [item_id] + [i for i, _ in ranked]) if "audio" in mine else {}
    source_labels = {v.label for v in store.visual_labels(item_id)}
    for other, score in ranked:
        hit_item = store.get_item(other)
        evidence: list[dict[str, Any]] = []
        for m in mine:
            if other not in per[m]:
                continue
            ev: dict[str, Any] = {"modality": m, "score": per[m][other]}
            if m == "visual":
                match = closest_frames(store, item_id, other)
                if match is not None:
                    ev.update({"query_ts": match[0], "ts": match[1], "frame_score": match[2]})
                shared = [v.label for v in store.visual_labels(other) if v.label in source_labels]
                if shared:
                    ev["labels"] = shared
                    ev["detail"] = "both show " + ", ".join(shared[:3])
            elif m == "audio":
                traits = audio_traits(audio_meta.get(item_id), audio_meta.get(other))
                if traits:
                    ev["detail"] = "similar " + " and ".join(traits)
            elif m == "text" and hit_item is not None:
                shared = sorted(set(source.tags) & set(hit_item.tags))
                if shared:
                    ev["tags"] = shared
                if hit_item.title:
                    ev["snippet"] = hit_item.title
            evidence.append(ev)
        evidence.sort(key=lambda e: -float(e["score"]))
        hits.append(SearchHit(other, float(score), hit_item.title if hit_item else None, evidence))
    return hits


# -- helpers ---------------------------------------------------------------------------------------------


def _cosines(mat: np.ndarray, vec: np.ndarray) -> np.ndarray:
    if mat.size == 0:
        return np.zeros(0)
    norms = np.linalg.norm(mat, axis=1) * max(float(np.linalg.norm(vec)), 1e-12)
    return (mat @ vec) / np.maximum(norms, 1e-12)


def _text_scores(
    store: Store, settings: Settings, q: np.ndarray, *, rescore: bool = True
) -> dict[str, tuple[float, dict[str, Any]]]:
    from avrec.encoders.text import resolve_text_model

    ids, mat, _ = store.vectors("text", resolve_text_model(settings.text_model)[1])
    sims = _cosines(mat, q)
    out: dict[str, tuple[float, dict[str, Any]]] = {}
    for item_id, s in zip(ids, sims.tolist(), strict=True):
        out[item_id] = (s, {"modality": "text", "score": s})
    if not rescore or not ids:
        return out
    # A spoken phrase can be a small part of a long transcript: compare the query with each segment of
    # the best candidates too, and keep the best segment as evidence.
    top = [ids[j] for j in np.argsort(-sims)[:_SEGMENT_CANDIDATES]]
    segments: list[tuple[str, dict[str, Any]]] = []
    for item_id in top:
        transcript = store.transcript(item_id)
        if transcript is not None and transcript.has_speech:
            segments += [(item_id, seg) for seg in transcript.segments[:_MAX_SEGMENTS] if seg.get("text")]
    if segments:
        from avrec.encoders import load_text_encoder

        seg_sims = load_text_encoder(settings).encode_batch([seg["text"] for _, seg in segments]) @ q
        for (item_id, seg), s in zip(segments, seg_sims.tolist(), strict=True):
            best = out[item_id]
            if "snippet" not in best[1] or s > best[1].get("snippet_score", -1.0):
                ev = {
                    "modality": "text",
                    "score": max(best[0], s),
                    "snippet": seg["text"],
                    "ts": seg.get("start"),
                    "snippet_score": s,
                }
                out[item_id] = (max(best[0], s), ev)
    for _, ev in out.values():
        ev.pop("snippet_score", None)
    _label_rescore(store, settings, q, out)
    return out


def _label_rescore(
    store: Store, settings: Settings, q: np.ndarray, out: dict[str, tuple[float, dict[str, Any]]]
) -> None:
    """Compare the query with every item's visual labels; where a label matches better than the item's
    text, it becomes the item's score and evidence (modality `visual`: what the frames show)."""
    from avrec.store.media_queries import visual_label_rows

    rows = [r for r in visual_label_rows(store) if r[0] in out]
    if not rows:
        return
    from avrec.encoders import load_text_encoder

    names = sorted({label for _, label, _, _ in rows})
    sims = dict(zip(names, (load_text_encoder(settings).encode_batch(names) @ q).tolist(), strict=True))
    for item_id, label, _, ts in rows:
        s = float(sims[label])
        if s >= LABEL_MATCH and s > out[item_id][0]:
            ev = {"modality": "visual", "score": s, "labels": [label], "detail": f"frames show: {label}", "ts": ts}
            out[item_id] = (s, ev)


def _frame_scores(store: Store, settings: Settings, q: np.ndarray) -> dict[str, tuple[float, dict[str, Any]]]:
    from avrec.encoders import clip_model_id

    model_id = clip_model_id(settings)
    if model_id is None:
        return {}
    ids, times, mat = frame_matrix(store, model_id)
    out: dict[str, tuple[float, dict[str, Any]]] = {}
    if not ids:
        return out
    sims = _cosines(mat, q)
    for item_id, ts, s in zip(ids, times.tolist(), sims.tolist(), strict=True):
        if item_id not in out or s > out[item_id][0]:
            out[item_id] = (s, {"modality": "visual", "score": s, "ts": round(ts, 3)})
    return out


def _fuse(
    store: Store, per_modality: dict[str, dict[str, tuple[float, dict[str, Any]]]], k: int
) -> list[SearchHit]:
    live = {m: scores for m, scores in per_modality.items() if scores}
    if not live:
        return []
    fused: dict[str, float] = {}
    if len(live) == 1:
        (scores,) = live.values()
        fused = {i: s for i, (s, _) in scores.items()}
    else:
        for scores in live.values():
            order = sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))
            for rank, (item_id, _) in enumerate(order, start=1):
                fused[item_id] = fused.get(item_id, 0.0) + 1.0 / (RRF_K + rank)
    ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    hits = []
    for item_id, score in ranked:
        item = store.get_item(item_id)
        evidence = [scores[item_id][1] for scores in live.values() if item_id in scores]
        evidence.sort(key=lambda e: -float(e["score"]))
        hits.append(SearchHit(item_id, float(score), item.title if item else None, evidence))
    return hits
