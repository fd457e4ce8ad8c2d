"""Spawn overhead: create + bootstrap 9 worktrees and launch 9 trivial agents, against
9 sequential ``git worktree add`` in the same repository, in the same run.

    python benchmarks/spawn.py [--agents 9] [--rounds 5] [--extra-files 0]

Prints the median of each and the ratio (goal: <= 1.2). ``--extra-files`` adds files to
the story repository to see how checkout cost changes the picture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gitfleet import config
from gitfleet.fleet import demo
from gitfleet.fleet.display import PlainDisplay
from gitfleet.fleet.spawn import SpawnOptions, spawn
from gitfleet.git import run
from gitfleet.git.repo import discover


def baseline(repo: Path, where: Path, agents: int) -> float:
    start = time.perf_counter()
    for i in range(agents):
        run(
            ["worktree", "add", "-q", "-b", f"plain/{where.name}-{i}", str(where / str(i)), "HEAD"],
            repo,
        )
    return time.perf_counter() - start


def ours(repo: Path, where: Path, agents: int) -> float:
    os.environ["GITFLEET_WORKTREES"] = str(where)
    opts = SpawnOptions(count=agents, task="noop {id}", agent_cmd="true", land=False)
    r = discover(repo)
    cfg = config.load(repo)
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        state = spawn(r, cfg, opts, PlainDisplay(quiet))
    elapsed = time.perf_counter() - start
    assert all(a.exit_code == 0 for a in state.agents), [a.error for a in state.agents]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--extra-files", type=int, default=0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gitfleet-bench-")).resolve()
    try:
        with demo.isolated_env(root):
            repo, _remote = demo.build_story(root)
            if args.extra_files:
                for i in range(args.extra_files):
                    path = repo / "src" / f"d{i % 50}" / f"f{i}.txt"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"file {i}\n" * 20)
                run(["add", "-A"], repo)
                run(["commit", "-q", "-m", "extra files"], repo)
                run(["push", "-q", "origin", "main"], repo)
            plain, fleet = [], []
            for n in range(args.rounds):
                plain.append(baseline(repo, root / f"plain{n}", args.agents))
                fleet.append(ours(repo, root / f"fleet{n}", args.agents))
        p, f = statistics.median(plain), statistics.median(fleet)
        files = len(list((repo / "articles").iterdir())) + args.extra_files
        print(f"repository: {files} files; {args.agents} agents; {args.rounds} rounds (median)")
        print(f"sequential `git worktree add` x{args.agents}: {p:.3f} s")
        print(f"gitfleet spawn (ids, worktrees, bootstrap, briefs, launch, wait): {f:.3f} s")
        print(f"ratio: {f / p:.2f} (goal <= 1.2)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
