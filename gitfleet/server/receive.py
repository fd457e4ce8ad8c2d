"""``gitfleet hook pre-receive``: the server guard, run by git in the receiving repository.

git passes one ``<old> <new> <ref>`` line per ref on stdin, before any ref moves; a
non-zero exit refuses the whole push. Rules are the target branch's committed config (as
the server has it now), plus the series and guards the pushed config adds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, TextIO

from gitfleet import config
from gitfleet.config import Config
from gitfleet.errors import ConfigError, Refusal
from gitfleet.git import ZERO_OID
from gitfleet.ids.idcheck import EMPTY_TREE, added_rules
from gitfleet.server.bare import Bare, open_bare, rules_at, server_target
from gitfleet.server.ledger_ref import LEDGER_REF, LedgerAt, ledger_update_problems
from gitfleet.server.rules import Push, findings


class Update(NamedTuple):
    old: str
    new: str
    ref: str


def parse_updates(lines: Iterable[str]) -> list[Update]:
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    return updates


class Guard:
    """Judges the ref updates of one push against one repository's rules and ledger."""

    def __init__(self, repo: Bare) -> None:
        self.repo = repo
        self.target = server_target(repo)
        self._ledger: LedgerAt | None = None

    def target_rules(self, update: Update) -> Config:
        """The target's committed rules. A broken file refuses every push, except one to
        the target whose own config parses: the repair (else nothing could repair it)."""
        try:
            return rules_at(self.repo, f"refs/heads/{self.target}")
        except ConfigError as broken:
            if update.ref == f"refs/heads/{self.target}":
                try:
                    return rules_at(self.repo, update.new)
                except ConfigError:
                    pass
            raise ConfigError(
                f"{broken}\n  the target's gitfleet.toml is broken, so pushes cannot be "
                f"checked; push a commit to {self.target} that repairs it"
            ) from None

    def ledger(self) -> LedgerAt:
        """The ledger in this repository as the push found it (an empty one when absent)."""
        if self._ledger is None:
            self._ledger = LedgerAt.of(self.repo)
        return self._ledger

    def judge(self, update: Update) -> list[str]:
        if update.ref == LEDGER_REF:
            return ledger_update_problems(self.repo, update.old, update.new)
        if not update.ref.startswith("refs/heads/") or update.new == ZERO_OID:
            return []  # tags, other refs, deletions: nothing claimed on a branch
        branch = update.ref.removeprefix("refs/heads/")
        base_rules = self.target_rules(update)
        rules = config.with_additions(base_rules, added_rules(self.repo, update.new))
        base = update.old if update.old != ZERO_OID else self._new_branch_base(update.new)
        # The ledger setting is the target's: a pushed config cannot switch the check off.
        ledger = self.ledger() if base_rules.ledger_backend == "remote" else None
        return findings(self.repo, rules, base, update.new, Push(branch, self.target), ledger)

    def _new_branch_base(self, new: str) -> str:
        """What a new branch at ``new`` adds to what this repository already has."""
        listing = self.repo.git("rev-list", "--boundary", new, "--not", "--all").stdout
        lines = listing.splitlines()
        if not lines:
            return new  # every commit is here already: nothing new to judge
        boundary = [line[1:] for line in lines if line.startswith("-")]
        return boundary[0] if boundary else EMPTY_TREE  # no boundary: history from a root


def check_updates(repo: Bare, updates: list[Update]) -> list[str]:
    """Every refusal for one push, ref by ref."""
    guard = Guard(repo)
    found = []
    for update in updates:
        found += [f"{update.ref}: {p}" for p in guard.judge(update)]
    return found


def main(stdin: TextIO) -> int:
    """``gitfleet hook pre-receive``: refuse a push that breaks the id rules."""
    # git runs the hook in the receiving repository with GIT_DIR set (often ".").
    repo = open_bare(Path(os.environ.get("GIT_DIR", ".")).resolve())
    found = check_updates(repo, parse_updates(stdin))
    if found:
        body = "\n".join(f"  - {p}" for p in found)
        raise Refusal(f"push refused by the gitfleet server guard:\n{body}")
    return 0
