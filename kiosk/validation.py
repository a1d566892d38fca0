"""One vocabulary of value checks for hand-written TOML: config.toml (kiosk.config) and a
pack's pack.toml (kiosk.content.manifest) word their problems the same way:
"<where>: expected <what>, found <value>" and "unknown key; did you mean "<key>"?"."""

from __future__ import annotations

import difflib
from typing import Any

__all__ = ["describe_value", "did_you_mean", "expected", "is_number", "is_text_list", "is_whole_number", "one_of"]


def describe_value(value: Any) -> str:
    """A TOML value as an error message shows it ("found ...")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value[:40]}{"..." if len(value) > 40 else ""}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)[:40]  # numbers, and TOML dates and times as written


def expected(what: str, value: Any) -> str:
    """'expected <what>, found <the value>'."""
    return f"expected {what}, found {describe_value(value)}"


def one_of(options: tuple[str, ...] | list[str]) -> str:
    """'"a" or "b"' for two choices, 'one of "a", "b", "c"' for more."""
    quoted = [f'"{o}"' for o in options]
    return " or ".join(quoted) if len(quoted) == 2 else "one of " + ", ".join(quoted)


def did_you_mean(key: str, known: list[str]) -> str:
    """The hint after "unknown key": the closest known key, or the list of them."""
    guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f'; did you mean "{guess[0]}"?' if guess else f"; known keys here: {', '.join(known)}"


def is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is no number


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
