"""The id check: what the pre-commit hook (and the pre-push side) refuse, and why.

A commit is refused when a file it adds or changes claims an id that is not allocated, is
allocated to another branch, was released, or is claimed by another file of the resulting
tree; or when it changes a guarded file. Ids the parent commit already claimed are old
work being edited and need no allocation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from gitfleet import config
from gitfleet.config import Config
from gitfleet.errors import ConfigError, Refusal
from gitfleet.git import ZERO_OID, run
from gitfleet.git.remote import load_committed
from gitfleet.git.repo import Repo, discover
from gitfleet.ids import claims
from gitfleet.ids.claims import Entry
from gitfleet.ids.ledger import Folded, IdState
from gitfleet.ids.verbs import open_ledger

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree
# The owner of a commit made on a detached HEAD: no branch, so no id is provably its own.
# (None, by contrast, means "do not judge ownership", as landing does.)
DETACHED = ""


class Change(NamedTuple):
    path: str
    old_oid: str  # ZERO_OID when added
    new_oid: str  # ZERO_OID when deleted


def parse_raw_diff(text: str) -> list[Change]:
    """Parse ``git diff-* --raw -z --no-renames`` output."""
    fields = text.split("\0")
    changes, i = [], 0
    while i + 1 < len(fields) and fields[i].startswith(":"):
        meta = fields[i][1:].split()
        changes.append(Change(fields[i + 1], meta[2], meta[3]))
        i += 2
    return changes


def _ids_of_series_prefix(ident: str) -> str:
    return ident.rpartition("-")[0]


def problems(
    repo: Repo,
    cfg: Config,
    changes: Iterable[Change],
    after: Mapping[str, list[str]],
    before_ids: set[str],
    owner: str | None,
    worktree: Path | None = None,
) -> list[str]:
    """Every refusal for ``changes``; ``after`` = id -> paths in the resulting tree.

    ``worktree``: where the commit or push comes from; an id allocated to an agent's
    worktree may be claimed from there only (None: not checked, as for the operator's
    landings).
    """
    changes = list(changes)
    found = [_guarded(c.path) for c in changes if claims.matches(c.path, cfg.guarded)]
    changed_paths = {c.path for c in changes if c.new_oid != ZERO_OID}
    new_ids = sorted(ident for ident, paths in after.items() if changed_paths.intersection(paths))
    states: Folded | None = None
    for ident in new_ids:
        paths = after[ident]
        if len(paths) > 1:
            found.append(_claimed_twice(ident, paths))
        if ident in before_ids:
            continue  # already claimed before this commit: editing old work
        states = states or _ledger_states(repo, cfg, fresh=False)
        state = states.get(ident)
        if cfg.ledger_backend == "remote" and (state is None or state.owner != owner):
            # The remote ledger's hook cache may predate an allocation made on another
            # machine a moment ago: never refuse on a cached answer.
            states = _ledger_states(repo, cfg, fresh=True)
            state = states.get(ident)
        where = ", ".join(p for p in paths if p in changed_paths)
        claiming = [c for c in changes if c.path in paths]
        problem = _ledger_problem(repo, ident, where, state, owner, claiming) or _isolation(
            ident, where, state, worktree
        )
        if problem:
            found.append(problem)
    return found


def _isolation(ident: str, where: str, state: IdState | None, worktree: Path | None) -> str | None:
    """An id spawn gave an agent may be claimed only from that agent's worktree: checking out
    the agent's branch elsewhere (``git switch --ignore-other-worktrees``) does not make the
    id yours."""
    home = state.note.get("worktree") if state is not None else None
    if worktree is None or not isinstance(home, str) or _same_path(Path(home), worktree):
        return None
    return (
        f"{ident} (claimed by {where}) belongs to {state.owner if state else '?'}, whose "
        f"worktree is {home}; this comes from {worktree}.\n"
        "    an agent claims only the id in its own brief; take a new one with "
        f"`gitfleet ids allocate {_ids_of_series_prefix(ident)}`"
    )


def _same_path(one: Path, two: Path) -> bool:
    try:
        return one.resolve() == two.resolve()
    except OSError:
        return False


def _guarded(path: str) -> str:
    return (
        f"{path} is guarded: the ledger owns its content; agents must not edit it\n"
        f"    undo it with `git restore --staged --worktree -- {path}`; "
        "take ids with `gitfleet ids allocate SERIES`"
    )


def _claimed_twice(ident: str, paths: list[str]) -> str:
    return (
        f"{ident} is claimed by {len(paths)} files: {', '.join(paths)}.\n"
        f"    each id belongs to one file; allocate a fresh one with "
        f"`gitfleet ids allocate {_ids_of_series_prefix(ident)}` and rename one of them"
    )


def _ledger_problem(
    repo: Repo,
    ident: str,
    where: str,
    state: IdState | None,
    owner: str | None,
    claiming: list[Change],
) -> str | None:
    """Why the ledger refuses ``ident`` newly claimed by ``where`` for ``owner``, or None."""
    prefix = _ids_of_series_prefix(ident)
    if state is None:
        return (
            f"{ident} (claimed by {where}) was never allocated; ids come from the ledger.\n"
            f"    run `gitfleet ids allocate {prefix}` and use the id it prints"
        )
    if state.status == "released":
        return (
            f"{ident} (claimed by {where}) was released and is never reissued.\n"
            f"    run `gitfleet ids allocate {prefix}` for a new one"
        )
    if owner is None or state.owner == owner or _owner_committed(repo, state.owner, claiming):
        return None
    if owner == DETACHED:
        return (
            f"{ident} (claimed by {where}) is allocated to {state.owner}, and HEAD is "
            "detached, so nothing shows this commit is theirs.\n"
            f"    commit on the owning branch: `git switch {state.owner}`"
        )
    return (
        f"{ident} (claimed by {where}) is allocated to {state.owner}, not to {owner}.\n"
        f"    use an id allocated to this branch: `gitfleet ids list {prefix}`, or "
        f"`gitfleet ids allocate {prefix}`"
    )


def _ledger_states(repo: Repo, cfg: Config, fresh: bool) -> Folded:
    return open_ledger(repo, cfg, fresh=fresh).folded()


def _refuse(what: str, found: list[str]) -> None:
    if found:
        body = "\n".join(f"  - {p}" for p in found)
        raise Refusal(f"{what} refused by the gitfleet id check:\n{body}")


def check_index(repo: Repo, cfg: Config) -> list[str]:
    """Problems with the index git is about to commit (honours GIT_INDEX_FILE)."""
    env = dict(os.environ)  # keep GIT_INDEX_FILE: `git commit -a` commits a temporary index
    cwd = str(repo.toplevel)
    diff = ["diff-index", "--cached", "--raw", "-z", "--no-renames"]
    proc = run([*diff, "HEAD"], cwd, env=env, check=False)
    if proc.returncode != 0:  # no HEAD yet: the first commit of the repository
        proc = run([*diff, EMPTY_TREE], cwd, env=env)
    raw = proc.stdout
    changes = parse_raw_diff(raw)
    broken_config = _config_problems(repo, changes, env)
    if broken_config:
        return broken_config
    watched = claims.watched(cfg)
    if not any(claims.matches(c.path, watched) for c in changes):
        return []
    index = claims.index_entries(cwd, env)
    after = claims.claims_of_entries(repo, cfg, claims.candidates(cfg, index))
    # What the parent already claimed: unchanged entries plus the old side of changed ones.
    changed = {c.path for c in changes}
    before_entries = [e for e in index if e.path not in changed]
    before_entries += [Entry(c.path, c.old_oid) for c in changes if c.old_oid != ZERO_OID]
    before = set(claims.claims_of_entries(repo, cfg, claims.candidates(cfg, before_entries)))
    owner = repo.branch or DETACHED
    return problems(repo, cfg, changes, after, before, owner, agent_worktree(repo))


def _owner_committed(repo: Repo, owner: str | None, claiming: list[Change]) -> bool:
    """Whether every changed file claiming the id is the owner's own committed file.

    Merging another branch brings in ids its owner committed there: their work, checked
    when they committed it. The very same blobs at the same paths on the owner's branch is
    what recognises it (pre-merge-commit runs before git writes MERGE_HEAD); a new file
    of ours claiming their id is not theirs, and is refused.
    """
    if not owner or not claiming:
        return False
    ref = f"refs/heads/{owner}"
    listing = repo.git("ls-tree", "-z", ref, "--", *[c.path for c in claiming], check=False)
    if listing.returncode != 0:
        return False
    theirs = {}
    for record in listing.stdout.split("\0"):
        meta, _, path = record.partition("\t")
        if path:
            theirs[path] = meta.split()[2]
    return all(theirs.get(c.path) == c.new_oid for c in claiming)


def agent_side(repo: Repo) -> bool:
    """Whether ``repo`` is where an agent works rather than the operator's own checkout: a
    linked worktree (spawn gives each agent one) or a detached HEAD. A branch name is the
    worktree's to choose, so it cannot decide this alone."""
    return repo.git_dir.resolve() != repo.common_dir.resolve() or repo.branch is None


def agent_worktree(repo: Repo) -> Path | None:
    """The worktree whose ids are checked for isolation: an agent's, not the operator's
    main checkout (where merging an agent's work by hand is the operator's to do)."""
    return repo.toplevel if agent_side(repo) else None


def owner_of_ref(repo: Repo, ref: str) -> str:
    """Who pushes ``ref``: the branch it names, else the pushing worktree's branch."""
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/")
    return repo.branch or DETACHED


def check_push(
    repo: Repo,
    cfg: Config,
    old: str | None,
    new: str,
    owner: str | None,
    *,
    worktree: Path | None = None,
    allow_config: bool = False,
    from_agent: bool = False,
) -> list[str]:
    """Problems with what ``old..new`` brings to a ref, judged on ``new``'s tree.

    ``cfg`` is the target's committed rules; a series or guard that ``new``'s own config
    adds binds the push too. ``old`` is None (or zero) for a new remote ref: then the base
    is where ``new`` leaves what the remote-tracking refs already have. A fleet branch
    (``owner`` under ``fleet/``), or any push ``from_agent`` (see :func:`agent_side`), may
    not change gitfleet.toml unless ``allow_config``.
    """
    base = old if old and old != ZERO_OID else _push_base(repo, new)
    rules = config.with_additions(cfg, added_rules(repo, new))
    found = []
    fleet_branch = owner is not None and owner.startswith(config.FLEET_BRANCH_PREFIX)
    if (fleet_branch or from_agent) and not allow_config:
        found += config_change_problems(repo, base, new, owner or "a detached HEAD")
    if not rules.series and not rules.guarded:
        return found
    raw = repo.git("diff-tree", "-r", "--raw", "-z", "--no-renames", base, new).stdout
    changes = parse_raw_diff(raw)
    watched = claims.watched(rules)
    if not any(claims.matches(c.path, watched) for c in changes):
        return found
    after = claims.claims_in_tree(repo, rules, new)
    before = set(claims.claims_in_tree(repo, rules, base)) if base != EMPTY_TREE else set()
    return found + problems(repo, rules, changes, after, before, owner, worktree)


def added_rules(repo: Repo, treeish: str) -> Config:
    """What a pushed config can add to the rules: the config committed in ``treeish``;
    none (no rules) when absent or broken, so the target's rules still hold alone."""
    proc = repo.git("cat-file", "blob", f"{treeish}:{config.CONFIG_NAME}", check=False)
    if proc.returncode != 0:
        return Config(path=None)
    try:
        return config.parse(Path(f"{treeish}:{config.CONFIG_NAME}"), proc.stdout)
    except ConfigError:
        return Config(path=None)  # a broken file adds nothing; the target's rules still hold


def config_change_problems(repo: Repo, base: str, new: str, branch: str) -> list[str]:
    """A fleet branch's change to gitfleet.toml, named key by key: the file is the
    operator's (``[spawn] setup``, ``[land] check`` and ``[agents]`` run as them)."""
    if (
        base == new
        or repo.git("diff", "--quiet", base, new, "--", config.CONFIG_NAME, check=False).returncode
        == 0
    ):
        return []
    keys = config.changed_keys(_text_at(repo, base), _text_at(repo, new))
    named = ", ".join(keys) if keys else "its text"
    return [
        f"{branch} changes {config.CONFIG_NAME} ({named}); the configuration is the operator's: "
        "its commands run as you.\n"
        "    change it with your own commit on the target, or land this branch with "
        f"`gitfleet land --allow-config {branch}` after reading the change"
    ]


def _text_at(repo: Repo, treeish: str) -> str:
    if treeish == EMPTY_TREE:
        return ""
    proc = repo.git("cat-file", "blob", f"{treeish}:{config.CONFIG_NAME}", check=False)
    return proc.stdout if proc.returncode == 0 else ""


def _push_base(repo: Repo, new: str) -> str:
    """What a new remote ref at ``new`` adds to what the remotes already have."""
    lines = repo.git("rev-list", "--boundary", new, "--not", "--remotes").stdout.splitlines()
    if not lines:
        return new  # every commit is already on a remote: nothing outgoing to check
    boundary = [line[1:] for line in lines if line.startswith("-")]
    return boundary[0] if boundary else EMPTY_TREE  # no boundary: history from a root


def _repairing(repo: Repo, broken: ConfigError) -> Config:
    """The staged config, when HEAD's is broken and this commit repairs it.

    Judging by HEAD's rules cannot work then, and refusing every commit would refuse the
    repair too; a valid staged file is the best rule left.
    """
    try:
        return load_committed(repo.toplevel, "", env=dict(os.environ))
    except ConfigError:
        raise ConfigError(
            f"{broken}\n  HEAD's gitfleet.toml is broken, so commits cannot be checked. Fix the"
            " file and stage it (`git add gitfleet.toml`): the commit that repairs it is judged"
            " by the repaired file. Or undo the commit that broke it: `git reset --soft HEAD~1`."
        ) from None


def _config_problems(repo: Repo, changes: list[Change], env: dict[str, str]) -> list[str]:
    """A staged gitfleet.toml that does not parse: refused before it locks every commit."""
    for change in changes:
        if change.path != config.CONFIG_NAME or change.new_oid == ZERO_OID:
            continue
        text = run(["cat-file", "blob", change.new_oid], str(repo.toplevel), env=env).stdout
        try:
            config.parse(Path(f":{config.CONFIG_NAME}"), text)
        except ConfigError as exc:
            return [f"{exc}\n    fix the file, then `git add {config.CONFIG_NAME}`"]
    return []


def pre_commit_main(args: list[str]) -> int:
    """``gitfleet hook pre-commit``: refuse a commit that breaks the id rules."""
    del args  # pre-commit passes none (pass_filenames: false); git passes none either
    repo = discover(keep_git_env=True)
    # The rules in force are the committed ones (HEAD's), never this commit's own edit.
    try:
        cfg = load_committed(repo.toplevel, "HEAD", env=dict(os.environ))
    except ConfigError as broken:
        cfg = _repairing(repo, broken)
    if not cfg.series and not cfg.guarded:
        return 0
    _refuse("commit", check_index(repo, cfg))
    return 0
