"""Build an avrec store from MovieLens 100K through avrec's own ingest and embed path.

Used by the benchmarks; the data stays in ../shared (research-licensed, never copied into the repo).
Positives are ratings >= 4. The catalog gets title, plot description (ml-100k-details), genres as tags and
the poster file as the item's media (an image item), so `embed` produces text and visual vectors.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ml100k import DATA, GENRES

from avrec import Settings, Store, embed, ingest_catalog, ingest_interactions, ingest_users
from avrec.ingest.media import ingest_media


def default_data() -> Path:
    return DATA


def write_inputs(data: Path, out: Path, *, posters: bool = True) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    details: dict[str, str] = {}
    details_csv = data / "ml-100k-details" / "movielens100k_details.csv"
    if details_csv.exists():
        with details_csv.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                details[row["movie_id"]] = row.get("description") or ""
    poster_of: dict[str, Path] = {}
    index = data / "posters" / "poster_index_ml-100k_by_title.csv"
    if posters and index.exists():
        with index.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                path = data / "posters" / row["poster_file"]
                if path.exists():
                    poster_of[row["ml100k_item_id"]] = path
    catalog = out / "catalog.csv"
    with (data / "ml-100k" / "u.item").open(encoding="latin-1") as fh, catalog.open("w", newline="") as oh:
        w = csv.writer(oh)
        w.writerow(["item_id", "title", "description", "tags", "path", "release"])
        for line in fh:
            f = line.rstrip("\n").split("|")
            tags = "|".join(g for g, flag in zip(GENRES, f[5:24]) if flag == "1")
            poster = poster_of.get(f[0])
            w.writerow([f[0], f[1], details.get(f[0], ""), tags, str(poster) if poster else "", f[2]])
    inter = out / "interactions.csv"
    with (data / "ml-100k" / "u.data").open() as fh, inter.open("w", newline="") as oh:
        w = csv.writer(oh)
        w.writerow(["user_id", "item_id", "timestamp", "weight"])
        for line in fh:
            u, i, r, t = line.split("\t")
            if int(r) >= 4:
                w.writerow([u, i, t.strip(), 1])
    users = out / "users.csv"
    with (data / "ml-100k" / "u.user").open() as fh, users.open("w", newline="") as oh:
        w = csv.writer(oh)
        w.writerow(["user_id", "age", "gender", "occupation", "zip"])
        for line in fh:
            w.writerow(line.strip().split("|"))
    return {"catalog": catalog, "interactions": inter, "users": users}


def build_store(
    store_dir: Path, data: Path | None = None, *, modalities: set[str] | None = None, posters: bool = True
) -> Store:
    data = data or default_data()
    inputs = write_inputs(data, store_dir.parent / (store_dir.name + "-inputs"), posters=posters)
    store = Store(store_dir)
    if store.counts()["items"] == 0:
        ingest_catalog(store, inputs["catalog"])
        ingest_interactions(store, inputs["interactions"])
        ingest_users(store, inputs["users"])
        if posters:
            paths = sorted({Path(i.path) for i in store.iter_items() if i.path})
            ingest_media(store, paths)
    embed(store, Settings(store=store_dir), modalities=modalities or {"text", "visual"})
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store", type=Path)
    parser.add_argument("--data", type=Path, default=default_data())
    args = parser.parse_args()
    if not (args.data / "ml-100k").exists():
        sys.exit(f"no ml-100k under {args.data}")
    build_store(args.store, args.data).close()


if __name__ == "__main__":
    main()
