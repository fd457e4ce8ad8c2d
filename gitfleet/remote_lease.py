"""A lease on the git remote: one holder at a time across machines, first come first served.

For landing from several machines (issue 6, optional fairness): each machine's queue daemon
serialises its own pushes, but between machines the target ref is a free-for-all in which a
machine with a long queue wins every race (it starts its next push the moment it lands,
while the loser first has to learn it lost), and another machine's branches wait forever.
The lease ref ``refs/gitfleet/leases/<name>`` on the remote records the holder, its expiry
and a fencing token, plus a FIFO list of machines waiting for it; it is changed only by
compare-and-swap pushes, like the remote ledger. A machine that finds it taken queues
itself; a released or expired lease goes to the first live waiter, not to whoever asks next.

Expiry makes a dead holder harmless; the fencing token makes a *slow* holder harmless: a
holder whose lease expired and was taken over must not land anyway, so
:meth:`RemoteLease.fenced_push` pushes the landing together with a renewal of the lease in
one ``--atomic`` push, which the server refuses as a whole when the lease moved.

When is it worth it? Only when several machines land on the same target *continuously*
(CI runners or workstations each with a queue of more than a couple of branches). A lease
costs every landing two more round trips (take, give back) and serialises machines that
could otherwise interleave. With one machine, or machines landing now and then, the plain
compare-and-swap push with retries is fairer than it sounds and cheaper.

State is JSON in the lease commit's message (the tree is empty), so reading it is one fetch
and one ``cat-file``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

from gitfleet import git
from gitfleet.errors import Refusal
from gitfleet.git import Repo
from gitfleet.remote_ledger import remote_url

LEASE_PREFIX = "refs/gitfleet/leases/"
LOCAL_PREFIX = "refs/gitfleet/remote-leases/"
_RETRIES = 30
_ENV = {
    "LC_ALL": "C",
    "LANGUAGE": "C",
    "GIT_AUTHOR_NAME": "gitfleet",
    "GIT_AUTHOR_EMAIL": "gitfleet@localhost",
    "GIT_COMMITTER_NAME": "gitfleet",
    "GIT_COMMITTER_EMAIL": "gitfleet@localhost",
}


class LeaseLost(Refusal):
    """The lease expired and someone else holds it now: stop, do not land."""


@dataclass(frozen=True)
class LeaseState:
    holder: str | None = None
    expires: float = 0.0
    token: int = 0  # increases every time the lease changes hands
    waiters: tuple[tuple[str, float], ...] = ()  # (machine, since), first come first served
    oid: str | None = None  # the lease commit on the remote; None: never taken

    def to_json(self) -> str:
        return json.dumps(
            {"holder": self.holder, "expires": round(self.expires, 3), "token": self.token,
             "waiters": [[n, round(t, 3)] for n, t in self.waiters]},
            sort_keys=True,
        )  # fmt: skip


@dataclass(frozen=True)
class Lease:
    """Held: valid until ``expires`` unless renewed; ``token`` fences stale holders."""

    name: str
    holder: str
    token: int
    expires: float
    oid: str


class RemoteLease:
    def __init__(self, repo: Repo, remote: str, name: str = "landing", ttl: float = 60.0) -> None:
        self.repo = repo
        self.remote = remote
        self.url = remote_url(repo, remote)
        self.name = name
        self.ttl = ttl
        self.ref = LEASE_PREFIX + name
        self.local = LOCAL_PREFIX + name

    # -- reading and writing the ref ------------------------------------------------------

    def _git(self, *args: str, input: str | None = None) -> git.Completed:
        env = {**git.no_git_env(), **_ENV}
        return git.run(args, self.repo.toplevel, input=input, env=env, check=False)

    def read(self) -> LeaseState:
        """The lease as the remote has it now."""
        done = self._git(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
            "--no-auto-gc", self.url, f"+{self.ref}:{self.local}",
        )  # fmt: skip
        if done.returncode != 0:
            if "couldn't find remote ref" in done.stderr:
                return LeaseState()
            raise Refusal(
                f"the remote {self.remote} ({self.url}) could not be reached to read the lease "
                f"{self.name}: {done.stderr.strip().splitlines()[-1:]}\n  fix the connection "
                "and run the command again"
            )
        oid = self._git("rev-parse", self.local).stdout.strip()
        body = self._git("cat-file", "commit", oid).stdout.rsplit("\n\n", 1)[-1]  # the JSON
        data = json.loads(body)
        waiters = tuple((str(n), float(t)) for n, t in data.get("waiters", []))
        return LeaseState(
            data.get("holder"), float(data["expires"]), int(data["token"]), waiters, oid
        )

    def _push_state(
        self, old: LeaseState, new: LeaseState, flags: list[str], refspecs: list[str]
    ) -> tuple[str, git.Completed]:
        """One atomic push: the lease ref from ``old`` to ``new`` (compare-and-swap), plus
        ``refspecs``; the new lease commit and git's answer."""
        tree = self._git("mktree", input="").stdout.strip()
        parents = ["-p", old.oid] if old.oid else []
        message = f"gitfleet lease {self.name}\n\n{new.to_json()}\n"
        commit = self._git("commit-tree", tree, *parents, input=message).stdout.strip()
        done = self._git(
            "push", "--porcelain", "--atomic", "--no-verify", "--no-follow-tags",
            f"--force-with-lease={self.ref}:{old.oid or ''}", *flags, self.url,
            f"{commit}:{self.ref}", *refspecs,
        )  # fmt: skip
        if done.returncode != 0 and not any(ln[:1] == "!" for ln in done.stdout.splitlines()):
            raise Refusal(
                f"the remote {self.remote} ({self.url}) could not be reached to update the lease "
                f"{self.name}: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
            )
        return commit, done

    def _swap(self, old: LeaseState, new: LeaseState) -> str | None:
        """The new lease commit, or None when the lease changed since ``old`` was read."""
        commit, done = self._push_state(old, new, [], [])
        return commit if done.returncode == 0 else None

    # -- the lease ------------------------------------------------------------------------

    def try_acquire(self, holder: str) -> Lease | None:
        """Take the lease if it is free and ``holder`` is first in line; else queue up."""
        state, now = self.read(), time.time()
        waiters = tuple(w for w in state.waiters if now - w[1] < self.ttl)  # drop dead ones
        free = state.holder in (None, holder) or state.expires < now
        if free and (not waiters or waiters[0][0] == holder):
            rest = tuple(w for w in waiters if w[0] != holder)
            expires = now + self.ttl
            new = LeaseState(holder, expires, state.token + 1, rest)
            oid = self._swap(state, new)
            return Lease(self.name, holder, new.token, expires, oid) if oid else None
        mine = [w for w in waiters if w[0] == holder]
        if not mine or now - mine[0][1] > self.ttl / 2:  # join the line, or say we are alive
            line = tuple(w for w in waiters if w[0] != holder)
            if mine:  # keep our place
                index = [w[0] for w in waiters].index(holder)
                line = (*waiters[:index], (holder, now), *waiters[index + 1 :])
            else:
                line = (*waiters, (holder, now))
            self._swap(state, LeaseState(state.holder, state.expires, state.token, line))
        return None

    def acquire(self, holder: str, timeout: float) -> Lease:
        """Wait (polling the remote) until ``holder`` gets the lease, at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            lease = self.try_acquire(holder)
            if lease is not None:
                return lease
            if time.monotonic() >= deadline:
                state = self.read()
                raise Refusal(
                    f"the lease {self.name} on {self.remote} is held by {state.holder} until "
                    f"{time.strftime('%H:%M:%S', time.localtime(state.expires))} (token "
                    f"{state.token}); waiting: {', '.join(w[0] for w in state.waiters) or 'none'}."
                    "\n  Try again later; a dead holder's lease expires on its own"
                )
            time.sleep(random.uniform(0.05, 0.25))

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease; LeaseLost when it expired and changed hands."""
        for _ in range(_RETRIES):  # a waiter may queue meanwhile: re-read and try again
            state = self.read()
            self._check(lease, state)
            expires = time.time() + self.ttl
            oid = self._swap(state, LeaseState(lease.holder, expires, lease.token, state.waiters))
            if oid is not None:
                return Lease(self.name, lease.holder, lease.token, expires, oid)
        raise Refusal(f"could not renew the lease {self.name}: it kept changing; try again")

    def release(self, lease: Lease) -> None:
        """Give the lease back (to the first waiter); a no-op when it was already lost."""
        for _ in range(_RETRIES):  # a waiter may queue meanwhile: re-read and try again
            state = self.read()
            if state.holder != lease.holder or state.token != lease.token:
                return
            if self._swap(state, LeaseState(None, 0.0, state.token, state.waiters)):
                return

    def fenced_push(self, lease: Lease, refspecs: list[str], expect: list[str]) -> Lease:
        """Push ``refspecs`` (with ``--force-with-lease`` ``expect`` entries) only if we still
        hold the lease: one atomic push that also renews it. LeaseLost when it moved."""
        state = self.read()
        self._check(lease, state)
        expires = time.time() + self.ttl
        new = LeaseState(lease.holder, expires, lease.token, state.waiters)
        flags = [f"--force-with-lease={e}" for e in expect]
        commit, done = self._push_state(state, new, flags, refspecs)
        if done.returncode != 0:
            current = self.read()
            if current.token != lease.token or current.holder != lease.holder:
                raise LeaseLost(
                    f"the lease {self.name} passed to {current.holder} (token {current.token}) "
                    "before we could land; nothing was pushed. Take the lease again"
                )
            raise Refusal(
                f"the fenced push to {self.remote} ({self.url}) was refused; nothing was "
                f"pushed:\n{done.stdout.strip()}\n{done.stderr.strip()}"
            )
        return Lease(self.name, lease.holder, lease.token, expires, commit)

    def _check(self, lease: Lease, state: LeaseState) -> None:
        if state.holder != lease.holder or state.token != lease.token:
            raise LeaseLost(
                f"the lease {self.name} on {self.remote} is no longer ours: held by "
                f"{state.holder} (token {state.token}, ours was {lease.token}); stop and take "
                "it again"
            )
