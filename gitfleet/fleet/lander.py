"""Landing finished agents' branches one at a time, while the others keep working.

A single thread consumes a queue, so landings are serial (the story's "parallel writing,
serial landing") and the supervisor's loop never waits on a rebase or a push.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitfleet.config import Config
from gitfleet.errors import GitfleetError
from gitfleet.fleet.runstate import AgentState, RunState
from gitfleet.fleet.words import plural
from gitfleet.git.repo import Repo
from gitfleet.ids import claims, verbs

if TYPE_CHECKING:
    from gitfleet.land.result import LandResult

ALREADY = "already-landed"  # every commit is on the target already (the agent pushed itself)
NO_COMMITS = "no-commits"
SKIPPED = "skipped"
OFF = "off"  # --no-land


def fresh_target(repo: Repo, cfg: Config, target: str) -> str:
    """The target as the remote has it now (fetched), or the local branch without a remote."""
    remote_ref = f"refs/remotes/{cfg.remote}/{target}"
    has_remote = (
        repo.git("config", "--get", f"remote.{cfg.remote}.url", check=False).returncode == 0
    )
    if has_remote:
        repo.git("fetch", "-q", cfg.remote, f"+refs/heads/{target}:{remote_ref}", check=False)
        if repo.git("rev-parse", "-q", "--verify", remote_ref, check=False).returncode == 0:
            return remote_ref
    return f"refs/heads/{target}"


def pull_hint(repo: Repo, cfg: Config, target: str) -> str | None:
    """After landing, the local ``target`` is usually behind the remote's: how to catch up
    (None when it is not behind, or there is no local branch or no remote copy)."""
    local, tracking = f"refs/heads/{target}", f"refs/remotes/{cfg.remote}/{target}"
    counts = repo.git("rev-list", "--left-right", "--count", f"{local}...{tracking}", check=False)
    if counts.returncode != 0:
        return None
    ahead, behind = (int(n) for n in counts.stdout.split())
    if not behind:
        return None
    how = "git pull --rebase" if ahead else "git pull --ff-only"
    return (f"your {target} is {plural(behind, 'commit')} behind {cfg.remote}/{target} after "
            f"landing; catch up with `{how} {cfg.remote} {target}`")  # fmt: skip


def count_commits(repo: Repo, base: str, branch: str) -> int:
    proc = repo.git("rev-list", "--count", f"{base}..refs/heads/{branch}", check=False)
    return int(proc.stdout.strip()) if proc.returncode == 0 else 0


def already_on(repo: Repo, upstream: str, branch: str) -> bool:
    """Whether every commit of ``branch`` is on ``upstream``, by identity or by patch
    (``git cherry``): an agent whose push the gate rebased has new commit ids upstream."""
    proc = repo.git("cherry", upstream, f"refs/heads/{branch}", check=False)
    if proc.returncode != 0:
        return False
    return not any(line.startswith("+") for line in proc.stdout.splitlines())


HandBack = Callable[[AgentState, "LandResult"], "LandResult"]


def land_agent(
    repo: Repo, cfg: Config, run: RunState, agent: AgentState, hand_back: HandBack | None = None
) -> None:
    """Land one agent's new commits on the run's target and record the outcome on ``agent``.

    ``hand_back``: what to do with a conflict before reporting it (the agent rung).
    """
    agent.commits = count_commits(repo, run.base, agent.branch)
    if agent.commits == 0:
        agent.landing, agent.land_message = NO_COMMITS, "the agent made no commits"
        return
    try:
        upstream = fresh_target(repo, cfg, run.target)
        if already_on(repo, upstream, agent.branch):
            agent.landing, agent.land_message = ALREADY, f"already on {run.target}"
        else:
            from gitfleet.land.landing import land

            result = land(repo, cfg, [agent.branch])[0]
            if result.status == "conflict" and hand_back is not None:
                result = hand_back(agent, result)
            agent.landing, agent.land_message = result.status, result.message
            if result.status == "conflict" and agent.worktree not in result.message:
                agent.land_message += f"\nIts work is in {agent.worktree} ({agent.branch})."
            agent.conflict_paths = list(result.paths)
            agent.resolved = [dict(r) for r in result.resolved]
    except (GitfleetError, ImportError) as exc:
        agent.landing, agent.land_message = "error", str(exc)
    _mark(repo, cfg, run, agent)


def claimed_by_branch(repo: Repo, cfg: Config, base: str, ref: str) -> list[str]:
    """Ids claimed on ``ref`` that ``base`` did not claim: what this agent's work claims."""
    if not cfg.series:
        return []
    before = set(claims.claims_in_tree(repo, cfg, base))
    return sorted(set(claims.claims_in_tree(repo, cfg, ref)) - before)


def _mark(repo: Repo, cfg: Config, run: RunState, agent: AgentState) -> None:
    """The agent's id follows what its work claims (issue 13): ``landed`` once a claim of
    it landed, ``committed`` while the claim is only on its branch, and untouched
    (``allocated``, for `gitfleet clean` to release) when its work never claimed it."""
    if not agent.id:
        return
    if agent.id not in claimed_by_branch(repo, cfg, run.base, f"refs/heads/{agent.branch}"):
        return
    op = "landed" if agent.landing in ("landed", "up-to-date", ALREADY) else "committed"
    try:
        verbs.mark(repo, cfg, [agent.id], op, note={"branch": agent.branch})
    except GitfleetError as exc:  # the landing happened; a ledger hiccup must not hide it
        agent.land_message += f" (ledger not updated: {exc})"


class Lander:
    """A background thread landing submitted agents in submission order."""

    def __init__(
        self, land_one: Callable[[AgentState], None], done: Callable[[AgentState], None]
    ) -> None:
        self._queue: queue.Queue[AgentState | None] = queue.Queue()
        self._land_one = land_one
        self._done = done
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._work, name="gitfleet-lander", daemon=True)
        self._thread.start()

    def submit(self, agent: AgentState) -> None:
        self._queue.put(agent)

    def _work(self) -> None:
        while (agent := self._queue.get()) is not None:
            if self._cancelled.is_set():
                agent.landing, agent.land_message = SKIPPED, "interrupted before landing"
            else:
                try:
                    self._land_one(agent)
                except Exception as exc:  # keep landing the others; the report shows it
                    agent.landing, agent.land_message = "error", f"{type(exc).__name__}: {exc}"
            self._done(agent)

    def finish(self) -> None:
        """Land everything submitted, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def cancel(self) -> None:
        """Finish the landing in progress, skip the rest."""
        self._cancelled.set()
        self.finish()
