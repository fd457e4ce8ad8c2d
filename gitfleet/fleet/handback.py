"""Rung 5, the agent: a conflict synthesis could not settle goes back to the agent whose
work is landing, in its own worktree, and the agent finishes it with plain git.

The worktree is left exactly as git leaves it: a ``git rebase`` onto the fresh target,
stopped at the conflict, markers in the files, ``git status`` listing them. The agent's
own command runs again with a new brief at the same ``GITFLEET_BRIEF`` and
``GITFLEET_RESOLVE=1``. When it exits 0 with no rebase in progress, its branch is landed
again through the queue, gate included, after one more gate of its own: the rebased
branch, judged against the branch as it was, must keep every line the target added
(an agent may drop its own lines, never main's). Otherwise the conflict is reported,
naming the worktree; nothing is lost.
"""

from __future__ import annotations

from pathlib import Path

from gitfleet.config import Config
from gitfleet.errors import UsageError
from gitfleet.fleet import agents, brief, lander, runstate
from gitfleet.fleet.runstate import AgentState, RunState, RunStore
from gitfleet.fleet.supervise import Event, Job, Supervisor
from gitfleet.git import Completed, no_git_env, run
from gitfleet.git.repo import Repo
from gitfleet.land import landing
from gitfleet.land.result import CONFLICT, GATE_REFUSED, LandResult
from gitfleet.synthesis import gate

BRIEF = """# Resolve the conflict on `{branch}`

Your work could not land on `{target}`: work that landed first conflicts with it, and
gitfleet could not settle it safely. In your worktree ({worktree}) gitfleet ran
`git rebase {upstream}`; it stopped at the conflict. `git status` lists the files.

## What landed meanwhile
{landed}

## Conflicted files
{files}

## Finish it with plain git
1. Edit each conflicted file: keep both your change and what landed, unless they truly
   contradict; remove every conflict marker (`<<<<<<<`, `=======`, `>>>>>>>`).
2. `git add` each file you resolved.
3. `git rebase --continue` (with `GIT_EDITOR=true` to keep the commit message); repeat
   until the rebase is done.
4. Exit. Do not push: gitfleet lands your branch when you exit 0. Never drop a line that
   landed before you: the landing refuses a resolution that does.

## Your task was
{task}
"""


def hand_back(
    repo: Repo,
    cfg: Config,
    state: RunState,
    agent: AgentState,
    result: LandResult,
    env: dict[str, str],
    attempts: int,
) -> LandResult:
    """Up to ``attempts`` rounds of rebase-and-rerun; the landing's final result."""
    tree = Path(agent.worktree)
    for attempt in range(1, attempts + 1):
        upstream = lander.fresh_target(repo, cfg, state.target)
        target_tip = repo.git_out("rev-parse", upstream)
        before = repo.git_out("rev-parse", f"refs/heads/{agent.branch}")
        if not _in_rebase(tree):
            if _git(tree, "status", "--porcelain", "--untracked-files=no").stdout.strip():
                return _left(result, agent, "its worktree has uncommitted changes")
            _git(tree, "rebase", "--no-autostash", upstream, check=False)
        files = _conflicted(tree)
        if _in_rebase(tree):
            text = _write_brief(repo, state, agent, upstream, before, files)
            # The new brief reaches the agent as its {prompt}, as the first one did; an
            # editor opened by `git rebase --continue` would hang a headless agent.
            argv = agents.argv_for(state.argv_template, state, agent, text)
            resolving = {**env, "GITFLEET_RESOLVE": "1", "GIT_EDITOR": "true"}
            code = _rerun(agent, argv or agent.argv, resolving, state.timeout)
            if code != 0 or _in_rebase(tree):
                why = f"exit {code}" if code != 0 else "the rebase is still in progress"
                result = _left(result, agent, f"the agent did not finish it ({why})")
                continue
        after = repo.git_out("rev-parse", f"refs/heads/{agent.branch}")
        findings = gate.check_landing(repo.toplevel, target_tip, before, after)
        if findings:
            found = "\n  ".join(str(f) for f in findings)
            return result._replace(
                status=GATE_REFUSED,
                findings=[str(f) for f in findings],
                message=f"the agent's resolution in {tree} drops what landed:\n  {found}",
            )
        landed = landing.land(repo, cfg, [agent.branch])[0]
        if landed.status != CONFLICT:
            stat = _diffstat(tree, target_tip, after, files)
            note = f"; conflict resolved by the agent (attempt {attempt}{stat})"
            return landed._replace(
                message=landed.message + note,
                resolved=[
                    *landed.resolved,
                    *({"path": p, "rung": "agent"} for p in files),
                ],
            )
        result = landed
    return result


def _git(tree: Path, *args: str, check: bool = True) -> Completed:
    return run(list(args), tree, env=no_git_env(), check=check)


def _in_rebase(tree: Path) -> bool:
    for name in ("rebase-merge", "rebase-apply"):
        found = run(["rev-parse", "--git-path", name], tree, env=no_git_env()).stdout.strip()
        if (tree / found).exists():
            return True
    return False


def _conflicted(tree: Path) -> list[str]:
    listed = run(["diff", "--name-only", "-z", "--diff-filter=U"], tree, env=no_git_env())
    return [p for p in listed.stdout.split("\0") if p]


def _write_brief(
    repo: Repo, state: RunState, agent: AgentState, upstream: str, before: str, files: list[str]
) -> str:
    others = [a for a in state.agents if a is not agent and a.landing == "landed"]
    base = repo.git_out("merge-base", upstream, before)
    subjects = repo.git_out("log", "--format=%s", f"{base}..{upstream}").splitlines()
    landed = [f"- {a.name} ({a.branch}): {a.task.strip()}" for a in others]
    landed += [f"- commit: {s}" for s in subjects[:30]]
    text = BRIEF.format(
        branch=agent.branch,
        target=state.target,
        worktree=agent.worktree,
        upstream=upstream,
        landed="\n".join(landed) or "- (nothing listed)",
        files="\n".join(f"- `{f}`" for f in files) or "- (see `git status`)",
        task=agent.task.strip(),
    )
    brief.write(Path(agent.brief), text)
    return text


def _rerun(
    agent: AgentState, argv: list[str], env: dict[str, str], timeout: float | None
) -> int | None:
    """The agent's own command once more, in its worktree; its exit code."""
    ended: list[Event] = []
    job = Job(agent.name, argv, Path(agent.worktree), env, Path(agent.log), timeout)
    Supervisor([job], 1, lambda ev: ended.append(ev) if ev.kind != "started" else None).run()
    return ended[-1].code if ended and ended[-1].kind == "exited" else None


def _diffstat(tree: Path, old: str, new: str, files: list[str]) -> str:
    proc = run(["diff", "--shortstat", old, new, "--", *files], tree, env=no_git_env())
    text = proc.stdout.strip()
    return f": {text}" if text and files else ""


def _left(result: LandResult, agent: AgentState, why: str) -> LandResult:
    return result._replace(
        status=CONFLICT,
        message=(
            f"{agent.branch} conflicts with the target and {why}; it is left in "
            f"{agent.worktree} for you: finish the rebase there (`git status`), then "
            f"`gitfleet land {agent.branch}`"
        ),
    )


def agent_env(state: RunState, agent: AgentState) -> dict[str, str]:
    """The environment ``agent`` of ``state`` runs in, first time or handed back."""
    return agents.env_for(
        state.run, agent.name, agent.id, agent.brief, agent.branch, agent.worktree, agent.ports
    )


def resolve(repo: Repo, cfg: Config, name: str, run: str | None, attempts: int = 1) -> LandResult:
    """``gitfleet resolve AGENT [RUN]``: the agent rung again, by hand, for an agent whose
    landing ended in a conflict; the run's record is updated with the outcome."""
    state = runstate.load(repo, run)
    agent = next((a for a in state.agents if name in (a.name, a.id, a.branch)), None)
    if agent is None:
        names = ", ".join(a.name for a in state.agents)
        raise UsageError(f"run {state.run} has no agent {name!r} (its agents: {names})")
    if agent.landing != CONFLICT:
        raise UsageError(
            f"{agent.name} of run {state.run} is {agent.landing or agent.phase}, not in "
            "conflict; `gitfleet resolve` hands a conflict back to its agent"
        )
    if not agent.argv:
        raise UsageError(f"{agent.name} has no command recorded to run again")
    start = LandResult(
        agent.branch, CONFLICT, paths=agent.conflict_paths, message=agent.land_message
    )
    result = hand_back(repo, cfg, state, agent, start, agent_env(state, agent), attempts)
    agent.landing, agent.land_message = result.status, result.message
    agent.conflict_paths = list(result.paths) if result.status == CONFLICT else []
    agent.resolved = [dict(r) for r in result.resolved]
    RunStore(repo, state).save()
    return result
