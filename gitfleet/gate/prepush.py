"""``gitfleet hook pre-push``: check outgoing ids; gate pushes that bypass the helper.

Git runs the hook as ``pre-push REMOTE URL`` with one line per ref on stdin: ``<local
ref> <local oid> <remote ref> <remote oid>``. Every line is read (not only the first), and
the working tree is never touched.

1. The id check of :mod:`gitfleet.idcheck` on the commits each ref sends: it catches
   commits made with ``--no-verify``.
2. When the push goes through ``git-remote-gitfleet`` (URL ``gitfleet::...``), the helper
   already holds the lease and listed the remote fresh: nothing more to do.
3. Otherwise (routing off, another remote) the hook takes the lease itself, on behalf of
   the ``git push`` that runs it (git has no post-push hook: the lease ends when that
   process exits). A hook cannot make a waiting push succeed, since git read the remote
   before running it; so after its turn comes it compares the values git read with the
   real ones, and when the remote moved meanwhile, refuses at once with the next step
   instead of letting git fail with ``cannot lock ref``.

Starts fast: standard library and gitfleet's small core modules only.
"""

from __future__ import annotations

import os

from gitfleet.errors import Refusal

# Not `typing.TYPE_CHECKING`: on the helper path this hook runs while the push holds the
# queue's lease, and typing's import (with re, enum, collections) costs more than the rest
# of the hook's work in python. Mypy treats any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from gitfleet.git import Repo

ZERO_OID = "0" * 40
ROUTE_PREFIX = "gitfleet::"  # as gitfleet.gate.queue; not imported: the helper path skips it


class Update:
    """One line of the hook's stdin: ``<local ref> <local oid> <remote ref> <remote oid>``."""

    __slots__ = ("local_oid", "local_ref", "remote_oid", "remote_ref")

    def __init__(self, local_ref: str, local_oid: str, remote_ref: str, remote_oid: str) -> None:
        self.local_ref = local_ref
        self.local_oid = local_oid
        self.remote_ref = remote_ref
        self.remote_oid = remote_oid

    @property
    def deletion(self) -> bool:
        return self.local_oid == ZERO_OID


def parse(text: str) -> list[Update]:
    updates = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4:
            updates.append(Update(*fields))
    return updates


def _may_claim_ids(top: str) -> bool:
    """False only when ``top`` is a worktree root whose gitfleet.toml (or its absence)
    configures no series and no guarded files: then the id check has nothing to do.

    On the helper path this hook runs while the push holds the queue's lease, so every
    millisecond of it is one that the next push waits: skip the imports when we can.
    """
    if not os.path.exists(os.path.join(top, ".git")):
        return True
    try:
        with open(os.path.join(top, "gitfleet.toml"), encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return "series" in text or "guarded" in text


def main(args: list[str], stdin: TextIO) -> int:
    """The hook: 0 lets the push go on; a Refusal (exit 1) stops it with the reason."""
    updates = parse(stdin.read())
    if not updates:
        return 0
    remote = args[0] if args else ""
    url = args[1] if len(args) > 1 else remote
    routed = url.startswith(ROUTE_PREFIX)
    if routed and not _may_claim_ids(os.getcwd()):
        return 0  # the helper holds this push's lease and gave git a fresh view
    from gitfleet.git import discover_in_hook

    repo = discover_in_hook()
    check_ids(repo, updates)
    if routed:
        return 0
    gate(repo, remote, url, updates)
    return 0


def check_ids(repo: Repo, updates: list[Update]) -> None:
    from gitfleet import config, idcheck

    cfg = config.load_target_rules(repo.toplevel)
    if not cfg.series and not cfg.guarded:
        return
    found: list[str] = []
    for update in updates:
        if update.deletion:
            continue
        old = update.remote_oid if _have(repo, update.remote_oid) else None
        owner = (
            update.local_ref[len("refs/heads/") :]
            if update.local_ref.startswith("refs/heads/")
            else repo.branch or idcheck.DETACHED
        )
        found += idcheck.check_push(repo, cfg, old, update.local_oid, owner)
    if found:
        raise Refusal(
            "push refused: outgoing commits break the id rules (committed with --no-verify?)\n  "
            + "\n  ".join(dict.fromkeys(found))
        )


def _have(repo: Repo, oid: str) -> bool:
    if oid == ZERO_OID:
        return False
    return repo.git("cat-file", "-e", f"{oid}^{{commit}}", check=False).returncode == 0


def gate(repo: Repo, remote: str, url: str, updates: list[Update]) -> None:
    """Wait for our turn on these refs, then refuse if the remote moved meanwhile."""
    from gitfleet.gate import procs, queue, relay

    refs = sorted({u.remote_ref for u in updates})
    push = procs.find_push()
    holder = push[0].pid if push else os.getppid()
    names = ", ".join(r.removeprefix("refs/heads/") for r in refs)

    def waiting(ahead: int) -> None:
        print(f"gitfleet: waiting for the push queue ({ahead} ahead, {names})", flush=True)

    grant = queue.acquire(
        repo, url, refs, holder_pid=holder, label=f"git push {names} from {repo.toplevel} "
        f"(pid {holder}, hook only)", on_wait=waiting,
    )  # fmt: skip
    fresh = relay.ls_remote(url, refs).refs
    moved = [u for u in updates if fresh.get(u.remote_ref, ZERO_OID) != u.remote_oid]
    if not moved:
        return  # our turn, and git's view is still true: the lease lasts until git push exits
    queue.release(repo, grant)
    raise Refusal(_stale_message(remote, url, moved, fresh))


def _stale_message(remote: str, url: str, moved: list[Update], fresh: dict[str, str]) -> str:
    where = remote or url
    lines = []
    for u in moved:
        now = fresh.get(u.remote_ref)
        lines.append(
            f"{u.remote_ref} moved on {where} while this push waited its turn "
            f"(git read {u.remote_oid[:10]}, it is now {now[:10] if now else 'deleted'})"
        )
    branch = moved[0].remote_ref.removeprefix("refs/heads/")
    return (
        "push refused before git could fail with `cannot lock ref`; nothing was pushed.\n  "
        + "\n  ".join(lines)
        + f"\n  next: `git pull --rebase {where} {branch}`, then push again "
        f"(or route pushes through the gate with `gitfleet init`, which rebases for you)"
    )
