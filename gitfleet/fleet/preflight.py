"""What spawn checks before it allocates an id or creates a worktree.

A run that cannot work should fail in one second with one message, not after ids were
allocated and worktrees made: the agent's command is on PATH, its placeholders are ones
spawn fills in, git can commit (an identity is set), and with landing on the remote
answers and has the target branch. Every problem found is listed, each with its fix.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence

from gitfleet.config import Config
from gitfleet.errors import UsageError
from gitfleet.fleet.agents import INSTALL_HINTS, PLACEHOLDERS
from gitfleet.fleet.words import plural
from gitfleet.git.repo import Repo

_BRACED_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def command_problems(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The agent's program must resolve the way its process will look it up."""
    program = argv[0]
    if "{" in program or ("/" in program and not os.path.isabs(program)):
        return []  # filled in per agent, or relative to a worktree that does not exist yet
    if shutil.which(program, path=env.get("PATH", os.defpath)):
        return []
    hint = INSTALL_HINTS.get(os.path.basename(program))
    fix = f"install it: {hint}" if hint else "install it, or fix --agent-cmd / [agents]"
    where = "does not exist or is not executable" if "/" in program else "is not on PATH"
    return [f"the agent command {program!r} {where}; {fix}"]


def placeholder_problems(argv: Sequence[str]) -> list[str]:
    unknown = sorted({m for arg in argv for m in _BRACED_RE.findall(arg)} - set(PLACEHOLDERS))
    if not unknown:
        return []
    names = ", ".join("{" + n + "}" for n in unknown)
    known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
    return [f"the agent command uses unknown placeholder(s) {names}; known: {known}"]


def identity_problems(repo: Repo) -> list[str]:
    """Agents commit as the operator: git must know who that is (`git var` fails when not)."""
    missing = [
        who
        for who in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
        if repo.git("var", who, check=False).returncode != 0
    ]
    if not missing:
        return []
    return [
        "git has no identity to commit with; set one: "
        '`git config --global user.name "Your Name"` and '
        "`git config --global user.email you@example.com`"
    ]


def remote_problems(repo: Repo, cfg: Config, target: str) -> list[str]:
    """Landing pushes to ``cfg.remote``: it must be configured, answer, and have ``target``."""
    remote, off = cfg.remote, "or spawn with --no-land"
    url = repo.git("config", "--get", f"remote.{remote}.url", check=False).stdout.strip()
    if not url:
        fix = f"`git remote add {remote} URL`, set [fleet] remote in gitfleet.toml, {off}"
        return [f"landing needs the remote {remote!r}, which is not configured; {fix}"]
    proc = repo.git("ls-remote", url, f"refs/heads/{target}", check=False)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        fix = f"check `git ls-remote {remote}`, {off}"
        return [f"the remote {remote!r} ({url}) is not reachable: {why}; {fix}"]
    if not proc.stdout.strip():
        fix = f"push it first (`git push {remote} {target}`), set [fleet] target, {off}"
        return [f"the remote {remote!r} has no branch {target!r} to land on; {fix}"]
    return []


def check(
    repo: Repo,
    cfg: Config,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    land: bool,
    target: str,
) -> None:
    """Raise one :class:`UsageError` listing everything that stops this run from working."""
    problems = command_problems(argv, env) + placeholder_problems(argv)
    problems += identity_problems(repo)
    if land:
        problems += remote_problems(repo, cfg, target)
    if problems:
        count = plural(len(problems), "problem")
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UsageError(f"spawn did not start anything ({count}):\n{lines}")
