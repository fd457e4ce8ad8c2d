"""``gitfleet clean``: remove what a run left behind, never work that has not landed.

For each agent: its worktree and branch go when the branch's commits are all on the target
(by identity or by patch) and the worktree has no uncommitted changes; its id is released
when it is still unclaimed. Anything else is kept and named, unless ``force``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitfleet.config import Config
from gitfleet.errors import GitfleetError, UsageError
from gitfleet.fleet import agents, lander, runstate, worktrees
from gitfleet.fleet.runstate import AgentState, RunState, RunStore
from gitfleet.fleet.supervise import signal_group
from gitfleet.git.repo import Repo
from gitfleet.ids import verbs


@dataclass
class CleanResult:
    removed: list[str] = field(default_factory=list)  # branches whose worktree+branch went
    released: list[str] = field(default_factory=list)  # ids given back
    kept: list[str] = field(default_factory=list)  # why each kept agent was kept
    runs_removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def unlanded_commits(repo: Repo, upstream: str, branch: str) -> list[str]:
    """``<short sha> <subject>`` of the branch's commits whose change is not on upstream."""
    proc = repo.git("cherry", "-v", upstream, f"refs/heads/{branch}", check=False)
    if proc.returncode != 0:
        return []
    return [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ")]


def branch_exists(repo: Repo, branch: str) -> bool:
    return (
        repo.git("rev-parse", "-q", "--verify", f"refs/heads/{branch}", check=False).returncode == 0
    )


def clean(
    repo: Repo, cfg: Config, run: str | None = None, *, all_runs: bool = False, force: bool = False
) -> CleanResult:
    """Clean one run (default: the newest) or every run."""
    if all_runs and run is not None:
        raise UsageError("give a RUN or --all, not both")
    states = runstate.load_all(repo) if all_runs else [runstate.load(repo, run)]
    result = CleanResult()
    for state in states:
        _clean_run(repo, cfg, state, force, result)
    return result


def _clean_run(repo: Repo, cfg: Config, state: RunState, force: bool, result: CleanResult) -> None:
    if state.alive and not force:
        result.kept.append(
            f"run {state.run} is still running (spawn pid {state.spawn_pid}); stop it "
            "(Ctrl-C) or pass --force"
        )
        return
    upstream = lander.fresh_target(repo, cfg, state.target)
    kept_any = False
    for agent in state.agents:
        if agent.cleaned:
            continue
        why = _blockers(repo, upstream, agent)
        if why and not force:
            kept_any = True
            result.kept.append(
                f"{agent.name} ({agent.branch}, {agent.worktree}): " + "; ".join(why)
            )
            continue
        _remove_agent(repo, cfg, agent, result)
    if kept_any:
        # Remember what went, for the next clean and for `status`; the spawn is gone, so
        # nobody else writes this file now.
        RunStore(repo, state).save()
    else:
        shutil.rmtree(runstate.runs_dir(repo) / state.run, ignore_errors=True)
        root = worktrees.worktree_root(repo, cfg)
        with contextlib.suppress(OSError):
            (root / state.run).rmdir()
        if root == worktrees.default_root(repo):  # ours alone: gone once it is empty
            with contextlib.suppress(OSError):
                root.rmdir()
        result.runs_removed.append(state.run)


def _blockers(repo: Repo, upstream: str, agent: AgentState) -> list[str]:
    why = []
    if agent.phase in (runstate.STARTING, runstate.RUNNING) and runstate.pid_alive(
        agent.pid, agent.pid_start
    ):
        why.append(f"its process {agent.pid} is still running (its spawn is gone)")
    changes = worktrees.dirty(Path(agent.worktree), agents.scratch_patterns(agent.argv))
    if changes:
        shown = ", ".join(c[3:] for c in changes[:5]) + (" ..." if len(changes) > 5 else "")
        why.append(f"{len(changes)} uncommitted change(s): {shown}")
    if branch_exists(repo, agent.branch):
        commits = unlanded_commits(repo, upstream, agent.branch)
        if commits:
            shown = "; ".join(commits[:3]) + (" ..." if len(commits) > 3 else "")
            why.append(f"{len(commits)} commit(s) not on the target: {shown}")
    return why


def _remove_agent(repo: Repo, cfg: Config, agent: AgentState, result: CleanResult) -> None:
    """Remove what the blockers check (or --force) has cleared: the worktree goes even with
    the agent CLI's own scratch files in it, which `git worktree remove` alone refuses."""
    if agent.phase in (runstate.STARTING, runstate.RUNNING) and runstate.pid_alive(
        agent.pid, agent.pid_start
    ):
        assert agent.pid is not None
        # An orphan of a crashed spawn: it leads its own process group (see supervise.py).
        signal_group(agent.pid, signal.SIGKILL)
    tree = Path(agent.worktree)
    registered = tree.exists() or _is_registered(repo, tree)
    if registered:
        worktrees.remove(repo, tree, force=True)
    if branch_exists(repo, agent.branch):
        repo.git("branch", "-D", agent.branch)
    agent.cleaned = True
    result.removed.append(agent.branch)
    if agent.id:
        _release_if_unclaimed(repo, cfg, agent.id, result)


def _is_registered(repo: Repo, tree: Path) -> bool:
    listing = repo.git("worktree", "list", "--porcelain", check=False).stdout
    return f"worktree {tree}" in listing.splitlines()


def _release_if_unclaimed(repo: Repo, cfg: Config, ident: str, result: CleanResult) -> None:
    try:
        state = verbs.open_ledger(repo, cfg).folded().get(ident)
        if state is None or state.status not in ("allocated", "committed"):
            return
        # verbs.release refuses ids any branch (the target included) claims: exactly the
        # "never claimed" rule; such an id stays as it is.
        result.released.extend(verbs.release(repo, cfg, [ident]))
    except GitfleetError:
        return
