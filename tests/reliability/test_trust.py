"""Issue 14 ("Trust: nothing lost, nothing misread, no traceback"), items 2-5, 7-9 and 11, and the commands
that take data out (`forget`, `delete`): each case runs the CLI as its own process, the way a cron job does.

Every run goes through :func:`fails` or :func:`ok`, which fail on "Traceback" in stderr; a failing case
must exit 1 or 2 with an ``avrec: error:`` line naming the file, line, id or option; and the store a
case starts from is compared before and after (:func:`table_state`, ``PRAGMA integrity_check``).
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    AVREC,
    REPO,
    avrec_env,
    db,
    ffmpeg,
    integrity,
    run_avrec,
    table_state,
)

HOSTILE = {
    # item id: title
    "i3": "Best of [/r/videos]",
    "i4": "[link=file:///etc/passwd]x[/link]",
    "i5": "clear\x1b[2Jscreen \x1b]0;pwned\x07 title",
    "[red]x[/red]": "red",
}


def fails(proc: subprocess.CompletedProcess[str], code: int, *says: str) -> str:
    """The run failed cleanly: exit `code`, no traceback, an error line, naming each of `says`."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}\n{proc.stderr}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("avrec: error:", "Error", "Usage"))]
    assert errors, proc.stderr
    for text in says:
        assert text in proc.stderr, f"{text!r} not in:\n{proc.stderr}"
    return proc.stderr


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr}"
    return proc


def loud(store: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Like run_avrec, without --quiet (for warnings)."""
    return subprocess.run(
        [*AVREC, "--store", str(store), *args], input=stdin, capture_output=True, text=True,
        env=avrec_env(), cwd=REPO, check=False, timeout=300,
    )


def limited(store: Path, limit_bytes: int, *args: str) -> subprocess.CompletedProcess[str]:
    """A run whose process may not write any file past `limit_bytes` (RLIMIT_FSIZE: the kernel refuses the
    write with EFBIG, as a full disk refuses it with ENOSPC). Python ignores SIGXFSZ, so writes fail."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [*AVREC, "--store", str(store), "--quiet", *args], capture_output=True, text=True,
        env=avrec_env(), cwd=REPO, check=False, timeout=300, preexec_fn=cap,
    )


# -- a small fitted store with hostile titles and ids -----------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trust")
    store = root / "store"
    catalog = root / "catalog.csv"
    items = [f"i{n}" for n in range(30) if f"i{n}" not in HOSTILE] + list(HOSTILE)
    with catalog.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "title", "tags"])
        for item in items:
            writer.writerow([item, HOSTILE.get(item, f"Title {item}"), "a|b"])
    log = root / "log.csv"
    with log.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "item_id", "timestamp", "event"])
        for u in range(40):
            for n in range(12):
                writer.writerow([f"u{u}", items[(u * 7 + n * 3) % len(items)], 1_700_000_000 + u * 100 + n, "view"])
    ok(run_avrec(store, "ingest", "catalog", str(catalog)))
    ok(run_avrec(store, "ingest", "interactions", str(log)))
    ok(run_avrec(store, "fit", "--format", "json"))
    return store


@pytest.fixture
def store(base: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(base, copy)
    return copy


def active_model(store: Path) -> str:
    with db(store) as conn:
        return str(conn.execute("SELECT value FROM store_state WHERE key = 'active_model'").fetchone()[0])


# -- 14.2 weights ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows, says",
    [
        ("u0,i0,1e300", ["line 2", "weight '1e300'", "1e+06"]),
        ("u0,i0,3e38\nu0,i0,3e38", ["line 2", "line 3"]),
        ("u0,i0,-1", ["line 2", ">= 0"]),
    ],
)
def test_absurd_weights_are_refused_at_ingest(store: Path, tmp_path: Path, rows: str, says: list[str]) -> None:
    log = tmp_path / "w.csv"
    log.write_text("user_id,item_id,weight\n" + rows + "\n")
    before = table_state(store)
    fails(run_avrec(store, "ingest", "interactions", str(log)), 1, "w.csv", *says)
    assert table_state(store) == before


def test_absurd_event_weight_option_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "e.csv"
    log.write_text("user_id,item_id,event\nu0,i0,like\n")
    before = table_state(store)
    fails(run_avrec(store, "ingest", "interactions", str(log), "--event-weight", "like=1e300"), 2, "--event-weight")
    assert table_state(store) == before


def test_a_weight_an_older_avrec_stored_is_named_and_removable(store: Path) -> None:
    # an event weighing 1e300, as an older avrec stored it (ingest refuses it now), after the last fit
    with sqlite3.connect(store / "avrec.db") as conn:
        conn.execute("INSERT INTO interactions(user_id, item_id, event, ts, weight) VALUES ('u5', 'i0', '', 1, 1e300)")
    proc = run_avrec(store, "recommend", "--all-users", "--format", "csv")
    fails(proc, 1, "'u5'", "could not be scored")
    served = {line.split(",")[0] for line in proc.stdout.splitlines()[1:]}
    assert len(served) == 39 and "u5" not in served, "everyone else is served"
    model = active_model(store)
    fails(run_avrec(store, "fit"), 1, "'u5'", "'i0'", "avrec delete interactions --user u5 --item i0")
    assert active_model(store) == model
    ok(run_avrec(store, "delete", "interactions", "--user", "u5", "--item", "i0"))
    ok(run_avrec(store, "fit"))
    assert "u5," in ok(run_avrec(store, "recommend", "--all-users", "--format", "csv")).stdout


# -- 14.3 text that is not storable UTF-8 ------------------------------------------------------------


def test_lone_surrogate_on_the_last_of_12001_lines_rejects_the_whole_file(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "big.jsonl"
    with log.open("w", encoding="utf-8") as fh:
        for n in range(12_000):
            fh.write(json.dumps({"user_id": f"x{n % 300}", "item_id": f"y{n}"}) + "\n")
        fh.write('{"user_id":"bad","item_id":"\\ud800"}\n')
    before = table_state(store)
    fails(run_avrec(store, "ingest", "interactions", str(log)), 1, "big.jsonl", "line 12001", "surrogate")
    assert table_state(store) == before


@pytest.mark.parametrize(
    "kind, line",
    [
        ("catalog", '{"item_id": "n1", "title": "cut \\udc80 off"}'),
        ("catalog", '{"item_id": "n1", "tags": ["ok", "\\ud83d"]}'),
        ("catalog", '{"item_id": "n1", "extra": {"deep": "\\ud800"}}'),
        ("users", '{"user_id": "n1", "region": "\\udfff"}'),
        ("users", '{"user_id": "n\\u0000"}'),
    ],
)
def test_text_that_cannot_be_stored_rejects_catalogs_and_users(
    store: Path, tmp_path: Path, kind: str, line: str
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"item_id": "good", "user_id": "good"}\n' + line + "\n")
    before = table_state(store)
    fails(run_avrec(store, "ingest", kind, str(path)), 1, "t.jsonl", "line 2")
    assert table_state(store) == before


def test_a_nul_in_an_id_is_named(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "nul.csv"
    log.write_bytes(b"user_id,item_id\nu1,i1\nu2,i2\x00\n")
    before = table_state(store)
    fails(run_avrec(store, "ingest", "interactions", str(log)), 1, "nul.csv", "line 3", "NUL")
    assert table_state(store) == before


# -- 14.4 data printed as data -----------------------------------------------------------------------


def _shows_data_as_data(out: str) -> None:
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b" in out  # the escape is shown, visibly


def test_tables_show_titles_and_ids_as_typed(store: Path) -> None:
    # u1's history avoids the hostile items, so they are among its 30 recommendations
    out = ok(run_avrec(store, "recommend", "--user", "u1", "-k", "30", "--format", "table")).stdout
    assert "[red]x[/red]" in out
    for item, title in HOSTILE.items():
        shown = ok(run_avrec(store, "explain", "--user", "u1", "--item", item, "--format", "table")).stdout
        if "\x1b" in title:
            _shows_data_as_data(shown)
        else:
            assert title in shown.replace("\n", ""), shown
    info = ok(run_avrec(store, "info", "--format", "table")).stdout
    assert "Traceback" not in info


def test_error_lines_escape_control_characters(store: Path) -> None:
    err = fails(run_avrec(store, "explain", "--user", "\x1b]0;pwned\x07", "--item", "i1"), 1, "unknown user")
    _shows_data_as_data(err)


# -- 14.5 sidecars and JSON Lines: size and depth ------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pictures")
    out = {}
    for name, colour, size in (("a.png", "red", "32x32"), ("b.png", "blue", "32x32"), ("c.png", "green", "40x32")):
        ffmpeg("-f", "lavfi", "-i", f"color={colour}:s={size}", "-frames:v", "1", "-update", "1", root / name)
        out[name] = root / name
    return out


@pytest.mark.parametrize(
    "sidecar, says",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"title": "t", "extra": ' + "[" * 40 + "1" + "]" * 40 + "}", "nests deeper than"),
        ('{"title": "' + "x" * (2 << 20) + '"}', "larger than 1 MiB"),
        ('{"title": "\\ud800"}', "surrogate"),
    ],
)
def test_one_bad_sidecar_never_stops_the_other_files(
    store: Path, tmp_path: Path, pictures: dict[str, Path], sidecar: str, says: str
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(pictures["a.png"], folder / "a.png")
    shutil.copy(pictures["b.png"], folder / "b.png")
    (folder / "a.json").write_text(sidecar)
    stderr = fails(run_avrec(store, "ingest", "media", str(folder)), 1, "a.json", says)
    assert stderr.count("a.json") == 1, "each failure is printed once"
    with db(store) as conn:
        assert conn.execute("SELECT item_id FROM media").fetchall() == [("b",)]


def test_deep_jsonl_line_is_malformed_json(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "deep.jsonl"
    log.write_text('{"user_id": "u1", "item_id": "i1"}\n{"user_id": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    before = table_state(store)
    fails(run_avrec(store, "ingest", "interactions", str(log)), 1, "deep.jsonl", "line 2: malformed JSON")
    assert table_state(store) == before


# -- 14.7 non-regular files ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["interactions", "catalog", "users"])
def test_a_device_or_fifo_where_a_file_is_expected_is_refused(store: Path, tmp_path: Path, kind: str) -> None:
    zero = tmp_path / "events.csv"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    before = table_state(store)
    for path in (zero, fifo):
        fails(run_avrec(store, "ingest", kind, str(path), timeout=30), 1, path.name, "not a regular file")
    assert table_state(store) == before
    for option in ("--users", "--candidates"):
        extra = ("--all-users",) if option == "--candidates" else ()
        fails(run_avrec(store, "recommend", option, str(zero), *extra, timeout=30), 1, "not a regular file")


def test_report_plot_must_be_a_png(store: Path, tmp_path: Path, pictures: dict[str, Path]) -> None:
    text = tmp_path / "secret.png"
    text.write_text("root:x:0:0\n")
    for plot, says in (("/dev/zero", "not a regular file"), (str(text), "not a PNG")):
        fails(run_avrec(store, "report", "--user", "u1", "--out", str(tmp_path / "r.html"), "--plot", plot), 2,
              "--plot", says)
    assert not (tmp_path / "r.html").exists()
    ok(run_avrec(store, "report", "--user", "u1", "--out", str(tmp_path / "r.html"), "--plot", str(pictures["a.png"])))
    assert "data:image/png;base64" in (tmp_path / "r.html").read_text()


# -- 14.8 image names with %d --------------------------------------------------------------------------


def test_percent_d_in_an_image_name_is_read_literally(store: Path, tmp_path: Path, pictures: dict[str, Path]) -> None:
    folder = tmp_path / "pct"
    folder.mkdir()
    shutil.copy(pictures["c.png"], folder / "x%d.png")  # 40 px wide, green
    shutil.copy(pictures["a.png"], folder / "x1.png")  # 32 px wide, red: what an image sequence would read
    ok(run_avrec(store, "ingest", "media", str(folder)))
    with db(store) as conn:
        widths = dict(conn.execute("SELECT item_id, width FROM media").fetchall())
    assert widths == {"x%d": 40, "x1": 32}
    from avrec.media.frames import load_image

    frame = load_image(folder / "x%d.png", short_side=16)
    red, green, blue = (int(v) for v in frame.rgb[4, 4])
    assert green > 100 and red < 50 and blue < 50, (red, green, blue)


# -- 14.9 one line instead of a traceback ----------------------------------------------------------------


def test_disk_full_during_ingest_says_how_much_was_stored(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "many.csv"
    with log.open("w") as fh:
        fh.write("user_id,item_id,timestamp\n")
        for n in range(60_000):
            fh.write(f"w{n % 2000},i{n % 30},{1_600_000_000 + n}\n")
    before = table_state(store)
    size = (store / "avrec.db").stat().st_size
    err = fails(limited(store, size + (1 << 20), "ingest", "interactions", str(log)), 1, "many.csv",
                "rows were stored", "run the command again")
    assert integrity(store) == "ok"
    after = table_state(store)
    assert set(before["interactions"]) <= set(after["interactions"]), "nothing stored before is lost"
    stored = int(err.split("stopped after ")[1].split(" ")[0].replace(",", ""))
    assert after["counts"]["interactions"] - before["counts"]["interactions"] == stored
    ok(run_avrec(store, "ingest", "interactions", str(log)))  # with room again, the re-run adds the rest
    assert table_state(store)["counts"]["interactions"] == before["counts"]["interactions"] + 60_000


def test_disk_full_during_fit_keeps_the_active_model(store: Path) -> None:
    model = active_model(store)
    # 1024 factors make a model file of about 300 KB; 100 KB leave room for SQLite's shared memory (32 KB)
    fails(limited(store, 100_000, "fit", "--param", "factors=1024"), 1, "free some space")
    assert active_model(store) == model
    assert not [p for p in (store / "models").iterdir() if p.name.endswith(".tmp")]
    ok(run_avrec(store, "recommend", "--user", "u2", "--format", "csv"))


@pytest.mark.slow
def test_disk_full_during_embed_says_how_far_it_got_and_resumes(tmp_path: Path) -> None:
    store = tmp_path / "s"
    catalog = tmp_path / "c.csv"
    catalog.write_text("item_id,title,description\n" + "".join(
        f"t{n},Title {n},A description of clip {n} with rain and a city at night\n" for n in range(200)))
    ok(run_avrec(store, "ingest", "catalog", str(catalog)))
    before = table_state(store)
    # 300 KB of WAL hold some batches of 384-d text vectors, not all 200
    err = fails(limited(store, 300_000, "embed", "--modality", "text"), 1, "embed stopped after storing",
                "run it again to resume", "avrec.db")
    assert integrity(store) == "ok" and table_state(store)["items"] == before["items"]
    assert 0 < table_state(store)["counts"]["vectors"] < 200, err
    ok(run_avrec(store, "embed", "--modality", "text"))
    assert table_state(store)["counts"]["vectors"] == 200


def test_writing_to_a_full_device_is_one_line(store: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*AVREC, "--store", str(store), "--quiet", "recommend", "--all-users", "--format", "csv"],
                              stdout=full, stderr=subprocess.PIPE, text=True, env=avrec_env(), cwd=REPO, check=False)
    fails(proc, 1, "No space left on device")


def _model_file(store: Path) -> Path:
    return store / "models" / f"{active_model(store)}.npz"


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:3000]),
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(b"PK\x03\x04" + os.urandom(5000)),
    ],
    ids=["cut", "empty", "junk"],
)
def test_damaged_model_file_is_named(store: Path, damage: Callable[[Path], None]) -> None:
    path = _model_file(store)
    damage(path)
    before = table_state(store)
    for args in (("recommend", "--users", "-", "--format", "csv"), ("explain", "--user", "u1", "--item", "i2"),
                 ("fit", "--incremental"), ("report", "--user", "u1", "--out", str(store.parent / "r.html"))):
        fails(run_avrec(store, *args, input="u1\n"), 1, path.name)
    assert table_state(store) == before


def test_damaged_index_files_are_named(store: Path) -> None:
    key = active_model(store)
    meta = store / "indexes" / f"{key}.json"
    good = meta.read_text()
    meta.write_text('{"dim": ')
    fails(run_avrec(store, "recommend", "--users", "-", "--ann", input="u1\n"), 1, meta.name)
    meta.write_text(good)
    (store / "indexes" / f"{key}.ann").write_bytes(b"")
    fails(run_avrec(store, "recommend", "--users", "-", "--ann", input="u1\n"), 1, key)


def test_damaged_database_pages_are_named(store: Path) -> None:
    path = store / "avrec.db"
    with sqlite3.connect(path) as conn:  # fold the WAL in, so the damage below hits the only copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as fh:
        for offset in range(size // 2, size, 8192):
            fh.seek(offset + 8)
            fh.write(os.urandom(3000))
    for args in (("info",), ("recommend", "--user", "u1"), ("recommend", "--all-users"), ("fit",),
                 ("forget", "--user", "u1")):
        fails(run_avrec(store, *args), 1, "avrec.db", "damaged")


@pytest.mark.parametrize(
    "column, value",
    [("path", b"\x00\xff"), ("params", "{not json"), ("report", "[1, 2]"), ("created_at", "soon")],
)
def test_a_garbled_model_record_is_named(store: Path, column: str, value: object) -> None:
    key = active_model(store)
    with sqlite3.connect(store / "avrec.db") as conn:  # what a damaged page can leave in a row
        conn.execute(f"UPDATE models SET {column} = ? WHERE model_key = ?", (value, key))
    for args in (("info",), ("recommend", "--user", "u1"), ("fit",)):
        fails(run_avrec(store, *args), 1, "avrec.db", "damaged", key)


def test_report_out_a_directory_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    fails(run_avrec(store, "report", "--user", "u1", "--out", str(tmp_path)), 2, "--out", "is a directory")


@pytest.mark.parametrize(
    "param, says",
    [
        ("factors=100000", "factors=100000"),
        ("alpha=1e39", "alpha="),
        ("alpha=NaN", "alpha=nan"),
        ("alpha=abc", "alpha='abc'"),
        ("iterations=-1", "iterations=-1"),
        ("tune=3", "tune=3"),
    ],
)
def test_absurd_params_are_usage_errors(store: Path, param: str, says: str) -> None:
    model = active_model(store)
    fails(run_avrec(store, "fit", "--param", param), 2, "--param", says)
    assert active_model(store) == model


def test_absurd_k_is_a_usage_error(store: Path) -> None:
    for args in (("recommend", "--user", "u1", "--ann"), ("recommend", "--all-users"), ("similar", "i1")):
        fails(run_avrec(store, *args, "-k", "600000000"), 2, "-k")


def test_holdout_and_tune_on_tiny_data_are_one_line(tmp_path: Path) -> None:
    store = tmp_path / "tiny"
    log = tmp_path / "tiny.csv"
    log.write_text("user_id,item_id\nu1,i1\nu2,i2\nu1,i2\n")
    ok(run_avrec(store, "ingest", "interactions", str(log)))
    fails(run_avrec(store, "fit", "--holdout", "0.5"), 1, "--holdout 0.5", "too few interactions")
    ok(run_avrec(store, "fit", "--tune"))  # tuning on two users is little use, but it is no failure


@pytest.mark.slow
def test_a_pickle_as_clip_weights_is_refused_without_running_it(tmp_path: Path, pictures: dict[str, Path]) -> None:
    store = tmp_path / "s"
    ok(run_avrec(store, "ingest", "media", str(pictures["a.png"])))
    evil = tmp_path / "evil.pt"
    # a pickle that holds a Python object rather than tensors (the weights-only loader refuses it)
    evil.write_bytes(b"\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\tfractions\x94\x8c\x08Fraction\x94\x93"
                     b"\x94K\x01K\x03\x86\x94R\x94.")
    err = fails(run_avrec(store, "embed", "--modality", "visual", "--clip-weights", str(evil)), 1, "evil.pt",
                "weights_only=False")
    assert "do NOT" in err


# -- 14.11 the smaller list ----------------------------------------------------------------------------


def test_report_out_follows_a_symlink_and_dash_is_stdout(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    ok(run_avrec(store, "report", "--user", "u1", "--out", str(link)))
    assert link.is_symlink() and target.read_text().startswith("<!doctype html>")
    proc = ok(run_avrec(store, "report", "--user", "u1", "--out", "-", cwd=tmp_path))
    assert proc.stdout.startswith("<!doctype html>") and not (tmp_path / "-").exists()


def test_threads_are_capped_with_a_message(store: Path) -> None:
    proc = ok(loud(store, "--threads", "512", "recommend", "--user", "u1", "--format", "csv"))
    assert "--threads 512" in proc.stderr and "using" in proc.stderr
    assert proc.stdout.startswith("user_id,item_id,rank,score")


def test_world_writable_store_is_warned_about(store: Path) -> None:
    store.chmod(0o777)
    proc = ok(loud(store, "info", "--format", "json"))
    assert "warning" in proc.stderr and "chmod" in proc.stderr and str(store) in proc.stderr
    store.chmod(0o700)
    assert "warning" not in ok(loud(store, "info", "--format", "json")).stderr


# -- taking data out: forget, delete ------------------------------------------------------------------


def _counts(store: Path, sql: str, *args: str) -> int:
    with db(store) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def test_forget_removes_every_trace_of_a_user(store: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id,region\nu7,north\nu8,south\n")
    ok(run_avrec(store, "ingest", "users", str(users)))
    ok(run_avrec(store, "recommend", "--user", "u7"))
    before = table_state(store)
    report = json.loads(ok(run_avrec(store, "forget", "--user", "u7", "--output-format", "json")).stdout)
    assert report["removed"] == {"users": 1, "interactions": 12} and report["model"] is not None
    assert report["older_models_removed"] >= 1 and len(list((store / "models").glob("*.npz"))) == 1
    assert _counts(store, "SELECT count(*) FROM interactions WHERE user_id = ?", "u7") == 0
    assert _counts(store, "SELECT count(*) FROM users WHERE user_id = ?", "u7") == 0
    after = table_state(store)
    assert [r for r in before["interactions"] if r[1] != "u7"] == after["interactions"]  # the rest intact
    assert _counts(store, "SELECT count(*) FROM users WHERE user_id = 'u8' AND attrs LIKE '%south%'") == 1
    # the model was updated in place: it no longer knows u7, and the fast path holds no vector of it
    fails(run_avrec(store, "recommend", "--user", "u7"), 1, "u7")
    assert b"u7" not in b"".join(p.read_bytes() for p in (store / "indexes").rglob("user_ids.npy"))
    assert b"north" not in (store / "avrec.db").read_bytes(), "deleted rows are overwritten"


def test_forget_an_unknown_user_names_it_and_exits_1(store: Path) -> None:
    before = table_state(store)
    proc = run_avrec(store, "forget", "--user", "nobody", "--output-format", "json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["missing"] == ["nobody"]
    assert table_state(store) == before


def test_delete_items_removes_them_everywhere_and_the_model_follows(store: Path) -> None:
    proc = ok(run_avrec(store, "delete", "items", "i2", "[red]x[/red]", "--output-format", "json"))
    report = json.loads(proc.stdout)
    assert report["removed"]["items"] == 2 and report["removed"]["interactions"] > 0
    assert _counts(store, "SELECT count(*) FROM interactions WHERE item_id IN ('i2', '[red]x[/red]')") == 0
    recs = ok(run_avrec(store, "recommend", "--all-users", "-k", "30", "--format", "csv")).stdout
    assert ",i2," not in recs and "[red]x[/red]" not in recs


def test_delete_interactions_by_pair_user_and_file(store: Path, tmp_path: Path) -> None:
    n_u3 = _counts(store, "SELECT count(*) FROM interactions WHERE user_id = 'u3'")
    first = _counts(store, "SELECT count(*) FROM interactions WHERE user_id = 'u4'")
    with db(store) as conn:
        item = conn.execute("SELECT item_id FROM interactions WHERE user_id = 'u3' LIMIT 1").fetchone()[0]
    pair = json.loads(ok(run_avrec(store, "delete", "interactions", "--user", "u3", "--item", item,
                                   "--output-format", "json", "--no-update")).stdout)
    assert pair["removed"] == {"interactions": 1} and "fit --incremental" in pair["advice"]
    ok(run_avrec(store, "delete", "interactions", "--user", "u3", "--no-update"))
    assert _counts(store, "SELECT count(*) FROM interactions WHERE user_id = 'u3'") == 0 < n_u3
    assert _counts(store, "SELECT count(*) FROM users WHERE user_id = 'u3'") == 1, "the user stays"
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id\nu4,i0\n,\n")
    fails(run_avrec(store, "delete", "interactions", "--file", str(bad)), 1, "bad.csv", "line 3")
    assert _counts(store, "SELECT count(*) FROM interactions WHERE user_id = 'u4'") == first, "nothing deleted"
    good = tmp_path / "good.jsonl"
    good.write_text('{"user_id": "u4"}\n')
    ok(run_avrec(store, "delete", "interactions", "--file", str(good)))
    assert _counts(store, "SELECT count(*) FROM interactions WHERE user_id = 'u4'") == 0


def test_delete_waits_for_no_one_while_fit_holds_the_lock(store: Path) -> None:
    import fcntl

    fd = os.open(store / ".writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = table_state(store)
        fails(run_avrec(store, "forget", "--user", "u1"), 1, "busy")
        assert table_state(store) == before
    finally:
        os.close(fd)


def test_every_command_has_help(store: Path) -> None:
    for args in (("forget",), ("delete", "items"), ("delete", "interactions")):
        assert "Usage" in ok(run_avrec(store, *args, "--help")).stdout
