"""Is `explain` faithful? On MovieLens 100K (text + posters), for random recommended (user, item) pairs:

* the parts add up to the score `recommend` reported (within 1e-4);
* every named history item is in that user's history;
* removing the top driving history item (fold-in, no retraining) lowers the score, as the explanation says.

Usage: python benchmarks/explain_faithfulness.py [--store DIR] [--pairs 100] [--model hybrid]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from ml100k_store import build_store, default_data

from avrec import fit, recommend
from avrec.explain import explain
from avrec.serving.served import load_served, user_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=None, help="store dir (built from ml-100k if empty)")
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--model", default="hybrid")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if not (args.data / "ml-100k").exists():
        sys.exit(f"no ml-100k under {args.data}")
    store_dir = args.store or Path(tempfile.mkdtemp(prefix="avrec-explain-")) / "store"
    store = build_store(store_dir, args.data)
    fit(store, model=args.model, seed=args.seed)
    served = load_served(store)
    rng = random.Random(args.seed)
    users = rng.sample(served.user_ids, min(args.pairs, len(served.user_ids)))
    sums = named = drops = checked = 0
    worst = 0.0
    for uid in users:
        recs = list(recommend(store, users=[uid], k=10, served=served))
        rec = rng.choice(recs)
        exp = explain(store, user_id=uid, item_id=rec.item_id, served=served)
        err = abs(sum(exp.parts.values()) - rec.score)
        worst = max(worst, err)
        sums += err < 1e-4 and abs(exp.score - rec.score) < 1e-4
        history = {i for i, _ in store.user_history(uid)}
        named += all(h["item_id"] in history for h in exp.history)
        positive = [h for h in exp.history if h["contribution"] > 0]
        if not positive:
            continue
        top = positive[0]["item_id"]
        j = served.item_pos[rec.item_id]
        full = [i for i in history if i in served.item_pos]
        before = user_batch(store, served, [uid], history=full)
        after = user_batch(store, served, [uid], history=[i for i in full if i != top])
        s_before = float(served.model.score(before.histories, before.rows, before.features)[0, j])
        s_after = float(served.model.score(after.histories, after.rows, after.features)[0, j])
        checked += 1
        drops += s_after < s_before
    n = len(users)
    print(f"model={args.model} pairs={n}")
    print(f"parts add up to the recommended score: {sums}/{n} (worst |sum-score| = {worst:.2e})")
    print(f"named history items are in the user's history: {named}/{n}")
    print(f"removing the top driving item lowers the score: {drops}/{checked} = {drops / max(checked, 1):.1%}")
    store.close()


if __name__ == "__main__":
    main()
