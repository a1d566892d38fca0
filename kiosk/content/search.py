"""Finding exercises: SQLite FTS5 over each language variant's title, summary, techniques and
script text (the indexes are created in kiosk.content.schema).

Every word the person typed is quoted (so FTS syntax such as `"`, `*`, `NEAR` or `-` is just
text) and matched as a prefix (so "breat" finds "breathing" while typing). The filters
(language, browse visibility, techniques) are tokens in each variant's `search_meta` column,
so the FTS engine narrows the rows itself instead of each match being joined to the tables.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

import sqlite_utils

from kiosk.store import write_transaction

__all__ = [
    "SEARCH_INDEXES",
    "filter_token",
    "fts_query",
    "ranked_variant_ids",
    "rebuild_search_indexes",
    "search_index_problems",
    "search_meta",
]

SEARCH_INDEXES = ("variants_fts", "variants_head_fts")
_MAX_QUERY_WORDS = 12


def fts_query(text: str) -> str | None:
    """The FTS5 MATCH expression for what a person typed, or None when it holds no word.

    Each word becomes a quoted string with a prefix star: quoting makes every character
    literal (no column filters, operators or syntax errors), the star lets a half-typed
    word match. Words are ANDed. Words are cut where the tokenizer cuts them (underscores
    too), so that each quoted string is exactly one token.
    """
    words = re.findall(r"[^\W_]+", text)[:_MAX_QUERY_WORDS]
    if not words:
        return None
    return " ".join('"' + w + '"*' for w in words)


def filter_token(kind: str, value: str) -> str:
    """A search_meta token: exact (the value in hex) and never a word someone types.

    Kinds: "l" a variant in this language, "b" browsable in this language (public and not
    hidden), "t" this technique.
    """
    return f"k{kind}{value.encode().hex()}"


def search_meta(lang: str, visibility: str, techniques: Iterable[str], hidden: bool) -> str:
    """The filter tokens a variant carries in its search_meta column (see schema.m001)."""
    tokens = [filter_token("l", lang)] + [filter_token("t", t) for t in techniques]
    if visibility == "public" and not hidden:
        tokens.append(filter_token("b", lang))
    return " ".join(tokens)


def ranked_variant_ids(db: sqlite_utils.Database, filters: str, match: str, limit: int | None) -> list[int]:
    """Variant rowids in three tiers, each word of the query matching:
    1. in the title, best first (bm25);
    2. in the title, summary and techniques together, in catalogue order;
    3. anywhere, the script included, in catalogue order.

    `filters` is "" or FTS column filters on search_meta ending in " AND ". Ranking every
    match would cost time in proportion to the matches, which in a large catalogue is most
    of it for a common word; titles are short and few match, and the later tiers go in
    rowid order, so that with a limit they stop once the screen is full.
    """
    cap = -1 if limit is None else limit
    tiers = [
        ("variants_head_fts", "{title}", "ORDER BY bm25(variants_head_fts)"),
        ("variants_head_fts", "{title summary techniques}", ""),
        ("variants_fts", "{title summary techniques script}", ""),
    ]
    ids: list[int] = []
    seen: set[int] = set()
    for table, columns, order in tiers:
        # Up to `limit` rows: enough even when every earlier match is among them.
        rows = db.execute(
            f"SELECT rowid FROM {table} WHERE {table} MATCH ? {order} LIMIT ?",
            [f"{filters}{columns}: ({match})", cap],
        )
        for (rowid,) in rows:
            if rowid not in seen:
                seen.add(rowid)
                ids.append(rowid)
        if limit is not None and len(ids) >= limit:
            return ids[:limit]
    return ids


def search_index_problems(db: sqlite_utils.Database) -> list[str]:
    """What FTS5's integrity-check finds wrong with the search indexes ([] when healthy)."""
    problems = []
    for name in SEARCH_INDEXES:
        try:
            db.execute(f"INSERT INTO {name} ({name}, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def rebuild_search_indexes(db: sqlite_utils.Database) -> None:
    """Rebuild both FTS indexes from the variants' rows (after damage found at start)."""
    with write_transaction(db):
        for name in SEARCH_INDEXES:
            db.execute(f"INSERT INTO {name} ({name}) VALUES ('rebuild')")
