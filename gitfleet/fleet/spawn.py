"""``gitfleet spawn``: turn a task into N agents, each in its own worktree, and land their work.

Order matters and follows the story's fixes: every id of the run is allocated in one ledger
transaction before any agent exists; worktrees are registered one at a time (git's shared
config does not survive parallel ``worktree add``); agents run side by side; landings are
serial. The run's state is saved after every step, so a crash leaves a run that
``gitfleet status`` can show and ``gitfleet clean`` can undo.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gitfleet.config import FLEET_BRANCH_PREFIX, Config, Series
from gitfleet.errors import GitfleetError, UsageError, optional, sigterm_as_interrupt
from gitfleet.fleet import agents, brief, handback, lander, preflight, runstate, usage, worktrees
from gitfleet.fleet.display import Display, PlainDisplay
from gitfleet.fleet.runstate import AgentState, RunState, RunStore
from gitfleet.fleet.supervise import Event, Job, Supervisor
from gitfleet.fleet.words import plural
from gitfleet.git import no_git_env
from gitfleet.git.remote import target_branch
from gitfleet.git.repo import Repo
from gitfleet.ids import verbs
from gitfleet.land.result import LandResult

BRANCH_PREFIX = FLEET_BRANCH_PREFIX


@dataclass
class SpawnOptions:
    count: int
    task: str | None = None  # a template: {id}, {branch}, {worktree}, {run} are filled in
    tasks_file: Path | None = None
    agent: str | None = None
    agent_cmd: str | None = None
    series: str | None = None
    max_parallel: int | None = None
    timeout: float | None = None
    base: str | None = None
    land: bool = True
    context: bool = False
    context_budget: int = 6000
    resolve_attempts: int = 1  # conflicts handed back to their agent (rung 5), per agent
    allow_many: bool = False  # more agents than [spawn] max_agents, confirmed by a person


def read_tasks(path: Path) -> list[str]:
    """Tasks from a file: separated by lines of ``---`` if it has any, else one per line
    (blank lines and ``#`` comments skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --tasks {path}: {exc}") from None
    lines = text.splitlines()
    if any(line.strip() == "---" for line in lines):
        chunks, current = [], []  # type: ignore[var-annotated]
        for line in lines:
            if line.strip() == "---":
                chunks.append("\n".join(current).strip())
                current = []
            else:
                current.append(line)
        chunks.append("\n".join(current).strip())
        return [c for c in chunks if c]
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def task_templates(opts: SpawnOptions) -> list[str]:
    if opts.count < 1:
        raise UsageError(f"spawn needs at least 1 agent, not {opts.count}")
    if (opts.task is None) == (opts.tasks_file is None):
        raise UsageError('give exactly one of --task "TEMPLATE" or --tasks FILE')
    if opts.task is not None:
        if not opts.task.strip():
            raise UsageError("--task is empty; say what each agent should do")
        return [opts.task] * opts.count
    assert opts.tasks_file is not None
    tasks = read_tasks(opts.tasks_file)
    if len(tasks) != opts.count:
        raise UsageError(
            f"{opts.tasks_file} holds {len(tasks)} tasks but {opts.count} agents were asked for; "
            f"run `gitfleet spawn {len(tasks)} --tasks {opts.tasks_file} ...`"
        )
    return tasks


def pick_series(cfg: Config, name: str | None) -> Series | None:
    """``--series``, else the only configured series, else none (agents get no id)."""
    if name is not None:
        return cfg.series_for(name)
    if len(cfg.series) == 1:
        return next(iter(cfg.series.values()))
    if cfg.series:
        raise UsageError(
            f"{len(cfg.series)} series are configured ({', '.join(sorted(cfg.series))}); "
            "say which one with --series NAME"
        )
    return None


def resolve_base(repo: Repo, cfg: Config, target_name: str, base: str | None) -> str:
    """The commit all worktrees start from: ``--base``, else the freshly fetched target."""
    ref = base if base is not None else lander.fresh_target(repo, cfg, target_name)
    proc = repo.git("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0:
        if base is not None:
            raise UsageError(f"--base {base!r} is not a commit in {repo.toplevel}")
        proc = repo.git("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        if proc.returncode != 0:
            raise UsageError(f"target branch {target_name!r} does not exist; pass --base REF")
    return proc.stdout.strip()


def allocate_ids(repo: Repo, cfg: Config, series: Series, count: int, run: str) -> list[str]:
    """All ids of the run in ONE ledger transaction, each owned by its agent's branch
    (the id check accepts a claim only on the branch that owns the id)."""
    return verbs.allocate(
        repo,
        cfg,
        series.name,
        count,
        owner=lambda ident: BRANCH_PREFIX + ident,
        # the one worktree that may claim it: the agent's (see ids.idcheck)
        note=lambda ident: {"run": run, "worktree": str(agent_worktree(repo, cfg, run, ident))},
    )


def agent_worktree(repo: Repo, cfg: Config, run: str, name: str) -> Path:
    """Where the agent ``name`` of ``run`` works."""
    return worktrees.worktree_root(repo, cfg) / run / name


def plan_agents(
    repo: Repo, cfg: Config, run: str, idents: list[str | None], tasks: list[str]
) -> list[AgentState]:
    run_dir = runstate.runs_dir(repo) / run
    planned = []
    for index, (ident, template) in enumerate(zip(idents, tasks, strict=True), 1):
        name = ident or f"agent-{index}"
        branch = BRANCH_PREFIX + (ident or f"{run}-{index}")
        tree = agent_worktree(repo, cfg, run, name)
        values = {"id": ident or "", "branch": branch, "worktree": str(tree), "run": run}
        planned.append(
            AgentState(
                name=name,
                index=index,
                id=ident,
                branch=branch,
                worktree=str(tree),
                brief=str(run_dir / name / "brief.md"),
                log=str(run_dir / name / "agent.log"),
                task=agents.substitute(template, values),
            )
        )
    return planned


class Spawner:
    """One run: prepares worktrees, supervises agents, hands finished ones to the lander."""

    def __init__(self, repo: Repo, cfg: Config, opts: SpawnOptions, display: Display) -> None:
        self.repo, self.cfg, self.opts, self.display = repo, cfg, opts, display
        if opts.count > cfg.max_agents and not opts.allow_many:  # before anything is made
            raise UsageError(
                f"spawn {opts.count} asks for more agents than [spawn] max_agents "
                f"({cfg.max_agents}); nothing was allocated. Raise max_agents in gitfleet.toml "
                "if you mean it (on a terminal, spawn asks instead)"
            )
        self.argv_template = agents.resolve(cfg, opts.agent, opts.agent_cmd)
        self.tasks = task_templates(opts)
        self.series = pick_series(cfg, opts.series)
        if opts.timeout is not None and opts.timeout <= 0:
            raise UsageError(f"--timeout must be a positive number of seconds, not {opts.timeout}")
        self.store: RunStore | None = None

    # -- preparation -----------------------------------------------------------------

    def prepare(self) -> RunState:
        target_name = target_branch(self.repo, self.cfg)
        preflight.check(
            self.repo, self.cfg, self.argv_template, no_git_env(),
            land=self.opts.land, target=target_name,
        )  # fmt: skip
        base = resolve_base(self.repo, self.cfg, target_name, self.opts.base)
        run_id = runstate.new_run_id()
        idents: list[str | None] = [None] * self.opts.count
        if self.series is not None:
            idents = list(allocate_ids(self.repo, self.cfg, self.series, self.opts.count, run_id))
        state = RunState(
            run=run_id,
            repo=str(self.repo.toplevel),
            created=time.time(),
            spawn_pid=os.getpid(),
            series=self.series.name if self.series else None,
            target=target_name,
            base=base,
            land=self.opts.land,
            timeout=self.opts.timeout,
            agents=plan_agents(self.repo, self.cfg, run_id, idents, self.tasks),
            argv_template=list(self.argv_template),
            commondir=str(self.repo.common_dir),
        )
        self.store = RunStore(self.repo, state)
        self.store.save()  # from here on, `gitfleet clean` can undo whatever follows
        self._reserve_ports(state)
        return state

    def _reserve_ports(self, state: RunState) -> None:
        names = list(self.cfg.ports)
        if not names:
            return

        def taken() -> set[int]:
            used: set[int] = set()
            for other in runstate.load_all(self.repo):
                if other.run != state.run:
                    used.update(p for a in other.agents for p in a.ports.values())
            return used

        def record(ports: list[int]) -> None:
            it = iter(ports)
            for agent in state.agents:
                agent.ports = {name: next(it) for name in names}
            self.save()

        worktrees.reserve_ports(self.repo, len(names) * len(state.agents), taken, record)

    def create_worktrees(self, state: RunState) -> list[AgentState]:
        """Register every worktree (serially), then check out, bootstrap and brief each in
        parallel. Returns the agents that are ready to launch."""
        registered = []
        for agent in state.agents:
            agent.phase = runstate.STARTING
            try:
                worktrees.register(self.repo, Path(agent.worktree), agent.branch, state.base)
            except GitfleetError as exc:
                self._not_started(state, agent, f"cannot create its worktree: {exc}")
                continue
            registered.append(agent)
        self.save()
        with ThreadPoolExecutor(max_workers=max(1, min(4, len(registered)))) as pool:
            ok = list(pool.map(lambda a: self._bootstrap(state, a), registered))
        self.save()
        return [a for a, good in zip(registered, ok, strict=True) if good]

    def _bootstrap(self, state: RunState, agent: AgentState) -> bool:
        tree = Path(agent.worktree)
        try:
            Path(agent.log).parent.mkdir(parents=True, exist_ok=True)
            worktrees.checkout(tree)
            worktrees.copy_untracked(worktrees.main_checkout(self.repo), tree, self.cfg.copy_files)
            env = self.agent_env(state, agent)
            if self.cfg.setup:
                worktrees.run_setup(self.cfg.setup, tree, env, Path(agent.log))
            text = brief.render(
                task=agent.task,
                ident=agent.id,
                branch=agent.branch,
                worktree=agent.worktree,
                target=state.target,
                remote=self.cfg.remote,
                guarded=self.cfg.guarded,
                context=self._context(tree, agent) if self.opts.context else None,
                series=self.series,
            )
            brief.write(Path(agent.brief), text)
            agent.argv = agents.argv_for(self.argv_template, state, agent, text)
        except (GitfleetError, OSError) as exc:
            self._not_started(state, agent, f"bootstrap failed: {exc}")
            return False
        return True

    def _context(self, tree: Path, agent: AgentState) -> str | None:
        try:
            context = optional("gitfleet.context", "spawn --context", "context")
            result = context.build_pack(tree, agent.task, budget=self.opts.context_budget)
            return str(result.markdown)
        except Exception as exc:  # a context pack is a help, never a reason not to start
            self.display.event(self.state, agent, f"warning: no context pack ({exc})")
            return None

    def agent_env(self, state: RunState, agent: AgentState) -> dict[str, str]:
        return handback.agent_env(state, agent)

    # -- running ---------------------------------------------------------------------

    @property
    def state(self) -> RunState:
        assert self.store is not None
        return self.store.state

    def save(self) -> None:
        assert self.store is not None
        self.store.save()

    def _not_started(self, state: RunState, agent: AgentState, why: str) -> None:
        agent.phase, agent.error = runstate.NOT_STARTED, why
        self.display.event(state, agent, f"not started: {why}")

    def push_warning(self) -> str | None:
        """Why agents' own pushes would bypass the push gate, if they would."""
        if self.repo.git(
            "config", "--get", f"remote.{self.cfg.remote}.url", check=False
        ).returncode:
            return None  # no remote: agents cannot push anywhere
        urls = self.repo.git(
            "config", "--get-all", f"remote.{self.cfg.remote}.pushurl", check=False
        ).stdout.split()
        if any(u.startswith("gitfleet::") for u in urls):
            return None
        return (
            f"warning: pushes to {self.cfg.remote!r} are not routed through the gitfleet queue, "
            "so agents that push themselves can race; run `gitfleet init` first"
        )

    def run(self, state: RunState) -> RunState:
        """Create, launch, supervise and land; always leaves the run state final."""
        self.display.start(state)
        warning = self.push_warning()
        if warning:
            self.display.event(state, None, warning)
        the_lander = lander.Lander(
            lambda a: lander.land_agent(self.repo, self.cfg, state, a, self._hand_back),
            lambda a: self._landed(state, a),
        )
        try:
            ready = self.create_worktrees(state)
            jobs = [
                Job(
                    a.name,
                    a.argv,
                    Path(a.worktree),
                    self.agent_env(state, a),
                    Path(a.log),
                    self.opts.timeout,
                )
                for a in ready
            ]
            parallel = self.opts.max_parallel or len(jobs) or 1
            by_name = {a.name: a for a in state.agents}
            supervisor = Supervisor(
                jobs, parallel, lambda ev: self._on_event(state, by_name[ev.name], ev, the_lander)
            )
            supervisor.run(idle=lambda: self.display.refresh(state))
            the_lander.finish()
        except BaseException:
            the_lander.cancel()
            state.interrupted = True
            raise
        finally:
            for agent in state.agents:
                if agent.phase in (runstate.PENDING, runstate.STARTING):
                    agent.phase = runstate.NOT_STARTED
                    agent.error = agent.error or "interrupted before it started"
            state.finished = time.time()
            self.save()
            self.display.stop(state)
        return state

    def _hand_back(self, agent: AgentState, result: LandResult) -> LandResult:
        """The agent rung: the conflict back to ``agent``, when ``[land] resolve`` has it."""
        if "agent" not in self.cfg.land_resolve or self.opts.resolve_attempts < 1:
            return result
        self.display.event(self.state, agent, f"conflict in {', '.join(result.paths)}: "
                           "handed back to the agent")  # fmt: skip
        env = self.agent_env(self.state, agent)
        return handback.hand_back(
            self.repo, self.cfg, self.state, agent, result, env, self.opts.resolve_attempts
        )

    def _on_event(
        self, state: RunState, agent: AgentState, ev: Event, the_lander: lander.Lander
    ) -> None:
        now = time.time()
        if ev.kind == "started":
            agent.phase, agent.pid, agent.started = runstate.RUNNING, ev.pid, now
            agent.pid_start = runstate.start_time(ev.pid) if ev.pid else 0
            message = f"started (pid {ev.pid})"
        elif ev.kind == "not-started":
            agent.phase, agent.error = runstate.NOT_STARTED, ev.error
            message = f"not started: {ev.error}"
        else:
            agent.phase = {"exited": runstate.EXITED, "timed-out": runstate.TIMED_OUT}.get(
                ev.kind, runstate.KILLED
            )
            agent.exit_code, agent.ended = ev.code, now
            agent.commits = lander.count_commits(self.repo, state.base, agent.branch)
            spent = usage.from_log(Path(agent.log))
            agent.usage = spent.to_dict() if spent else None
            spent_words = f"; {spent.line()}" if spent else ""
            message = f"{ev.kind} (exit {ev.code}, {plural(agent.commits, 'commit')}{spent_words})"
            if ev.kind == "exited" and ev.code == 0:
                if state.land:
                    message += "; queued for landing"
                    the_lander.submit(agent)
                else:
                    agent.landing = lander.OFF
            else:
                agent.landing = lander.SKIPPED
        self.save()
        self.display.event(state, agent, message)

    def _landed(self, state: RunState, agent: AgentState) -> None:
        spent = usage.from_log(Path(agent.log))  # a hand-back ran the agent once more
        agent.usage = spent.to_dict() if spent else None
        self.save()
        message = agent.land_message
        if message.startswith(agent.landing or "-"):  # landing's own words already say it
            message = message[len(agent.landing or "") :].lstrip(" :")
        detail = f": {message}" if message else ""
        files = f" [{', '.join(agent.conflict_paths)}]" if agent.conflict_paths else ""
        self.display.event(state, agent, f"{agent.landing}{detail}{files}")


def spawn(
    repo: Repo,
    cfg: Config,
    opts: SpawnOptions,
    display: Display | None = None,
    on_prepared: Callable[[RunState], None] | None = None,
) -> RunState:
    """Run ``opts.count`` agents and land their work; the returned state says how it went."""
    spawner = Spawner(repo, cfg, opts, display or PlainDisplay())
    with sigterm_as_interrupt():
        state = spawner.prepare()
        if on_prepared is not None:
            on_prepared(state)
        return spawner.run(state)
