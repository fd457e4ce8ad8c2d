"""Rebuild the cross-repository localization cases (benchmarks/cases/retrieval.jsonl).

    python benchmarks/retrieval_cases.py [--sources DIR] [--clones DIR] [--per-repo N]

Each case is one real commit of a public repository: its message is the task, its gold is
the source files it modified (tests, docs, lockfiles and configuration excluded; every gold
file existed at the parent, since an added file cannot be retrieved), and retrieval runs on
the parent commit with the history up to it. Only ids, messages and paths are written; no
repository content is kept here.

Repositories are cloned into --clones (default: a folder under the temp dir) from
``--sources/<owner>+<name>/repo`` when that exists (a local mirror), else from GitHub. A
clone is pinned at the commit named in REPOS, so a rebuild gives the same cases.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from gitfleet import git
from gitfleet.context import repomap

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "benchmarks" / "cases" / "retrieval.jsonl"


@dataclass(frozen=True)
class Source:
    name: str  # owner/name on GitHub
    head: str  # the commit the cases are drawn from (its history)
    language: str
    kind: str
    held_out: bool  # never tuned on: its misses are not looked at


# Two are kept aside as held-out, chosen before any ranking was measured: one Python CLI
# application and one small Go library, languages and kinds the tuning set also covers.
REPOS = (
    Source("pallets/click", "2c8cd3ac958a7eb316d67f2d316c27086c4c0369", "python", "library", False),
    Source(
        "expressjs/express",
        "a3714473feb3d2908add734d340e7755fd85e0a3",
        "javascript",
        "library",
        False,
    ),
    Source(
        "excalidraw/excalidraw",
        "4872083c044491b6d5c96ae134a75464f96d6831",
        "typescript",
        "application",
        False,
    ),
    Source("BurntSushi/ripgrep", "3fce3b5bb0236da2df6d99672afb8a719642eca7", "rust", "cli", False),
    Source(
        "httpie/cli", "5b604c37c6c67e18e7c3e9aee6c88a8c22b98345", "python", "cli application", True
    ),
    Source("spf13/cobra", "adbc8813901bba65827259daa8e22ff94ec1f30e", "go", "library", True),
)

_SOURCE = ".py .pyi .js .jsx .mjs .cjs .ts .tsx .mts .cts .go .rs .c .h .cc .cpp .hpp .java .kt"
SOURCE_SUFFIXES = frozenset((_SOURCE + " .rb .php .cs .swift .scala .sh .bash .lua .ex").split())
# Folders whose files are not the code a task changes, even in a source language.
_NOT_SOURCE = re.compile(r"(^|/)(docs?|vendor|third_party|node_modules|dist|build)/")
_TRAILER = re.compile(r"^(signed-off-by|co-authored-by|reviewed-by|change-id|cc):", re.I)
# Commits that carry no task: releases, version bumps, dependency bumps, reverts.
_NO_TASK = re.compile(r"^(release|bump|version|v?\d+\.\d+|merge|revert|prepare|changelog)\b", re.I)
MAX_CHANGED = 12  # a commit touching more files than this is a sweep, not a task
MAX_GOLD = 3


@dataclass(frozen=True)
class Case:
    repo: str
    commit: str
    parent: str
    task: str
    gold: list[str]


def is_source(path: str) -> bool:
    """A file a task changes: source by its suffix, not a test, not under docs or vendor."""
    return (
        Path(path).suffix.lower() in SOURCE_SUFFIXES
        and not repomap.is_test(path)
        and not _NOT_SOURCE.search(path)
        and repomap.wanted(path)
    )


def task_of(message: str) -> str:
    """The commit message as a task: trailers dropped, blank runs folded."""
    lines = [ln.rstrip() for ln in message.strip().splitlines() if not _TRAILER.match(ln)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()[:2000]


def qualifying(repo: Path, head: str) -> list[Case]:
    """Every commit reachable from ``head`` that makes a case, oldest first."""
    log = git.run(
        [
            *("log", "--no-merges", "--no-renames", "-z", "--format=%x1e%H %P%x1f%B%x1f"),
            *("--name-status", "--reverse", head),
        ],
        repo,
    ).stdout
    found: list[Case] = []
    for record in log.split("\x1e")[1:]:
        ids_text, message, changes = record.split("\x1f", 2)
        ids = ids_text.split()
        fields = [f for f in changes.strip("\0\n").split("\0") if f]
        pairs = list(zip(fields[0::2], fields[1::2], strict=False))
        task = task_of(message)
        subject = task.splitlines()[0] if task else ""
        if len(ids) != 2 or len(pairs) > MAX_CHANGED or _NO_TASK.match(subject):
            continue
        if len(re.findall(r"[A-Za-z]{2,}", subject)) < 3:
            continue  # "typo", "wip", "fix #12": no task to read
        code = [(s, p) for s, p in pairs if is_source(p)]
        if not code or len(code) > MAX_GOLD or any(s != "M" for s, _ in code):
            continue
        found.append(Case("", ids[0], ids[1], task, sorted(p for _, p in code)))
    return found


def spread(items: list[Case], n: int) -> list[Case]:
    """``n`` items at an even stride over the list (old and new history alike)."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def clone(source: Source, sources: Path | None, clones: Path) -> Path:
    """A full clone of the repository (history included), made once."""
    dest = clones / source.name.replace("/", "+")
    if (dest / "HEAD").exists() or (dest / ".git").exists():
        return dest
    mirror = sources / source.name.replace("/", "+") / "repo" if sources else None
    url = str(mirror) if mirror and mirror.exists() else f"https://github.com/{source.name}"
    git.run(["clone", "-q", "--bare", url, str(dest)])
    return dest


def head_of(source: Source, repo: Path) -> str:
    return source.head or git.out(["rev-parse", "HEAD"], repo)


def default_clones() -> Path:
    return Path(tempfile.gettempdir()) / "gitfleet-retrieval-repos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, help="folder of local mirrors, owner+name/repo")
    parser.add_argument("--clones", type=Path, default=default_clones())
    parser.add_argument("--per-repo", type=int, default=60)
    parser.add_argument("--out", type=Path, default=CASES)
    args = parser.parse_args()
    args.clones.mkdir(parents=True, exist_ok=True)
    rows: list[Case] = []
    for source in REPOS:
        repo = clone(source, args.sources, args.clones)
        found = qualifying(repo, head_of(source, repo))
        picked = spread(found, args.per_repo)
        print(f"{source.name}: {len(found)} qualifying commits, {len(picked)} cases")
        rows.extend(Case(source.name, c.commit, c.parent, c.task, c.gold) for c in picked)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
    print(f"{len(rows)} cases written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
