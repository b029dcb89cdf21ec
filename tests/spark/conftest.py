"""Spark fixtures: one `local[2]` session for the whole package, skipped cleanly without pyspark or Java."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'avrec[spark]')"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "Java is not installed (Spark needs Java 17)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _spark_missing()
    if reason is None:
        return
    for item in items:
        if "spark" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A small local session the engine's functions reuse (they never stop a session they did not start)."""
    from avrec.engines.spark import spark_session

    conf = {"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    with spark_session("local[2]", conf=conf, app_name="avrec-tests") as session:
        yield session
