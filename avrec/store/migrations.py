"""Numbered schema migrations. Append new ones; never edit a released one."""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
        CREATE TABLE items (
            item_id     TEXT PRIMARY KEY,
            title       TEXT,
            description TEXT,
            tags        TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
            creator     TEXT,
            path        TEXT,                         -- media file named by the catalog or ingested
            kind        TEXT,                         -- video | audio | image | NULL (metadata only)
            attrs       TEXT NOT NULL DEFAULT '{}',   -- JSON object of other catalog columns
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE INDEX items_path ON items(path);

        CREATE TABLE users (
            user_id    TEXT PRIMARY KEY,
            attrs      TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );

        CREATE TABLE interactions (
            id      INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            item_id TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
            event   TEXT NOT NULL DEFAULT '',
            ts      REAL,                               -- epoch seconds, NULL when unknown
            weight  REAL NOT NULL
        );
        -- The same event of the same user on the same item at the same time is one event.
        CREATE UNIQUE INDEX interactions_dedup ON interactions(user_id, item_id, event, ifnull(ts, -1.0e300));
        CREATE INDEX interactions_item ON interactions(item_id);

        CREATE TABLE media (
            item_id     TEXT PRIMARY KEY REFERENCES items(item_id) ON DELETE CASCADE,
            path        TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            size        INTEGER NOT NULL,
            mtime       REAL NOT NULL,
            duration    REAL,
            has_video   INTEGER NOT NULL DEFAULT 0,
            has_audio   INTEGER NOT NULL DEFAULT 0,
            width       INTEGER,
            height      INTEGER,
            fps         REAL,
            video_codec TEXT,
            audio_codec TEXT,
            container   TEXT,
            probe       TEXT NOT NULL DEFAULT '{}',
            ingested_at REAL NOT NULL
        );
        CREATE INDEX media_path ON media(path);

        CREATE TABLE vectors (
            item_id     TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
            modality    TEXT NOT NULL,                -- text | visual | audio
            model_id    TEXT NOT NULL,                -- encoder id and version
            dim         INTEGER NOT NULL,
            vec         BLOB NOT NULL,                -- little-endian float32
            source_hash TEXT NOT NULL,                -- hash of what was encoded
            meta        TEXT NOT NULL DEFAULT '{}',
            created_at  REAL NOT NULL,
            PRIMARY KEY (item_id, modality)
        );

        CREATE TABLE frames (
            item_id  TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
            idx      INTEGER NOT NULL,
            ts       REAL NOT NULL,                   -- seconds into the media
            kind     TEXT NOT NULL,                   -- uniform | scene | image
            model_id TEXT NOT NULL,
            dim      INTEGER NOT NULL,
            vec      BLOB NOT NULL,
            thumb    BLOB,                            -- small JPEG for reports
            PRIMARY KEY (item_id, idx)
        );

        CREATE TABLE transcripts (
            item_id     TEXT PRIMARY KEY REFERENCES items(item_id) ON DELETE CASCADE,
            model_id    TEXT NOT NULL,
            source_hash TEXT NOT NULL,
            language    TEXT,
            has_speech  INTEGER NOT NULL,
            text        TEXT NOT NULL,
            segments    TEXT NOT NULL DEFAULT '[]',   -- JSON [{start, end, text}]
            created_at  REAL NOT NULL
        );

        CREATE TABLE models (
            model_key    TEXT PRIMARY KEY,
            kind         TEXT NOT NULL,
            path         TEXT NOT NULL,               -- relative to the store root
            params       TEXT NOT NULL DEFAULT '{}',
            report       TEXT NOT NULL DEFAULT '{}',
            created_at   REAL NOT NULL
        );

        CREATE TABLE store_state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "visual labels: the ImageNet classes an item's frames show",
        """
        CREATE TABLE visual_labels (
            item_id  TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
            rank     INTEGER NOT NULL,                -- 0 = the label its frames show most
            label    TEXT NOT NULL,                   -- an ImageNet-1k class name, not free text
            score    REAL NOT NULL,                   -- summed probability over frames / frame count
            frames   INTEGER NOT NULL,                -- frames showing it above the confidence floor
            ts       REAL NOT NULL,                   -- seconds into the media of the clearest frame
            model_id TEXT NOT NULL,
            PRIMARY KEY (item_id, rank)
        );
        CREATE INDEX visual_labels_label ON visual_labels(label);
        """,
    ),
    (
        3,
        "no index on interactions(item_id): bulk loads keep one index up to date, not two",
        # Every event was written into two B-trees: the dedup index (which ingest fills in order, sorted by
        # user and item) and this one (filled at random places, the larger half of a 5M-event load's time).
        # Only deleting items looked events up by item; `Store.delete_items` does it in one pass now.
        """
        DROP INDEX IF EXISTS interactions_item;
        """,
    ),
]


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply every migration newer than the database, each in its own transaction."""
    applied: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for number, name, sql in MIGRATIONS:
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if current_version(conn) >= number:
                conn.execute("COMMIT")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
