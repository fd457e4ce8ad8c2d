"""Which files claim which ids.

A file *claims* an id of a series when its path matches one of the series' globs and either
its file name holds the id (``articles/SP-152.md``) or its front matter sets the series'
key (``ticketId: SP-152``). An id mentioned anywhere else, in prose or code, is only a
reference and claims nothing. Reads go through git (the index or a tree), never the
working tree, so what is checked is exactly what is committed.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from gitfleet.config import Config, Series
from gitfleet.git import run, split_z
from gitfleet.git.blobs import batch_blobs
from gitfleet.git.repo import Repo
from gitfleet.locking import atomic_write

_FRONT_MATTER_MAX = 8192  # front matter lives at the top; never scan a whole large file


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a path glob as git's wildmatch does: ``*``, ``?`` and ``[...]`` stay in one
    folder, ``**`` spans folders (series paths, guards and ``.gitattributes`` patterns)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[:1] == "!" else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, globs: Iterable[str]) -> bool:
    return any(glob_regex(g).match(path) for g in globs)


class Entry(NamedTuple):
    path: str
    oid: str


def name_claims(series: Series, path: str) -> set[str]:
    """Ids claimed by the file name alone (normalised to the series' width)."""
    name = path.rsplit("/", 1)[-1]
    return {series.format(int(m.group(1))) for m in series.id_pattern.finditer(name)}


def front_matter(text: str) -> dict[str, str]:
    """The ``key: value`` pairs of a leading ``---`` YAML-style block (empty when none)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            return fields
        name, sep, value = line.partition(":")
        if sep:
            fields.setdefault(name.strip(), value.strip().strip("'\"").strip())
    return {}  # never closed: not front matter


def front_matter_value(text: str, key: str) -> str | None:
    """The value of ``key`` in a leading front-matter block, or None."""
    return front_matter(text).get(key)


def read_blobs(repo: Repo, oids: Sequence[str]) -> dict[str, str]:
    """Read many blobs in one ``git cat-file --batch`` call (first bytes of each)."""
    if not oids:
        return {}
    proc = repo.git("cat-file", "--batch", input="".join(f"{oid}\n" for oid in oids))
    raw = proc.stdout.encode("utf-8", "surrogateescape")
    return {
        oid: body[:_FRONT_MATTER_MAX].decode("utf-8", "replace")
        for oid, body in batch_blobs(raw, oids).items()
    }


def claims_of_entries(repo: Repo, cfg: Config, entries: Iterable[Entry]) -> dict[str, list[str]]:
    """id -> sorted paths claiming it, among ``entries``."""
    found: dict[str, set[str]] = {}
    need_content: list[tuple[Series, Entry]] = []
    for entry in entries:
        for series in cfg.series.values():
            if not matches(entry.path, series.paths):
                continue
            for ident in name_claims(series, entry.path):
                found.setdefault(ident, set()).add(entry.path)
            if series.front_matter:
                need_content.append((series, entry))
    keys = sorted({s.front_matter for s, _ in need_content if s.front_matter})
    values = front_matter_values(repo, keys, {e.oid for _, e in need_content})
    for series, entry in need_content:
        value = values.get(entry.oid, {}).get(series.front_matter or "")
        match = series.id_pattern.fullmatch(value) if value else None
        if match:
            found.setdefault(series.format(int(match.group(1))), set()).add(entry.path)
    return {ident: sorted(paths) for ident, paths in found.items()}


# v2: entries written before git output was read as bytes may be wrong (CRLF blobs).
_CACHE_NAME = "front-matter-cache.v2.json"


def front_matter_values(repo: Repo, keys: list[str], oids: set[str]) -> dict[str, dict[str, str]]:
    """oid -> {key: value} for the front-matter ``keys`` of each blob.

    Blobs are content-addressed, so what a blob's front matter says never changes: the
    answers are cached in the state dir, and a commit reads only the blobs it adds. That
    keeps the pre-commit hook from re-reading every article on every commit.
    """
    cache_path = repo.state_dir / _CACHE_NAME
    tag = "\0".join(keys)
    try:
        cached = json.loads(cache_path.read_text("utf-8"))
        if not isinstance(cached, dict) or cached.get("keys") != tag:
            cached = {"keys": tag, "blobs": {}}
    except (OSError, ValueError):
        cached = {"keys": tag, "blobs": {}}
    blobs: dict[str, dict[str, str]] = cached["blobs"]
    missing = sorted(oid for oid in oids if oid not in blobs)
    if missing:
        for oid, text in read_blobs(repo, missing).items():
            found = {}
            for key in keys:
                value = front_matter_value(text, key)
                if value is not None:
                    found[key] = value
            blobs[oid] = found
        with contextlib.suppress(OSError):  # a cache we cannot write is only slower
            atomic_write(cache_path, json.dumps(cached, separators=(",", ":")), durable=False)
    return {oid: blobs.get(oid, {}) for oid in oids}


def tree_entries(repo: Repo, treeish: str) -> list[Entry]:
    """Every blob of a tree-ish, recursively."""
    text = repo.git("ls-tree", "-r", "-z", "--full-tree", treeish).stdout
    entries = []
    for record in split_z(text):
        meta, _, path = record.partition("\t")
        _mode, kind, oid = meta.split()
        if kind == "blob":
            entries.append(Entry(path, oid))
    return entries


def index_entries(cwd: str, env: dict[str, str] | None = None) -> list[Entry]:
    """Every stage-0 entry of the index git is committing (honours GIT_INDEX_FILE)."""
    text = run(["ls-files", "-s", "-z"], cwd, env=env).stdout
    entries = []
    for record in split_z(text):
        meta, _, path = record.partition("\t")
        _mode, oid, stage = meta.split()
        if stage == "0":
            entries.append(Entry(path, oid))
    return entries


def claims_in_tree(repo: Repo, cfg: Config, treeish: str) -> dict[str, list[str]]:
    """id -> paths claiming it in ``treeish`` (a commit, branch or tree)."""
    return claims_of_entries(repo, cfg, candidates(cfg, tree_entries(repo, treeish)))


def candidates(cfg: Config, entries: Iterable[Entry]) -> list[Entry]:
    """The entries whose path could claim an id of some series."""
    globs = [g for s in cfg.series.values() for g in s.paths]
    return [e for e in entries if matches(e.path, globs)]


def watched(cfg: Config) -> list[str]:
    """Globs of every path the id check cares about: guarded files and claim paths."""
    return list(cfg.guarded) + [g for s in cfg.series.values() for g in s.paths]


def highest_claimed(repo: Repo, cfg: Config, series: Series, treeishes: Sequence[str]) -> int:
    """The highest number of ``series`` claimed in any of ``treeishes`` (0 when none)."""
    top = 0
    for treeish in treeishes:
        for ident in claims_in_tree(repo, cfg, treeish):
            prefix, _, digits = ident.rpartition("-")
            if prefix == series.prefix:
                top = max(top, int(digits))
    return top
