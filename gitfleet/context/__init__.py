"""Progressive context: a small, relevant pack per agent, built by iterative retrieval.

``build_pack`` is the one entry point (``gitfleet context`` and ``gitfleet spawn --context``
call it).
"""

from gitfleet.context.build import build_pack
from gitfleet.context.result import DEFAULT_BUDGET, MIN_BUDGET, ContextResult, RankedFile

__all__ = ["DEFAULT_BUDGET", "MIN_BUDGET", "ContextResult", "RankedFile", "build_pack"]
