"""A self-contained HTML page of one user's recommendations: thumbnail, title, score and reason."""

from __future__ import annotations

import base64
import html
import os
import stat
import time
from pathlib import Path

from avrec.errors import UsageError
from avrec.explain import explain
from avrec.recommend import recommend
from avrec.serving.served import load_served
from avrec.store import Store, atomic_path

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}
h1{font-size:1.4rem} .meta{color:#666;font-size:.9rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:1rem}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;overflow:hidden}
.card img,.card .ph{width:100%;aspect-ratio:16/9;object-fit:cover;display:block;background:#ddd}
.card .ph{display:flex;align-items:center;justify-content:center;color:#777;font-size:.8rem}
.body{padding:.6rem .8rem} .rank{color:#888} .score{float:right;font-variant-numeric:tabular-nums}
.reason{font-size:.85rem;color:#444;margin-top:.4rem}
.shows{font-size:.8rem;color:#666;margin-top:.3rem;font-style:italic}
img.plot{max-width:100%;margin-top:2rem}
"""


def thumbnail(store: Store, item_id: str) -> bytes | None:
    """The stored frame thumbnail nearest the middle of the item (kept at embed time)."""
    frames = [f for f in store.frames(item_id, with_thumbs=True) if f.thumb]
    if not frames:
        return None
    return frames[len(frames) // 2].thumb


#: A metrics plot is a few hundred KiB; a bigger "PNG" is a mistake (and would bloat the page).
MAX_PLOT_BYTES = 20 << 20
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_plot(path: Path) -> bytes:
    """The bytes of a PNG to embed; a UsageError about `plot` when `path` is not a regular PNG file.

    /dev/zero would be read until memory runs out, and any other file would be embedded as a "PNG".
    """
    try:
        with open(path, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise UsageError(f"plot {path} is not a regular file; name a PNG file", param="plot")
            data = fh.read(MAX_PLOT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"plot {path}: cannot read it ({exc.strerror or exc})", param="plot") from None
    if not data.startswith(_PNG_MAGIC):
        raise UsageError(f"plot {path} is not a PNG image (`avrec evaluate --plot` writes one)", param="plot")
    if len(data) > MAX_PLOT_BYTES:
        raise UsageError(f"plot {path} is larger than {MAX_PLOT_BYTES >> 20} MiB", param="plot")
    return data


def report_target(out: Path) -> Path:
    """Where `out` writes: through a symlink to its target (deliberately), never onto a directory."""
    target = out.resolve() if out.is_symlink() else out
    if target.is_dir():
        raise UsageError(f"out {out} is a directory; name the HTML file to write (or - for stdout)", param="out")
    if target.exists() and not target.is_file():
        raise UsageError(
            f"out {out} is not a regular file; name the HTML file to write (or - for stdout)", param="out"
        )
    return target


def render_report(store: Store, user_id: str, out: Path, *, k: int = 10, plot: Path | None = None) -> int:
    """Write the page atomically (through a symlink to its target); returns how many items it shows."""
    target = report_target(out)
    page, n = build_report(store, user_id, k=k, plot=plot)
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return n


def build_report(store: Store, user_id: str, *, k: int = 10, plot: Path | None = None) -> tuple[str, int]:
    """The page's HTML and how many items it shows."""
    plot_bytes = read_plot(plot) if plot is not None else None
    served = load_served(store)
    cards: list[str] = []
    for rec in recommend(store, users=[user_id], k=k, served=served):
        item = store.get_item(rec.item_id)
        title = item.title if item and item.title else rec.item_id
        reason = explain(store, user_id=user_id, item_id=rec.item_id, served=served).sentence
        labels = [v.label for v in store.visual_labels(rec.item_id)]
        shows = f'<div class="shows">frames show: {html.escape(", ".join(labels))}</div>' if labels else ""
        thumb = thumbnail(store, rec.item_id)
        image = (
            f'<img alt="{html.escape(title)}" src="data:image/jpeg;base64,{base64.b64encode(thumb).decode()}">'
            if thumb
            else '<div class="ph">no picture</div>'
        )
        cards.append(
            f'<div class="card">{image}<div class="body"><span class="rank">#{rec.rank}</span> '
            f'<b>{html.escape(title)}</b><span class="score">{rec.score:.3f}</span>'
            f'<div class="reason">{html.escape(reason)}</div>{shows}</div></div>'
        )
    plot_html = ""
    if plot_bytes is not None:
        encoded = base64.b64encode(plot_bytes).decode()
        plot_html = f'<img class="plot" alt="metrics" src="data:image/png;base64,{encoded}">'
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>avrec: recommendations for {html.escape(user_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Recommendations for {html.escape(user_id)}</h1>"
        f'<p class="meta">model {html.escape(served.record.model_key)} · {stamp}</p>'
        f'<div class="grid">{"".join(cards)}</div>{plot_html}</body></html>\n'
    )
    return page, len(cards)
