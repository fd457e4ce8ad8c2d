"""Landing cost, each against a baseline measured in the same run.

    python benchmarks/landing.py [--files 2000] [--commits 10] [--branches 9] [--rounds 3]

1. rebase: ``gitfleet.git.rebase.rebase_range`` (in memory, pygit2) against what a lander
   needs without it: ``git worktree add --detach`` + ``git rebase`` + ``git worktree
   remove`` (an agent's own worktree is busy and must not be touched).
2. land: ``gitfleet land`` of N branches (no check) against N rounds of the manual
   ``git pull --rebase && git push`` in one checkout, each branch merged in turn.

Prints the median seconds of each and the ratio ours / baseline (below 1 is faster).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from gitfleet import config
from gitfleet.fleet import demo
from gitfleet.git import run
from gitfleet.git.rebase import Rebased, rebase_range
from gitfleet.git.repo import discover
from gitfleet.land import landing


def sh(cwd: Path, *args: str) -> str:
    return run(list(args), cwd).stdout.strip()


def make_repo(root: Path, files: int) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    remote = root / "remote.git"
    run(["init", "-q", "--bare", "-b", "main", str(remote)], root)
    work = root / "work"
    run(["clone", "-q", str(remote), str(work)], root)
    for i in range(files):
        sub = work / f"pkg{i % 50}"
        sub.mkdir(exist_ok=True)
        (sub / f"mod{i}.py").write_text(f"def f{i}():\n    return {i}\n" * 20)
    run(["add", "-A"], work)
    run(["commit", "-q", "-m", "base"], work)
    run(["push", "-q", "origin", "main"], work)
    return remote, work


def add_branch(work: Path, name: str, commits: int, base: str = "main") -> None:
    run(["switch", "-q", "-c", name, base], work)
    for i in range(commits):
        (work / f"{name}-{i}.txt").write_text(f"{name} {i}\n")
        run(["add", "-A"], work)
        run(["commit", "-q", "-m", f"{name} {i}"], work)
    run(["switch", "-q", "main"], work)


def move_main(work: Path, tag: str) -> None:
    (work / f"main-{tag}.txt").write_text(tag + "\n")
    run(["add", "-A"], work)
    run(["commit", "-q", "-m", f"main {tag}"], work)


def bench_rebase(work: Path, commits: int, round_: int) -> tuple[float, float]:
    add_branch(work, f"topic{round_}", commits, "main~0")
    move_main(work, f"r{round_}")
    start = time.perf_counter()
    result = rebase_range(work, "main", f"topic{round_}", "main")
    ours = time.perf_counter() - start
    assert isinstance(result, Rebased) and len(result.created) == commits
    scratch = work.parent / f"scratch-{round_}"
    start = time.perf_counter()
    run(["worktree", "add", "-q", "--detach", str(scratch), f"topic{round_}"], work)
    run(["rebase", "-q", "main"], scratch)
    run(["worktree", "remove", "--force", str(scratch)], work)
    baseline = time.perf_counter() - start
    return ours, baseline


def bench_land(root: Path, files: int, branches: int) -> tuple[float, float]:
    _remote, work = make_repo(root / "ours", files)
    names = [f"agent{i}" for i in range(branches)]
    for name in names:
        add_branch(work, name, 2)
    repo = discover(work)
    cfg = config.load(work)
    start = time.perf_counter()
    results = landing.land(repo, cfg, names, check="")
    ours = time.perf_counter() - start
    assert all(r.status == "landed" for r in results), [r.message for r in results]

    _remote, plain = make_repo(root / "plain", files)
    for name in names:
        add_branch(plain, name, 2)
    start = time.perf_counter()
    for name in names:  # what an agent does by hand, one after the other
        run(["switch", "-q", name], plain)
        run(["pull", "-q", "--rebase", "origin", "main"], plain)
        run(["push", "-q", "origin", f"{name}:main"], plain)
        run(["switch", "-q", "main"], plain)
    baseline = time.perf_counter() - start
    subprocess.run(["gitfleet", "daemon", "stop"], cwd=work, check=False, capture_output=True)
    return ours, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--commits", type=int, default=10)
    parser.add_argument("--branches", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gitfleet-bench-land-")).resolve()
    try:
        with demo.isolated_env(root):
            _remote, work = make_repo(root / "rebase", args.files)
            pairs = [bench_rebase(work, args.commits, r) for r in range(args.rounds)]
            ours = statistics.median(p[0] for p in pairs)
            base = statistics.median(p[1] for p in pairs)
            print(
                f"rebase {args.commits} commits, {args.files} files: in-memory {ours:.3f}s, "
                f"worktree+git rebase {base:.3f}s, ratio {ours / base:.2f}"
            )
            lands = [
                bench_land(root / f"land{r}", args.files, args.branches) for r in range(args.rounds)
            ]
            ours = statistics.median(p[0] for p in lands)
            base = statistics.median(p[1] for p in lands)
            print(
                f"land {args.branches} branches: gitfleet land {ours:.3f}s, manual "
                f"pull --rebase + push {base:.3f}s, ratio {ours / base:.2f}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
