"""``gitfleet hook pre-push``: check outgoing ids; gate pushes that bypass the helper.

Git runs the hook as ``pre-push REMOTE URL`` with one line per ref on stdin: ``<local
ref> <local oid> <remote ref> <remote oid>``. Every line is read (not only the first), and
the working tree is never touched.

1. The id check of :mod:`gitfleet.ids.idcheck` on the commits each ref sends: it catches
   commits made with ``--no-verify``.
2. When the push goes through ``git-remote-gitfleet`` (URL ``gitfleet::...``), the helper
   already holds the lease and listed the remote fresh: nothing more to do.
3. Otherwise (routing off, another remote) the hook takes the lease itself, on behalf of
   the ``git push`` that runs it (git has no post-push hook: the lease ends when that
   process exits). A hook cannot make a waiting push succeed, since git read the remote
   before running it; so after its turn comes it compares the values git read with the
   real ones, and when the remote moved meanwhile, refuses at once with the next step
   instead of letting git fail with ``cannot lock ref``.
"""

from __future__ import annotations

import os
from typing import NamedTuple, TextIO

from gitfleet.errors import Refusal
from gitfleet.gate import relay
from gitfleet.git import ZERO_OID
from gitfleet.git.remote import ROUTE_PREFIX, is_remote_name, load_target_rules
from gitfleet.git.repo import Repo, discover
from gitfleet.ids import idcheck
from gitfleet.queue import client, procs


class Update(NamedTuple):
    """One line of the hook's stdin: ``<local ref> <local oid> <remote ref> <remote oid>``."""

    local_ref: str
    local_oid: str
    remote_ref: str
    remote_oid: str

    @property
    def deletion(self) -> bool:
        return self.local_oid == ZERO_OID


def parse(text: str) -> list[Update]:
    return [Update(*fields) for line in text.splitlines() if len(fields := line.split()) == 4]


def main(args: list[str], stdin: TextIO) -> int:
    """The hook: 0 lets the push go on; a Refusal (exit 1) stops it with the reason."""
    updates = parse(stdin.read())
    if not updates:
        return 0
    remote = args[0] if args else ""
    url = args[1] if len(args) > 1 else remote
    routed = url.startswith(ROUTE_PREFIX)
    repo = discover(keep_git_env=True)
    check_ids(repo, updates, remote)
    if routed:
        return 0
    gate(repo, remote, url, updates)
    return 0


def check_ids(repo: Repo, updates: list[Update], remote: str) -> None:
    cfg = load_target_rules(repo, remote if is_remote_name(remote) else None)
    found: list[str] = []
    for update in updates:
        if update.deletion:
            continue
        old = update.remote_oid if _have(repo, update.remote_oid) else None
        owner = idcheck.owner_of_ref(repo, update.local_ref)
        found += idcheck.check_push(
            repo, cfg, old, update.local_oid, owner, worktree=idcheck.agent_worktree(repo),
            from_agent=idcheck.agent_side(repo),
        )  # fmt: skip
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
    refs = sorted({u.remote_ref for u in updates})
    push = procs.find_push()
    holder = push[0].pid if push else os.getppid()
    names = ", ".join(r.removeprefix("refs/heads/") for r in refs)

    def waiting(ahead: int) -> None:
        print(f"gitfleet: waiting for the push queue ({ahead} ahead, {names})", flush=True)

    grant = client.acquire(
        repo, url, refs, holder_pid=holder, label=f"git push {names} from {repo.toplevel} "
        f"(pid {holder}, hook only)", on_wait=waiting,
    )  # fmt: skip
    fresh = relay.ls_remote(url, refs).refs
    moved = [u for u in updates if fresh.get(u.remote_ref, ZERO_OID) != u.remote_oid]
    if not moved:
        return  # our turn, and git's view is still true: the lease lasts until git push exits
    client.release(repo, grant)
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
