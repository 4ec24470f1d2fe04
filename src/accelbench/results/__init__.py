"""Typed records, their statistics and the store. The store's default location is here, so that the
CLI can name it without loading the store."""

from __future__ import annotations

import os

DEFAULT_DB = "accelbench.db"
DB_ENV = "ACCELBENCH_DB"


def default_db_path() -> str:
    """Where the results store is when none is given: $ACCELBENCH_DB, else ./accelbench.db."""
    return os.environ.get(DB_ENV) or DEFAULT_DB
