"""The fleet's target and its remote: which branch, the real URL, the committed rules, and
the two remote operations landing is built on (fetch a tip, push with compare-and-swap)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gitfleet import config
from gitfleet.config import Config
from gitfleet.errors import ConfigError, GitError
from gitfleet.git import Completed, run
from gitfleet.git.repo import Repo

# A push URL of this form makes git run git-remote-gitfleet, the push gate.
ROUTE_PREFIX = "gitfleet::"


def unrouted(url: str) -> str:
    """``url`` without the gate's route prefix."""
    return url.removeprefix(ROUTE_PREFIX)


def is_remote_name(remote: str) -> bool:
    """Whether git named a configured remote (``origin``), not a URL or a path."""
    return bool(remote) and not any(c in remote for c in ":/\\") and remote not in (".", "..")


def short_ref(ref: str) -> str:
    """``refs/heads/x`` as ``x``; any other ref as it is."""
    return ref.removeprefix("refs/heads/")


def target_branch(repo: Repo, cfg: Config) -> str:
    """``[fleet] target``, else the remote's default branch as last fetched, else ``main``."""
    if cfg.target:
        return cfg.target
    proc = repo.git("symbolic-ref", "-q", "--short", f"refs/remotes/{cfg.remote}/HEAD", check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip().split("/", 1)[1]
    return "main"


def remote_url(repo: Repo, remote: str) -> str:
    """The real URL of ``remote``: a configured name's fetch URL, or a URL given directly.

    Pushes routed through the gate keep the real URL as ``url`` and route only ``pushurl``;
    a routed ``url`` is unwrapped, since landing and the ledger push past the gate.
    """
    found = repo.git("config", "--get", f"remote.{remote}.url", check=False).stdout.strip()
    if found:
        return unrouted(found)
    if "/" in remote or ":" in remote:
        return remote
    raise ConfigError(
        f"remote {remote!r} is not configured in {repo.toplevel}; add it with "
        f"`git remote add {remote} <url>` or set [fleet] remote in gitfleet.toml"
    )


def seed_treeishes(repo: Repo, cfg: Config) -> list[str]:
    """The trees whose ids a new series must start above: the target (local and remote) and HEAD."""
    branch = target_branch(repo, cfg)
    candidates = ["HEAD", f"refs/heads/{branch}", f"refs/remotes/{cfg.remote}/{branch}"]
    return [
        name
        for name in candidates
        if repo.git("rev-parse", "-q", "--verify", f"{name}^{{commit}}", check=False).returncode
        == 0
    ]


def load_committed(root: Path, treeish: str, env: dict[str, str] | None = None) -> Config:
    """The config as committed in ``treeish``, else the file in ``root``.

    Checks take their rules from what is committed, so a commit (or a push) cannot relax
    the rules it is judged by, e.g. empty ``[guarded]`` while editing a guarded file.
    """
    proc = run(["cat-file", "blob", f"{treeish}:{config.CONFIG_NAME}"], root, env=env, check=False)
    if proc.returncode != 0:
        return config.load(root)
    return config.parse(Path(f"{treeish}:{config.CONFIG_NAME}"), proc.stdout)


def load_target_rules(repo: Repo, remote: str | None = None) -> Config:
    """The rules a push is judged by, read from commits, never from a working tree.

    The pushing worktree's own gitfleet.toml could name another target or drop a series;
    so the target comes from the config committed in the main worktree (the operator's
    checkout), else the remote's default branch, and the rules are those committed on that
    target (as last fetched) plus whatever the main worktree's and the remote default
    branch's committed configs add: more sources only ever add rules.
    """
    operator = _committed(repo, "main-worktree/HEAD")
    remote = remote or (operator.remote if operator else "origin")
    target = operator.target if operator and operator.target else None
    if target is None:
        head = repo.git("symbolic-ref", "-q", "--short", f"refs/remotes/{remote}/HEAD", check=False)
        target = head.stdout.strip().split("/", 1)[1] if head.returncode == 0 else "main"
    on_target = _committed(repo, f"refs/remotes/{remote}/{target}", strict=True)
    rules = on_target or operator or config.Config(path=None)
    for extra in (operator, _committed(repo, f"refs/remotes/{remote}/HEAD")):
        if extra is not None:
            rules = config.with_additions(rules, extra)
    return rules._replace(target=target, remote=remote)


def _committed(repo: Repo, treeish: str, *, strict: bool = False) -> Config | None:
    """The config committed in ``treeish``, or None; a broken one is an error when
    ``strict`` (the target's own rules), else left out (it could only have added rules)."""
    proc = repo.git("cat-file", "blob", f"{treeish}:{config.CONFIG_NAME}", check=False)
    if proc.returncode != 0:
        return None
    try:
        return config.parse(Path(f"{treeish}:{config.CONFIG_NAME}"), proc.stdout)
    except ConfigError:
        if strict:
            raise
        return None


def fetch_tip(repo: Repo, url: str, ref: str) -> str | None:
    """The remote's current value of ``ref`` with its objects here, or None when absent.

    Fetched into a private, uniquely named ref (FETCH_HEAD is shared by everything running
    in this worktree), which is deleted again: the objects stay for the rebase.
    """
    scratch_ref = f"refs/gitfleet/fetch/{os.urandom(16).hex()}"
    proc = repo.git(
        "fetch",
        "-q",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
        url,
        f"+{ref}:{scratch_ref}",
        check=False,
    )
    try:
        if proc.returncode != 0:
            listed = repo.git("ls-remote", url, ref)  # raises when the remote is unreachable
            if not listed.stdout.strip():
                return None  # the ref does not exist there (yet)
            raise GitError(["git", "fetch", url, ref], proc.returncode, proc.stdout, proc.stderr)
        return repo.git_out("rev-parse", "--verify", scratch_ref)
    finally:
        repo.git("update-ref", "-d", scratch_ref, check=False)


def push_cas(
    repo: Repo, url: str, new: str, ref: str, old: str | None, push_options: Sequence[str] = ()
) -> Completed:
    """Push ``new`` to ``ref`` only if the remote still has ``old`` there (None: absent).

    To the real URL, never through ``gitfleet::`` (the helper may be who called us), and
    ``--no-verify``: the queue's pre-push hook would wait for the lease we hold, and the id
    check has just run on exactly these commits. ``push_options``: ``git push -o`` values
    the agent's own push carried.
    """
    return repo.git(
        "push",
        "--porcelain",
        "--no-verify",
        *[f"--push-option={opt}" for opt in push_options],
        f"--force-with-lease={ref}:{old or ''}",
        url,
        f"{new}:{ref}",
        check=False,
    )
