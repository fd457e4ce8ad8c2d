"""``[land.regenerate]``: generated files are rebuilt by their command, never merged.

A lockfile merged by lines or by value is a file its tool would not have written. So when
the branch and the target both changed a file that a ``[land.regenerate]`` glob names
(conflicted, in which case the ladder kept the target's version for now, or merged
cleanly), its command runs in a scratch worktree of the rebased commit, and whatever it
writes to the matching files lands as one more commit, ``gitfleet: regenerate <files>``.
The landing gate and ``[land] check`` then judge that commit like any other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from gitfleet.git import no_git_env, run
from gitfleet.git.rebase import Rebased
from gitfleet.git.repo import Repo
from gitfleet.land import scratch
from gitfleet.synthesis.attributes import matches
from gitfleet.synthesis.ladder import REGENERATE


class Failed(NamedTuple):
    """A regenerate command failed; nothing lands."""

    command: str
    output: str
    returncode: int


def due(
    repo: Repo, commands: Mapping[str, str], old: str, head: str, rebased: Rebased
) -> dict[str, list[str]]:
    """Command -> the generated files it must rebuild for this landing."""
    if not commands:
        return {}
    base = run(["merge-base", old, head], repo.toplevel, check=False).stdout.strip()
    paths = {p for p, rung in rebased.resolved if rung == REGENERATE}
    if base:
        paths |= _changed(repo, base, old) & _changed(repo, base, head)
    jobs: dict[str, list[str]] = {}
    for path in sorted(paths):
        for glob, command in commands.items():
            if matches(glob, path):
                jobs.setdefault(command, []).append(path)
                break
    return jobs


def _changed(repo: Repo, one: str, two: str) -> set[str]:
    listed = run(["diff", "--name-only", "-z", one, two], repo.toplevel).stdout
    return {p for p in listed.split("\0") if p}


def rebuild(
    repo: Repo, rebased: Rebased, jobs: Mapping[str, Sequence[str]], committer: str
) -> Rebased | Failed:
    """Run each job's command on ``rebased.new_tip``; commit what they rewrote on top."""
    paths = sorted({p for listed in jobs.values() for p in listed})
    with scratch.scratch_worktree(repo, rebased.new_tip) as tree:
        for command in jobs:
            outcome = scratch.run_check(command, tree)
            if not outcome.passed:
                return Failed(command, outcome.output, outcome.returncode)
        env = {**no_git_env(), "GIT_INDEX_FILE": str(tree / ".gitfleet-regenerate-index")}
        run(["read-tree", rebased.new_tip], tree, env=env)
        run(["add", "-A", "--", *paths], tree, env=env)
        new_tree = run(["write-tree"], tree, env=env).stdout.strip()
        os.unlink(tree / ".gitfleet-regenerate-index")
    if new_tree == run(["rev-parse", f"{rebased.new_tip}^{{tree}}"], repo.toplevel).stdout.strip():
        return rebased._replace(resolved=_marked(rebased, paths))
    message = f"gitfleet: regenerate {', '.join(paths)}\n"
    commit = _commit(repo.toplevel, new_tree, rebased.new_tip, message, committer)
    return rebased._replace(
        new_tip=commit, created=[*rebased.created, commit], resolved=_marked(rebased, paths)
    )


def _marked(rebased: Rebased, paths: Sequence[str]) -> tuple[tuple[str, str], ...]:
    kept = [(p, r) for p, r in rebased.resolved if p not in paths]
    return (*kept, *((p, REGENERATE) for p in paths))


def _commit(cwd: Path, tree: str, parent: str, message: str, ident: str) -> str:
    """``commit-tree`` as ``ident`` (a ``git var GIT_COMMITTER_IDENT`` line), author too."""
    person, _, when = ident.rpartition(">")
    name, _, email = person.partition("<")
    env = {**no_git_env()}
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"] = name.strip()
        env[f"GIT_{who}_EMAIL"] = email.strip()
        env[f"GIT_{who}_DATE"] = when.strip()
    return run(["commit-tree", tree, "-p", parent], cwd, input=message, env=env).stdout.strip()
