"""``gitfleet report``: what a run produced, agent by agent, and (with a key) a summary.

The structured part comes from git and the run state alone: per agent the id it was given,
the ids its branch actually claims, its commits and diffstat, how landing went and which
files conflicted. With an Anthropic key configured, Claude writes a short integration summary
on top; any failure there (no SDK, no network, a bad key, an odd answer) costs one warning
line and the structured report is printed alone.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from gitfleet.config import Config
from gitfleet.errors import GitfleetError, MissingExtra, optional
from gitfleet.fleet import lander
from gitfleet.fleet.runstate import AgentState, RunState
from gitfleet.fleet.usage import Usage
from gitfleet.fleet.words import plural
from gitfleet.git import split_z
from gitfleet.git.repo import Repo

SUMMARY_MAX_TOKENS = 400


@dataclass
class AgentReport:
    name: str
    id: str | None
    branch: str
    phase: str
    exit_code: int | None
    outcome: str
    commits: int
    files: list[str]
    insertions: int
    deletions: int
    landing: str | None
    land_message: str
    conflicts: list[str]
    ids_claimed: list[str]  # ids the branch's own changes claim
    id_problem: str | None  # the claims differ from the allocation
    log: str
    error: str | None = None  # why the agent never started, e.g. its command is not on PATH
    resolved: list[dict[str, str]] = field(default_factory=list)  # conflicts synthesis settled
    usage: dict[str, Any] | None = None  # what its CLI reported spending (fleet.usage.Usage)


@dataclass
class Report:
    run: str
    repo: str
    status: str
    target: str
    base: str
    agents: list[AgentReport]
    ids_allocated: list[str]
    ids_claimed: list[str]  # every id the agents' changes claim
    ids_unallocated: list[str]  # claimed, but not allocated to the agent claiming it
    succeeded: bool
    usage: dict[str, Any] | None = None  # all agents' usage added up
    summary: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _branch_ref(repo: Repo, branch: str) -> str | None:
    ref = f"refs/heads/{branch}"
    ok = repo.git("rev-parse", "-q", "--verify", ref, check=False).returncode == 0
    return ref if ok else None


def diffstat(repo: Repo, base: str, ref: str) -> tuple[list[str], int, int]:
    """Files changed on ``ref`` since ``base``, with lines added and removed."""
    text = repo.git("diff", "--numstat", "-z", "--no-renames", base, ref).stdout
    files, added, removed = [], 0, 0
    for record in split_z(text):
        parts = record.split("\t", 2)
        if len(parts) != 3:
            continue
        plus, minus, path = parts
        files.append(path)
        added += int(plus) if plus.isdigit() else 0
        removed += int(minus) if minus.isdigit() else 0
    return files, added, removed


def agent_report(repo: Repo, cfg: Config, run: RunState, agent: AgentState) -> AgentReport:
    ref = _branch_ref(repo, agent.branch)
    files: list[str] = []
    added = removed = 0
    claimed: list[str] = []
    if ref is not None:
        files, added, removed = diffstat(repo, run.base, ref)
        claimed = lander.claimed_by_branch(repo, cfg, run.base, ref)
    problem = None
    if agent.id and claimed and claimed != [agent.id]:
        problem = f"allocated {agent.id} but claims {', '.join(claimed)}"
    elif not agent.id and claimed:
        problem = f"claims {', '.join(claimed)} without an allocation"
    return AgentReport(
        name=agent.name, id=agent.id, branch=agent.branch, phase=agent.phase,
        exit_code=agent.exit_code, outcome=agent.outcome, commits=agent.commits, files=files,
        insertions=added, deletions=removed, landing=agent.landing,
        land_message=agent.land_message, conflicts=list(agent.conflict_paths),
        ids_claimed=claimed, id_problem=problem, log=agent.log, error=agent.error,
        resolved=list(agent.resolved), usage=agent.usage,
    )  # fmt: skip


def build(repo: Repo, cfg: Config, run: RunState) -> Report:
    """The structured report of ``run`` (no network)."""
    agents = [agent_report(repo, cfg, run, a) for a in run.agents]
    total = run.usage_total()
    return Report(
        run=run.run, repo=run.repo, status=run.status, target=run.target, base=run.base,
        agents=agents,
        ids_allocated=[a.id for a in run.agents if a.id],
        ids_claimed=sorted({i for a in agents for i in a.ids_claimed}),
        ids_unallocated=sorted({i for a in agents for i in a.ids_claimed if i != a.id}),
        succeeded=bool(run.agents) and all(a.succeeded for a in run.agents),
        usage=total.to_dict() if total else None,
    )  # fmt: skip


def with_summary(report: Report, *, model: str | None = None) -> Report:
    """Add Claude's integration summary when credentials are configured; on any failure
    add one secret-free warning instead. Without credentials: the structured report alone."""
    try:
        llm = optional("gitfleet.context.llm", "a report's summary by Claude", "all")
    except MissingExtra as exc:
        if any(name.startswith("ANTHROPIC_") for name in os.environ):  # Claude was meant
            report.warnings.append(f"no summary from Claude: {exc}")
        return report
    ranker, _why_not = llm.connect(model or os.environ.get("GITFLEET_MODEL"))
    if ranker is None:
        return report
    try:
        report.summary = summarize(ranker.client, ranker.model, report)
    except Exception as exc:  # any failure: the structured report is still the answer
        report.warnings.append(f"no summary from Claude ({llm.describe(exc)})")
    return report


def summary_prompt(report: Report) -> str:
    lines = [
        f"A fleet of {len(report.agents)} coding agents worked in parallel on one git "
        f"repository, each on its own branch, landing on {report.target}. Per agent:",
    ]
    for a in report.agents:
        lines.append(
            f"- {a.name}: outcome {a.outcome}, exit {a.exit_code}, {a.commits} commits, "
            f"files {', '.join(a.files[:10]) or 'none'} (+{a.insertions} -{a.deletions})"
            + (f", conflicts in {', '.join(a.conflicts)}" if a.conflicts else "")
            + (f", id problem: {a.id_problem}" if a.id_problem else "")
            + (f", landing note: {a.land_message}" if a.land_message else "")
        )
    lines.append(
        "Write a short integration summary (at most 6 sentences, plain text): what landed, "
        "what did not and why, and what a person should do next."
    )
    return "\n".join(lines)


def summarize(client: Any, model: str, report: Report) -> str:
    """Ask Claude for the summary through an ``anthropic.Anthropic`` client (the context
    part's, so the key, base URL, retries and timeouts are handled in one place)."""
    message = client.messages.create(
        model=model,
        max_tokens=SUMMARY_MAX_TOKENS,
        messages=[{"role": "user", "content": summary_prompt(report)}],
    )
    text = "".join(getattr(block, "text", "") for block in message.content).strip()
    if not text:
        raise GitfleetError("the answer held no text")
    return text


def render_text(report: Report) -> str:
    """The report for people: summary, a table of agents, the details that need a look."""
    out: list[str] = []
    if report.summary:
        out += ["Summary (written by Claude):", report.summary, ""]
    verdict = "every agent succeeded" if report.succeeded else "not every agent succeeded"
    out.append(f"Run {report.run} ({report.status}) onto {report.target}: {verdict}")
    head = ("agent", "exit", "commits", "diff", "result", "usage")
    rows = [head] + [
        (a.name, "-" if a.exit_code is None else str(a.exit_code), str(a.commits),
         f"{plural(len(a.files), 'file')} +{a.insertions} -{a.deletions}", a.outcome,
         _short(a.usage))
        for a in report.agents
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    for a in report.agents:
        if a.error:
            out.append(f"  {a.name}: {a.error}")
        if a.conflicts:
            out.append(f"  {a.name}: conflicts in {', '.join(a.conflicts)}")
        if a.resolved:
            done = ", ".join(f"{r['path']} ({r['rung']})" for r in a.resolved)
            out.append(f"  {a.name}: resolved {done}")
        if a.land_message and a.outcome not in ("landed", "committed"):
            out.append(f"  {a.name}: {a.land_message.splitlines()[0]}")
        if a.id_problem:
            out.append(f"  {a.name}: ids: {a.id_problem}")
        if a.outcome not in ("landed", "committed"):
            out.append(f"  {a.name}: its log: {_relative(a.log, report)}")
    total = Usage.from_dict(report.usage)
    if total is not None:
        out.append(f"Usage: {total.line()}")
    stray = report.ids_unallocated
    own = [i for i in report.ids_claimed if i not in stray]
    if report.agents:
        folder = os.path.dirname(os.path.dirname(_relative(report.agents[0].log, report)))
        out.append(f"Logs: `gitfleet logs AGENT` (in {folder}/)")
    out.append(
        f"Ids: {len(report.ids_allocated)} allocated, {len(own)} claimed by their agents"
        + (f" ({', '.join(own)})" if own else "")
        + (f"; claimed without an allocation: {', '.join(stray)}" if stray else "")
    )
    return "\n".join(out)


def _short(used: dict[str, Any] | None) -> str:
    found = Usage.from_dict(used)
    return found.short() if found else "-"


def _relative(log: str, report: Report) -> str:
    """A log path relative to the repository (``.git/gitfleet/runs/...``) when inside it."""
    if report.repo and log.startswith(report.repo.rstrip("/") + "/"):
        return log[len(report.repo.rstrip("/")) + 1 :]
    return log
