"""Latency of the pre-commit id check on a one-file commit, against a bare python hook.

Builds the story's repo (151 articles, gitfleet init), then times real `git commit`s of one
new article with (a) gitfleet's installed hook and (b) the same shim position holding a hook
that only runs `python -c pass` with the same interpreter. Both sides pay git's own commit
cost; the ratio of medians is the figure. Goal (issue 2): <= 2.0.

    python benchmarks/hook_latency.py [--runs 21] [--ledger-records N]

``--ledger-records N`` first fills the ledger with N old allocations (a long-lived fleet's
ledger), to show the check does not slow down as the ledger grows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bytecode import ensure_bytecode

BIN = Path(sys.executable).parent


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def build(root: Path) -> Path:
    repo = root / "repo"
    sh(root, "git", "init", "-q", "-b", "main", str(repo))
    (repo / "articles").mkdir()
    for n in range(1, 152):
        (repo / "articles" / f"SP-{n:03d}.md").write_text(f"---\nticketId: SP-{n:03d}\n---\nbody\n")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-q", "-m", "articles")
    sh(repo, str(BIN / "gitfleet"), "init", "--series", "SP", "--no-route")
    sh(repo, "git", "add", "gitfleet.toml")
    sh(repo, "git", "commit", "-q", "-m", "config")
    return repo


def prefill(repo: Path, count: int) -> None:
    """Append ``count`` old allocations as the ledger would hold them after long use."""
    import json

    ledger = repo / ".git" / "gitfleet" / "ledger.jsonl"
    with ledger.open("a") as handle:
        for n in range(100000, 100000 + count):
            rec = {"v": 1, "op": "allocated", "series": "OLD", "n": n, "id": f"OLD-{n}"}
            handle.write(json.dumps({**rec, "owner": "long-gone", "ts": 1.0}) + "\n")


def time_commits(repo: Path, runs: int) -> list[float]:
    ids = sh(repo, str(BIN / "gitfleet"), "ids", "allocate", "SP", "-n", str(runs)).split()
    times = []
    for ident in ids:
        (repo / "articles" / f"{ident}.md").write_text(f"---\nticketId: {ident}\n---\nnew\n")
        sh(repo, "git", "add", f"articles/{ident}.md")
        start = time.perf_counter()
        sh(repo, "git", "commit", "-q", "-m", ident)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--ledger-records", type=int, default=0)
    args = parser.parse_args()
    print(ensure_bytecode())
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")
    with tempfile.TemporaryDirectory() as tmp:
        repo = build(Path(tmp))
        if args.ledger_records:
            prefill(repo, args.ledger_records)
        hook = repo / ".git" / "hooks" / "pre-commit"
        ours = hook.read_text()
        bare = f"#!/bin/sh\nexec '{sys.executable}' -c pass\n"
        results: dict[str, list[float]] = {"gitfleet": [], "bare": []}
        # Interleave the two sides so machine noise hits both alike.
        for _ in range(3):
            hook.write_text(ours)
            results["gitfleet"] += time_commits(repo, args.runs // 3 + 1)
            hook.write_text(bare)
            results["bare"] += time_commits(repo, args.runs // 3 + 1)
    med = {k: statistics.median(v) for k, v in results.items()}
    held = f", ledger holding {args.ledger_records} old records" if args.ledger_records else ""
    print(f"one-file commit, median of {len(results['bare'])} each{held}:")
    print(f"  hook = python -c pass : {med['bare'] * 1000:7.1f} ms")
    print(f"  hook = gitfleet check : {med['gitfleet'] * 1000:7.1f} ms")
    print(f"ratio gitfleet / bare python hook: {med['gitfleet'] / med['bare']:.2f}  (goal <= 2.0)")


if __name__ == "__main__":
    main()
