"""Serial landing: rebase in memory, check that exact tree, push with compare-and-swap.

bors' rule: the target only ever moves to a tree that passed the checks. For one branch,
under the queue lease for the target ref:

1. fetch the target fresh from the remote's real URL;
2. rebase the branch onto it in memory (:mod:`gitfleet.git.rebase`: no worktree is touched,
   patches already on the target are skipped);
3. run the id check on the result and the configured check in a scratch worktree of
   exactly that commit (:mod:`gitfleet.land.scratch`);
4. push ``new:target`` with ``--force-with-lease=target:old``: the remote moves only if
   it still holds the tip we rebased onto.

The lease serialises landings of one repository (one machine). Another machine has its own
queue, so its landing can win between 1 and 4; the compare-and-swap then refuses ours, and
we fetch, rebase, check and push again, a bounded number of times, reporting each retry.
A conflict or a failed check pushes nothing, leaves the branch alone, and lets the queue
move on. The branch being landed is never moved: the landed commits are new commits on
the target (like a rebase-merge on a forge).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitfleet.config import Config
from gitfleet.errors import GitError, UsageError
from gitfleet.git import Completed
from gitfleet.git.rebase import Conflict, Rebased, rebase_range
from gitfleet.git.remote import fetch_tip, push_cas, remote_url, short_ref, target_branch
from gitfleet.git.repo import Repo
from gitfleet.ids import idcheck
from gitfleet.land import regenerate, scratch
from gitfleet.land.records import follow_tracking_ref, mark_landed_ids, record
from gitfleet.land.result import (
    CHECK_FAILED,
    CONFLICT,
    ERROR,
    GATE_REFUSED,
    LANDED,
    LOST_RACE,
    MAX_RETRIES,
    UP_TO_DATE,
    Events,
    LandResult,
    Request,
)
from gitfleet.queue import client
from gitfleet.queue.objects import Missing, Objects
from gitfleet.synthesis import claude, gate
from gitfleet.synthesis.ladder import IN_MEMORY, REGENERATE, Ladder

if TYPE_CHECKING:
    from gitfleet.queue.client import Grant


def land(
    repo: Repo,
    cfg: Config,
    branches: Sequence[str],
    *,
    onto: str | None = None,
    check: str | None = None,
    max_retries: int = MAX_RETRIES,
    on_event: Events | None = None,
    allow_config: bool = False,
) -> list[LandResult]:
    """Land each branch on the target, one at a time, each under the queue's lease.

    ``check`` None means ``[land] check`` from gitfleet.toml; an empty string, no check.
    Unknown branches are refused before anything lands.
    """
    if not branches:
        raise UsageError("name at least one branch to land: `gitfleet land BRANCH...`")
    for branch in branches:
        _resolve(repo, branch)
    target_ref = f"refs/heads/{short_ref(onto) if onto else target_branch(repo, cfg)}"
    url = remote_url(repo, cfg.remote)
    if onto:
        # A merge queue lands onto a branch that exists: a typo in --onto must not create one.
        listed = repo.git("ls-remote", url, target_ref, check=False)
        if listed.returncode == 0 and not listed.stdout.strip():
            name = target_ref.removeprefix("refs/heads/")
            raise UsageError(
                f"the remote {cfg.remote} has no branch {name}, so there is nothing to land "
                f"onto; check --onto (`git ls-remote {cfg.remote}` lists its branches), or "
                f"create it first: `git push {cfg.remote} <commit>:refs/heads/{name}`"
            )
    results = []
    for branch in branches:
        with lease(repo, url, target_ref, f"gitfleet land {branch}") as grant:
            # the branch as it is now: the agent may have committed since
            request = Request(
                _resolve(repo, branch), branch, None, check, max_retries, on_event,
                allow_config=allow_config,
            )  # fmt: skip
            result = land_under_lease(repo, cfg, url, target_ref, grant, request)
            record(repo, url, target_ref, result)
        results.append(result)
    return results


def land_under_lease(
    repo: Repo, cfg: Config, url: str, target_ref: str, grant: Grant, request: Request
) -> LandResult:
    """Land ``request.head`` on ``target_ref`` of ``url``; the caller holds ``grant``."""
    # ``grant`` is held by the caller for the whole call. If it times out mid-check
    # ([daemon] lease_timeout) another landing may start; the compare-and-swap push is
    # the fence that still keeps the remote from moving to an unchecked tree. Its
    # connection to the daemon answers the object questions (pygit2 stays loaded there).
    r = request
    command = cfg.land_check if r.check is None else (r.check or None)
    landing = _Landing(repo, cfg, url, target_ref, r.branch or r.head, command, r.on_event)
    landing.objects = Objects(repo.toplevel, grant.conn)
    landing.follow = r.follow
    landing.push_options = r.push_options
    landing.owner = r.branch if r.owner is None else r.owner
    landing.worktree, landing.allow_config = r.worktree, r.allow_config
    landing.from_agent = r.from_agent
    if r.committer:
        landing._committer = refresh_ident(r.committer)
    return landing.run(r.head, r.base, r.max_retries, r.known_tip)


class _Landing:
    """One branch's landing: the attempts and what they learned."""

    def __init__(
        self,
        repo: Repo,
        cfg: Config,
        url: str,
        target_ref: str,
        label: str,
        command: str | None,
        on_event: Events | None,
    ) -> None:
        self.repo, self.cfg, self.url, self.target_ref = repo, cfg, url, target_ref
        self.target = short_ref(target_ref)
        self.label, self.command, self.on_event = label, command, on_event
        self.passed_trees: set[str] = set()  # a retry onto an identical tree needs no check
        self.events: list[str] = []
        self.objects = Objects(repo.toplevel)
        self.follow = True
        self.push_options: Sequence[str] = ()
        self.owner: str | None = None
        self.worktree: Path | None = None
        self.allow_config = False
        self.from_agent = False
        self._committer: str | None = None

    def of_rebase(self, status: str, old: str | None, rebased: Rebased, **kw: Any) -> LandResult:
        """:meth:`result` for an outcome reached after the rebase: its commits named."""
        return self.result(status, old, applied=rebased.applied, skipped=rebased.skipped, **kw)

    def result(self, status: str, old: str | None, **kw: Any) -> LandResult:
        kw.setdefault("new_tip", old)
        return LandResult(
            self.label, status, old, retries=len(self.events), events=list(self.events), **kw
        )

    def run(
        self, head: str, base: str | None, max_retries: int, known_tip: str | None = None
    ) -> LandResult:
        try:
            return self._attempts(head, base, max_retries, known_tip)
        except (GitError, Missing) as exc:  # this branch failed oddly; the queue moves on
            return self.result(ERROR, None, message=f"landing {self.label} failed: {exc}")

    def _attempts(
        self, head: str, base: str | None, max_retries: int, known_tip: str | None
    ) -> LandResult:
        if known_tip is None or not _is_oid(head):
            head = self.repo.git_out("rev-parse", "--verify", f"{head}^{{commit}}")
        # else: an object id the caller resolved and the rebase peels; peeled below only
        # where it is pushed as it is (a new ref)
        failed: tuple[str | None, Completed] | None = None  # the last push refused, onto what
        for attempt in range(max_retries + 2):
            try:
                if attempt == 0 and known_tip is not None:
                    old: str | None = known_tip  # read under this lease: no fetch needed
                else:
                    old = fetch_tip(self.repo, self.url, self.target_ref)
            except GitError as exc:
                return self.result(ERROR, None, message=f"cannot fetch {self.target}: {exc}")
            if failed is not None:
                before, push = failed
                if old == before:  # the remote did not move: the push failed for another reason
                    return self.result(ERROR, old, message=_push_error(self.target, push))
                if attempt > max_retries:
                    break
                self._event(
                    f"retry {attempt}: {self.target} moved from {_abbrev(before)} "
                    f"to {_abbrev(old)} before our push (another landing won); "
                    "fetching, rebasing and checking again"
                )
            prepared = self._prepare(head, base, old)
            if isinstance(prepared, LandResult):
                return prepared
            push = push_cas(
                self.repo, self.url, prepared.new_tip, self.target_ref, old, self.push_options
            )
            if push.returncode == 0:
                return self._landed(old, prepared)
            failed = (old, push)
        return self.result(
            LOST_RACE,
            old,
            message=(
                f"gave up landing {self.label} on {self.target} after {max_retries} "
                f"retr{'y' if max_retries == 1 else 'ies'}: other landings kept moving it first; "
                f"nothing of {self.label} was pushed; run `gitfleet land {self.label}` again"
            ),
        )

    def _event(self, text: str) -> None:
        self.events.append(text)
        if self.on_event is not None:
            self.on_event(f"{self.label}: {text}")

    def _prepare(self, head: str, base: str | None, old: str | None) -> LandResult | Rebased:
        """Rebase onto ``old`` and check; a LandResult when there is nothing to push."""
        if old is None:  # a new branch on the remote: nothing to rebase onto
            head = self.repo.git_out("rev-parse", "--verify", f"{head}^{{commit}}")
            fresh = self.repo.git_out("rev-list", "--reverse", head, "--not", "--remotes")
            rebased = Rebased(head, fresh.split(), [], [])
        elif self.objects.is_ancestor(head, old):
            return self.result(UP_TO_DATE, old, message=f"{self.label} is already on {self.target}")
        else:
            if self._committer is None:  # in this process's environment: the agent's identity
                from gitfleet.git.rebase import committer_ident

                self._committer = committer_ident(self.repo.toplevel)
            outcome = self.objects.rebase_range(base or old, head, old, self._committer)
            if isinstance(outcome, Conflict):
                outcome = self._synthesize(base or old, head, old, outcome)
            if isinstance(outcome, Conflict):
                return self._conflict(old, outcome)
            rebased = outcome
            if self.cfg.land_regenerate:
                rebuilt = self._regenerate(head, old, rebased)
                if isinstance(rebuilt, LandResult):
                    return rebuilt
                rebased = rebuilt
            if rebased.new_tip == old:
                return self.result(
                    UP_TO_DATE,
                    old,
                    skipped=rebased.skipped,
                    message=f"every change of {self.label} is already on {self.target}",
                )
        refused = self._gate(head, old, rebased)
        if refused is not None:
            return refused
        problems = idcheck.check_push(
            self.repo, self.cfg, old, rebased.new_tip, self.owner,
            worktree=self.worktree, allow_config=self.allow_config, from_agent=self.from_agent,
        )  # fmt: skip
        if problems:
            return self.of_rebase(
                ERROR,
                old,
                rebased,
                message=f"{self.label} breaks gitfleet's rules once on {self.target}; nothing "
                "was pushed:\n  " + "\n  ".join(problems),
            )
        return self._check(old, rebased)

    def _synthesize(
        self, upstream: str, head: str, old: str, conflict: Conflict
    ) -> Rebased | Conflict:
        """The rebase again, in this process, with the synthesis ladder on its conflicts.

        The daemon rebases without it (it is below synthesis, and most landings never
        conflict); only a conflicted landing pays for the ladder here.
        """
        rungs, globs = self.cfg.land_resolve, list(self.cfg.land_regenerate)
        model = claude.connect(self._notes(head, old)) if "claude" in rungs else None
        if model is None and not globs and not any(r in rungs for r in IN_MEMORY):
            return conflict
        ladder = Ladder(rungs, claude=model, regenerate=globs)
        return rebase_range(
            self.repo.toplevel, upstream, head, old, self._committer, resolver=ladder
        )

    def _notes(self, head: str, old: str) -> claude.Notes:
        """Both sides' commit messages since they parted, for the claude rung's prompt."""

        def messages(revs: str) -> str:
            return self.repo.git_out("log", "-n", "20", "--format=- %B", revs)

        return claude.Notes(target=messages(f"{head}..{old}"), branch=messages(f"{old}..{head}"))

    def _resolutions(self, old: str | None, rebased: Rebased) -> list[dict[str, str]]:
        """Each settled file and its rung; for Claude's, a diffstat of what it wrote."""
        found = []
        for path, rung in rebased.resolved:
            entry = {"path": path, "rung": rung}
            if rung == "claude" and old is not None:
                stat = self.repo.git_out("diff", "--shortstat", old, rebased.new_tip, "--", path)
                entry["diffstat"] = stat.strip()
            found.append(entry)
        return found

    def _regenerate(self, head: str, old: str, rebased: Rebased) -> Rebased | LandResult:
        """Generated files both sides changed, rebuilt by their ``[land.regenerate]``."""
        jobs = regenerate.due(self.repo, self.cfg.land_regenerate, old, head, rebased)
        if not jobs:
            return rebased
        assert self._committer is not None
        rebuilt = regenerate.rebuild(self.repo, rebased, jobs, refresh_ident(self._committer))
        if isinstance(rebuilt, Rebased):
            return rebuilt
        return self.of_rebase(
            CHECK_FAILED,
            old,
            rebased,
            check_output=rebuilt.output,
            message=(
                f"[land.regenerate] `{rebuilt.command}` failed (exit {rebuilt.returncode}) on "
                f"{self.label} rebased onto {self.target}; nothing was pushed and "
                f"{self.label} is unchanged"
            ),
        )

    def _gate(self, head: str, old: str | None, rebased: Rebased) -> LandResult | None:
        """The synthesis gate on exactly what would land, resolved or clean."""
        rebuilt = {p for p, rung in rebased.resolved if rung == REGENERATE}
        found = gate.check_landing(self.repo.toplevel, old, head, rebased.new_tip, rebuilt)
        findings = [str(f) for f in found]
        if not findings:
            return None
        return self.of_rebase(
            GATE_REFUSED,
            old,
            rebased,
            resolved=self._resolutions(old, rebased),
            findings=findings,
            message=(
                f"{self.label} rebased onto {self.target} fails the landing gate; nothing was "
                f"pushed and {self.label} is unchanged:\n  "
                + "\n  ".join(findings)
                + f"\nFix it on the branch, then `gitfleet land {self.label}` again"
            ),
        )

    def _check(self, old: str | None, rebased: Rebased) -> LandResult | Rebased:
        if not self.command:
            return rebased

        tree = self.repo.git_out("rev-parse", f"{rebased.new_tip}^{{tree}}")
        if tree in self.passed_trees:
            return rebased
        env = {
            "GITFLEET_LAND_BRANCH": self.label,
            "GITFLEET_LAND_TARGET": self.target,
            "GITFLEET_LAND_COMMIT": rebased.new_tip,
        }
        outcome = scratch.check_commit(self.repo, rebased.new_tip, self.command, env)
        by_claude = [path for path, rung in rebased.resolved if rung == "claude"]
        if not outcome.passed and by_claude:  # Claude's proposal is refused: a conflict
            why = f"claude: its resolution fails the check `{self.command}`"
            return self.result(
                CONFLICT,
                old,
                paths=by_claude,
                declined=[{"path": p, "reason": why} for p in by_claude],
                check_output=outcome.output,
                message=(
                    f"{self.label} conflicts with {self.target} in {', '.join(by_claude)}; "
                    f"Claude's resolution failed the check `{self.command}` (exit "
                    f"{outcome.returncode}), so nothing was pushed and {self.label} is "
                    "unchanged. Rebase it where it is checked out, resolve, then land it again"
                ),
            )
        if not outcome.passed:
            return self.of_rebase(
                CHECK_FAILED,
                old,
                rebased,
                check_output=outcome.output,
                message=(
                    f"check `{self.command}` failed (exit {outcome.returncode}) on {self.label} "
                    f"rebased onto {self.target} ({_abbrev(rebased.new_tip)}); nothing was "
                    f"pushed and {self.label} is unchanged. Fix it on the branch, then "
                    f"`gitfleet land {self.label}` again"
                ),
            )
        self.passed_trees.add(tree)
        return rebased

    def _conflict(self, old: str, conflict: Conflict) -> LandResult:
        subject = self.repo.git_out("log", "-1", "--format=%s", conflict.commit)
        files = ", ".join(conflict.paths)
        why = "".join(f"\n  {path}: {reason}" for path, reason in conflict.declined)
        return self.result(
            CONFLICT,
            old,
            paths=conflict.paths,
            declined=[{"path": p, "reason": r} for p, r in conflict.declined],
            message=(
                f"{self.label} conflicts with {self.target} in {files} (replaying "
                f"{_abbrev(conflict.commit)} {subject!r}); nothing was pushed and "
                f"{self.label} is unchanged. Rebase it where it is checked out "
                f"(`git fetch {self.cfg.remote} && git rebase {self.cfg.remote}/{self.target}`), "
                f"resolve {files}, then land it again"
                + (f"\nWhy synthesis left it:{why}" if why else "")
            ),
        )

    def _landed(self, old: str | None, rebased: Rebased) -> LandResult:
        if self.follow:
            follow_tracking_ref(
                self.repo, self.cfg, self.url, self.target, rebased.new_tip, self.objects
            )
        landed_ids, note = mark_landed_ids(self.repo, self.cfg, old, rebased.new_tip, self.label)
        count = len(rebased.applied)
        message = (
            f"landed {self.label} on {self.target}: {count} commit{'s' * (count != 1)}, "
            f"{_abbrev(old)}..{_abbrev(rebased.new_tip)}"
        )
        if rebased.skipped:
            message += f"; {len(rebased.skipped)} already there, skipped"
        if self.events:
            message += f"; after {len(self.events)} retr{'ies' if len(self.events) > 1 else 'y'}"
        if rebased.resolved:
            message += "; resolved " + ", ".join(f"{p} ({r})" for p, r in rebased.resolved)
        return self.result(
            LANDED,
            old,
            new_tip=rebased.new_tip,
            applied=rebased.applied,
            skipped=rebased.skipped,
            landed_ids=landed_ids,
            resolved=self._resolutions(old, rebased),
            message=message + note,
        )


def refresh_ident(ident: str) -> str:
    """A ``git var GIT_COMMITTER_IDENT`` line with its time made now, unless the time was
    set on purpose (``GIT_COMMITTER_DATE``): it may have been learnt a while ago."""
    if "GIT_COMMITTER_DATE" in os.environ:
        return ident
    person, close, when = ident.rpartition(">")
    stamp, _, zone = when.strip().partition(" ")
    if not close or not stamp.isdigit():
        return ident

    return f"{person}> {int(time.time())} {zone}".rstrip()


def _is_oid(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _push_error(target: str, push: Completed) -> str:
    text = (push.stdout + push.stderr).strip()
    return f"push to {target} failed and the remote did not move:\n  " + text.replace("\n", "\n  ")


@contextlib.contextmanager
def lease(repo: Repo, url: str, ref: str, label: str) -> Iterator[Grant]:
    """The queue's lease on ``ref`` of ``url``: one landing or push at a time per ref."""

    with client.lease(repo, url, [ref], label=label) as grant:
        yield grant


def _resolve(repo: Repo, branch: str) -> str:
    for name in (f"refs/heads/{branch}", branch):
        proc = repo.git("rev-parse", "-q", "--verify", f"{name}^{{commit}}", check=False)
        if proc.returncode == 0:
            return proc.stdout.strip()
    raise UsageError(
        f"{branch!r} is not a branch or commit in {repo.toplevel}; see `git branch --list`"
    )


def _abbrev(oid: str | None) -> str:
    return oid[:10] if oid else "(none)"
