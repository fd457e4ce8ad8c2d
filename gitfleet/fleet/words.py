"""Counts in words, for messages people read ("1 commit", "2 commits")."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 commit``, ``2 commits``, ``0 commits``; ``many`` for nouns that add more than s."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
