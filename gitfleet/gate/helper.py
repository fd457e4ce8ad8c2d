"""``git-remote-gitfleet``: the push gate that makes a waiting push succeed.

``gitfleet init`` sets the remote's push URL to ``gitfleet::<real url>``, so every ``git
push`` to it runs this helper (gitremote-helpers(7)). The order of events is what makes it
work (DESIGN.md, facts about git):

1. ``list for-push``: we take the queue lease for the refs this push will update (read
   from the ``git push`` command line, see :mod:`gitfleet.gate.pushargs`), *then* list
   the real remote. Git and the pre-push hook see the remote as it is on our turn.
2. git runs the pre-push hook, then sends ``push [+]src:dst`` lines. Under the lease we
   read the remote again and push with ``git`` to the real URL, each ref a
   compare-and-swap on the value just read. Answers: ``ok dst`` / ``error dst why``; the
   words git knows (``non-fast-forward``, ``fetch first``, ``stale info``) give its usual
   refusal and hints.
3. A push to the target branch that others moved meanwhile is landed for the agent
   (:func:`gitfleet.land.landing.land_under_lease`: rebase in memory, check, compare-and-swap
   push). Git refuses locally any push that is not a fast-forward of what we listed, so
   for that one ref we list the fork point of the pushed commit and the real tip: to git
   the push is then a fast-forward, and the landing does the rest. ``[push] rebase =
   false`` turns this off: then every listed value is the real one and git refuses as
   usual, but from a fresh view, never a stale one. The merge base and the rebase are
   asked of the queue daemon over the lease's connection (:mod:`gitfleet.queue.objects`):
   it keeps pygit2 loaded, which this short-lived process would import at a cost larger
   than the rest of its work.
4. git then records the commit it pushed as ``<remote>/<branch>``, and only then ends the
   helper's stdin; after a rebased landing the helper corrects the ref at that point
   (:mod:`gitfleet.gate.trackfix`), before ``git push`` exits.

The lease ends when the push batch is done, or when this process exits. One exception: a
push to the target alone, which will be landed by rebasing whatever it finds, lets go of
the lease once it has listed, while git runs the pre-push hook, and takes it again for its
push lines (reading the remote again under it): nothing another push does in between can
make it fail, and the hook (a python process) is then out of the part of a race that is
serial. Every process this helper starts while it holds the lease is time the other pushes
wait, so local questions are asked before the lease is taken and answers are remembered.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

from gitfleet.errors import GitError, GitfleetError, UsageError, boundary
from gitfleet.gate import pushargs, relay, trackfix
from gitfleet.gate.pushargs import Prediction
from gitfleet.gate.relay import Options, Spec
from gitfleet.git.rebase import committer_ident
from gitfleet.git.remote import (
    fetch_tip,
    is_remote_name,
    load_target_rules,
    short_ref,
    target_branch,
    unrouted,
)
from gitfleet.git.repo import Repo, discover, refuse_state_override
from gitfleet.ids import idcheck
from gitfleet.land import landing
from gitfleet.land.records import mark_landed_ids
from gitfleet.land.result import LANDED, Request
from gitfleet.queue import client, procs
from gitfleet.queue.objects import Missing, Objects

CAPABILITIES = ("option", "push")


def entry() -> None:
    """``git-remote-gitfleet``: git runs it for push URLs of the form ``gitfleet::<url>``."""
    boundary(lambda: main(sys.argv[1:], sys.stdin, sys.stdout))


def main(argv: list[str], stdin: TextIO, stdout: TextIO) -> int:
    """Serve one ``git push`` (``argv``: remote name and URL, as git passes them)."""
    if not argv:
        raise UsageError(
            "git-remote-gitfleet is run by git for push URLs of the form gitfleet::<url>; "
            "set one with `gitfleet init`, not by hand"
        )
    remote = argv[0]
    url = argv[1] if len(argv) > 1 else argv[0]
    url = unrouted(url)
    refuse_state_override()
    repo = discover(keep_git_env=True)  # git runs us with GIT_DIR set, from the push's folder
    client.prestart(repo)  # a daemon that must start does so while we read our config
    helper = Helper(repo, remote, url, stdout)
    try:
        return helper.serve(stdin)
    finally:
        helper.release()
        helper.fix_tracking_refs()  # git wrote its tracking refs before ending our stdin


def _err(text: str) -> None:
    print(f"gitfleet: {text}", file=sys.stderr, flush=True)


class Helper:
    def __init__(self, repo: Repo, remote: str, url: str, out: TextIO) -> None:
        self.repo, self.remote, self.url, self.out = repo, remote, url, out
        self.cfg = load_target_rules(repo, remote if is_remote_name(remote) else None)
        self.target_ref = f"refs/heads/{target_branch(repo, self.cfg)}"
        self.options = Options()
        self.grant: client.Grant | None = None
        self.push = procs.find_push()
        self.prediction = Prediction()
        self.forks: dict[str, str] = {}  # ref -> fork point we listed instead of its tip
        # (token, real values) read under that lease: still true while we hold it
        self.listed: tuple[int, dict[str, str | None]] | None = None
        self._known: dict[tuple[str, str], str | bool] = {}
        self.landed: dict[str, str] = {}  # ref -> the rebased tip we landed there
        self.fixes: list[tuple[str, str, str]] = []  # (tracking ref, git writes, landed)
        self.committer: str | None = None  # `git var GIT_COMMITTER_IDENT`, once needed

    # --- the protocol ---------------------------------------------------------------

    def serve(self, stdin: TextIO) -> int:
        while line := stdin.readline():
            line = line.rstrip("\n")
            if line == "":
                break
            if line == "capabilities":
                self._say(*CAPABILITIES, "")
            elif line.startswith("option "):
                name, _, value = line[len("option ") :].partition(" ")
                try:
                    known = self.options.set(name, value)
                except ValueError:
                    known = False
                self._say("ok" if known else "unsupported")
            elif line in ("list", "list for-push"):
                self._list(for_push=line == "list for-push")
            elif line.startswith("push "):
                batch = [line]
                while (more := stdin.readline().rstrip("\n")) != "":
                    batch.append(more)
                self._say(*self._push(batch), "")
            else:
                raise UsageError(f"git sent the remote helper an unknown command: {line!r}")
        return 0

    def _say(self, *lines: str) -> None:
        self.out.write("".join(f"{line}\n" for line in lines))
        self.out.flush()

    # --- list -----------------------------------------------------------------------

    def _list(self, for_push: bool) -> None:
        if for_push:
            if self.push is not None:
                self.prediction = pushargs.predict(self.push[1], self.remote)
            for source in self.prediction.refs.values():
                self._resolve(source)  # a local question: ask it before others wait on us
            if self.prediction.refs:
                self._lease(sorted(self.prediction.refs))
        listing = relay.ls_remote(self.url)
        refs = dict(listing.refs)
        if self.grant is not None:
            self.listed = (self.grant.token, {r: refs.get(r) for r in self.grant.refs})
        if for_push:
            self._advertise_fork_point(refs)
            if self._rebased_whatever_comes(refs):
                # Nothing another push does between now and our push lines can make this
                # one fail: it goes to the target alone and is landed onto whatever tip it
                # finds then, read again under the lease it takes again. So the lease is
                # not held while git runs the pre-push hook (a python process): the next
                # push lists meanwhile, and the serial part of a race is the pushes only.
                listed = self.listed[1].get(self.target_ref) if self.listed else None
                self.release(tips={self.target_ref: listed} if listed else None)
        lines = [f"@{dest} {name}" for name, dest in listing.symrefs.items()]
        lines += [f"{oid} {name}" for name, oid in sorted(refs.items())]
        self._say(*lines, "")

    def _rebased_whatever_comes(self, listed: dict[str, str]) -> bool:
        ref = self.target_ref
        return (
            self.grant is not None
            and set(self.prediction.refs) == {ref}
            and self._may_land()
            and ref in listed  # a new ref is created by a plain push: keep its lease
            and ("have", listed[ref]) in self._known  # the fork point was worked out
        )

    def _advertise_fork_point(self, refs: dict[str, str]) -> None:
        ref = self.target_ref
        guess = self.prediction
        if not self.cfg.push_rebase or guess.forced or ref not in guess.refs or ref not in refs:
            return
        head = self._resolve(guess.refs[ref])
        if head is None:
            return
        fork = self._fork_point(refs[ref], head, ref)
        if fork is not None:
            refs[ref] = self.forks[ref] = fork

    def _fork_point(self, tip: str, head: str, ref: str) -> str | None:
        """Where ``head`` left ``tip``'s history, when ``head`` is not a fast-forward."""
        try:
            fork = self.objects().merge_base(tip, head)
        except Missing:  # we lack the tip's objects: fetch them and ask again
            if fetch_tip(self.repo, self.url, ref) != tip:
                return None
            try:
                fork = self.objects().merge_base(tip, head)
            except Missing:
                return None
        if not fork:
            return None  # unrelated histories: git decides as usual
        self._known[("have", tip)] = True
        self._known[(tip, head)] = fork == tip  # is tip an ancestor of head?
        if fork in (tip, head):
            return None  # a fast-forward, or nothing new: git decides as usual
        return fork

    # --- push -----------------------------------------------------------------------

    def _push(self, batch: list[str]) -> list[str]:
        specs = [Spec.parse(line) for line in batch]
        wanted = sorted({s.dst for s in specs})
        try:
            if self.grant is None or not set(wanted) <= set(self.grant.refs):
                self.release()  # re-lease in sorted order: never hold some while waiting
                self._lease(wanted)
            done = _Batch(self, specs)
            results = done.run()
            after = done.after
        except GitfleetError as exc:
            _err(str(exc))
            why = str(exc).splitlines()[0]
            results, after = {s.dst: why for s in specs}, {}
        except BaseException:
            self.release()
            raise
        # The outcomes ride on the release: the next push need not wait for a round trip.
        self.release([(s.dst, self._summary(s, results.get(s.dst))) for s in specs], after)
        return [
            f"ok {s.dst}" if results.get(s.dst) is None else f"error {s.dst} {results[s.dst]}"
            for s in specs
        ]

    def _summary(self, spec: Spec, why: str | None) -> dict[str, Any]:
        status = "refused" if why is not None else "landed" if spec.dst in self.landed else "pushed"
        return {
            "status": status,
            "by": "git push (gitfleet remote helper)",
            "branch": short_ref(spec.src) if spec.src else "(deletion)",
            "new": self.landed.get(spec.dst),
            "worktree": str(self.repo.toplevel),
            "message": why or ("rebased onto the fresh tip" if status == "landed" else ""),
        }

    # --- leases and git -------------------------------------------------------------

    def _lease(self, refs: list[str]) -> None:
        names = ", ".join(short_ref(r) for r in refs)

        def waiting(ahead: int) -> None:
            if self.options.verbosity >= 1:
                _err(f"waiting for the push queue ({ahead} ahead of this push to {names})")
            if self.committer is None and self._may_land():
                # Others push first, so ours will likely be rebased: learn who commits now,
                # while we wait, rather than under the lease while others wait for us.
                with contextlib.suppress(GitError):  # no identity: the landing will say so
                    self.committer = committer_ident(self.repo.toplevel)

        pid = self.push[0].pid if self.push else None
        label = f"git push {names} from {self.repo.toplevel}" + (f" (pid {pid})" if pid else "")
        self.grant = client.acquire(
            self.repo, self.url, refs, timeout=self.cfg.lease_timeout, label=label,
            on_wait=waiting,
        )  # fmt: skip

    def _may_land(self) -> bool:
        guess = self.prediction
        return self.cfg.push_rebase and not guess.forced and self.target_ref in guess.refs

    def release(
        self,
        records: list[tuple[str, dict[str, Any]]] | None = None,
        tips: dict[str, str] | None = None,
    ) -> None:
        """Let go of the lease, telling the daemon the outcomes and (``tips``) the values
        the remote's refs hold now as far as we know: the next holder's hints."""
        if self.grant is not None:
            client.release(self.repo, self.grant, records or (), tips)
            self.grant = None
        elif records:  # the lease was never granted: say what happened all the same
            for ref, summary in records:
                client.record_result(self.repo, self.url, ref, summary)

    def objects(self) -> Objects:
        """Object questions, asked of the daemon over our lease's connection."""
        return Objects(self.repo.toplevel, self.grant.conn if self.grant else None)

    def fix_tracking_refs(self) -> None:
        for ref, git_wrote, landed in self.fixes:
            trackfix.fix(self.repo, ref, git_wrote, landed)
        self.fixes = []

    # Answers about local objects are remembered for the helper's short life: each costs a
    # git process, the list and push phases ask the same questions, and all of it runs
    # while other pushes wait for our lease. (Objects never vanish during a push.)

    def _resolve(self, rev: str) -> str | None:
        if ("rev", rev) not in self._known:
            # Run at the pushing worktree's root, so HEAD is that worktree's HEAD.
            # Not peeled: an annotated tag is pushed as the tag object (ancestry questions
            # peel it themselves).
            proc = self.repo.git("rev-parse", "-q", "--verify", rev, check=False)
            self._known[("rev", rev)] = proc.stdout.strip() if proc.returncode == 0 else ""
        return str(self._known[("rev", rev)]) or None

    def _have(self, oid: str) -> bool:
        if not self._known.get(("have", oid)):
            proc = self.repo.git("cat-file", "-e", oid, check=False)
            self._known[("have", oid)] = proc.returncode == 0
        return bool(self._known[("have", oid)])

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is in ``descendant``'s history; False when it is no commit
        here (then :meth:`_have` says whether it is here at all)."""
        if (ancestor, descendant) not in self._known:
            try:
                found = self.objects().is_ancestor(ancestor, descendant)
            except GitfleetError:  # not a commit (a tag of a tree...) or not here
                found = False
            else:  # both were read: no `git cat-file -e` needed for either
                self._known[("have", ancestor)] = self._known[("have", descendant)] = True
            self._known[(ancestor, descendant)] = found
        return bool(self._known[(ancestor, descendant)])


class _Batch:
    """One batch of ``push`` lines, decided and carried out under the lease."""

    def __init__(self, helper: Helper, specs: list[Spec]) -> None:
        self.h = helper
        self.specs = specs
        self.results: dict[str, str | None] = {}
        self.plain: list[tuple[str, str, str | None]] = []  # (src oid, dst, expected)
        self.lands: list[tuple[Spec, str, str]] = []  # (spec, head, remote tip)
        self.after: dict[str, str] = {}  # dst -> what the remote holds once we are done

    def run(self) -> dict[str, str | None]:
        h = self.h
        hinted = self._land_on_hint()
        if hinted is not None:
            self.lands.append(hinted)
        else:
            fresh = self._fresh()
            for spec in self.specs:
                self._decide(spec, fresh.get(spec.dst))
                if self.results.get(spec.dst, "") is None and fresh.get(spec.dst):
                    self.after[spec.dst] = str(fresh[spec.dst])  # up to date
        if h.options.atomic and len(self.specs) > 1:
            self._atomic()
        if self.plain:
            self.results.update(relay.push(h.url, self.plain, h.options))
            self.after.update(
                {dst: src for src, dst, _ in self.plain if src and self.results.get(dst) is None}
            )
            self._mark_landed()
        for spec, head, tip in self.lands:
            self.results[spec.dst] = self._land(spec, head, tip)
        return self.results

    def _land_on_hint(self) -> tuple[Spec, str, str] | None:
        """One push to the target, to be landed whatever it finds, and the lease's previous
        holder left word of the tip it saw: land onto that without reading the remote. The
        landing's compare-and-swap push checks the word; a push from outside the queue
        that made it wrong costs a fetch and another try, never a refusal. Anything else
        (or an answer that would push nothing) reads the remote as usual."""
        h = self.h
        spec = self.specs[0]
        tip = h.grant.tips.get(spec.dst) if h.grant is not None else None
        if (
            tip is None
            or len(self.specs) != 1
            or spec.dst != h.target_ref
            or not h.cfg.push_rebase
            or not spec.src
            or spec.force
            or h.options.force
            or h.options.dry_run
            or spec.dst in h.options.cas
        ):
            return None
        head = h._resolve(spec.src)
        if head is None or head == tip:
            return None
        try:
            if h.objects().is_ancestor(head, tip):
                return None  # nothing to push, says the hint: make sure of it
        except GitfleetError:
            return None  # the tip is not here: read and fetch as usual
        h._known[("have", tip)] = True
        return spec, head, tip

    def _mark_landed(self) -> None:
        """Ids a plain push brought onto the target are landed, as if `gitfleet land` did it."""
        h = self.h
        if not h.cfg.series:
            return  # no ids to mark
        for head, dst, expected in self.plain:
            if dst == h.target_ref and head and self.results.get(dst) is None:
                _ids, note = mark_landed_ids(h.repo, h.cfg, expected, head, dst)
                if note.startswith(" (ledger"):
                    _err(note.strip(" ()"))

    def _fresh(self) -> dict[str, str | None]:
        """The remote's values of our refs: as listed, when read under this very lease
        (nothing gated can have moved them since), else read again."""
        h = self.h
        dsts = [s.dst for s in self.specs]
        if h.listed is not None and h.grant is not None and h.listed[0] == h.grant.token:
            return {d: h.listed[1].get(d) for d in dsts}
        found = relay.ls_remote(h.url, dsts).refs
        return {d: found.get(d) for d in dsts}

    def _decide(self, spec: Spec, tip: str | None) -> None:
        h, dst = self.h, spec.dst
        force = spec.force or h.options.force
        expected = tip
        if dst in h.options.cas:  # --force-with-lease: the caller's expectation, checked fresh
            expected = h.options.cas[dst] or None
            if tip != expected:
                self.results[dst] = "stale info"
                return
            force = True
        if not spec.src:  # deletion
            self.plain.append(("", dst, expected))
            return
        head = h._resolve(spec.src)
        if head is None:
            self.results[dst] = f"cannot resolve {spec.src!r} in {h.repo.toplevel}"
        elif head == tip:
            self.results[dst] = None  # up to date
        elif dst.startswith("refs/heads/") and self._refused_by_rules(spec, head, tip):
            return
        elif force or tip is None or h._is_ancestor(tip, head):
            if dst == h.target_ref and not force and tip is not None and h.cfg.land_check:
                # The target only moves to checked trees: a fast-forward is checked too.
                if not h.options.dry_run:
                    self.lands.append((spec, head, tip))
                return
            self.plain.append((head, dst, expected))
        elif dst == h.target_ref and h.cfg.push_rebase:
            if h.options.dry_run:
                _err(f"{short_ref(dst)} moved on the remote; a real push would rebase and land")
                self.results[dst] = None
            else:
                self.lands.append((spec, head, tip))
        else:
            self.results[dst] = "non-fast-forward" if h._have(tip) else "fetch first"

    def _refused_by_rules(self, spec: Spec, head: str, tip: str | None) -> bool:
        """The gate's own check of a push to a branch, under the lease: the hooks only warn
        early, and ``--no-verify`` skips them. Every branch, not only the target: the target's
        name must not be the worktree's to change. A push to the target that will be rebased
        is checked by its landing instead, on the tree that lands."""
        h = self.h
        if tip is not None and not h._have(tip):
            fetch_tip(h.repo, h.url, spec.dst)  # judged against the remote's real tip
        will_land = (
            spec.dst == h.target_ref
            and tip is not None
            and h.cfg.push_rebase
            and not h._is_ancestor(tip, head)
        )
        if will_land and not (spec.force or h.options.force):
            return False
        found = idcheck.check_push(
            h.repo, h.cfg, tip, head, idcheck.owner_of_ref(h.repo, spec.src),
            worktree=idcheck.agent_worktree(h.repo), from_agent=idcheck.agent_side(h.repo),
        )  # fmt: skip
        if not found:
            return False
        _err("push refused by gitfleet's rules; nothing was pushed:\n  " + "\n  ".join(found))
        self.results[spec.dst] = "refused by gitfleet's rules (see above)"
        return True

    def _atomic(self) -> None:
        """--atomic: all refs or none. A landing rewrites commits, so it cannot join in."""
        if self.lands:
            for spec, _, _ in self.lands:
                self.results[spec.dst] = "non-fast-forward"
            self.lands = []
        if any(why is not None for why in self.results.values()):
            for _, dst, _ in self.plain:
                self.results[dst] = "atomic push failed"
            self.plain = []

    def _land(self, spec: Spec, head: str, tip: str) -> str | None:
        h = self.h

        assert h.grant is not None  # _push took it
        # The tip was read under this very lease; when its objects are here (the fork
        # point needed them) the landing starts from it instead of fetching it again.
        known = tip if h._known.get(("have", tip)) is True else None
        request = Request(
            head, spec.src or head, base=h.forks.get(spec.dst), known_tip=known, follow=False,
            committer=h.committer, push_options=h.options.push_options,
            owner=idcheck.owner_of_ref(h.repo, spec.src), worktree=idcheck.agent_worktree(h.repo),
            from_agent=idcheck.agent_side(h.repo),
        )  # fmt: skip
        result = landing.land_under_lease(h.repo, h.cfg, h.url, spec.dst, h.grant, request)
        if not result.ok:
            _err(result.message)
            if result.paths:
                return f"{result.status} in {', '.join(result.paths)}; nothing was pushed"
            return f"{result.status}; nothing was pushed"
        if result.new_tip:
            self.after[spec.dst] = result.new_tip
        if result.status == LANDED and result.new_tip and result.new_tip != head:
            count = len(result.applied)
            onto = result.old_tip or tip  # what it was rebased onto, after any retry
            _err(
                f"{short_ref(spec.dst)} had moved on {h.remote}: rebased {count} commit"
                f"{'s' * (count != 1)} onto {onto[:10]} and landed {result.new_tip[:10]}"
                f" ({onto[:10]}..{result.new_tip[:10]})"
            )
            h.landed[spec.dst] = result.new_tip
            self._fix_tracking_ref(spec.dst, head, result.new_tip)
        return None

    def _fix_tracking_ref(self, dst: str, pushed: str, landed: str) -> None:
        """Git will write ``pushed`` as the remote-tracking ref: correct it once it has."""
        h = self.h
        if not dst.startswith("refs/heads/") or not is_remote_name(h.remote):
            return  # a push to a URL (no remote name): git writes no tracking ref
        # Only a remote with the standard fetch refspec has this ref; with another one the
        # compare-and-swap finds no `pushed` there (that commit never was on the remote).
        h.fixes.append((f"refs/remotes/{h.remote}/{short_ref(dst)}", pushed, landed))
