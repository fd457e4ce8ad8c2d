"""Latency of the pre-commit id check on a one-file commit, against the pre-commit framework.

Builds the story's repo (151 articles, gitfleet init), then times real `git commit`s of one
new article with (a) gitfleet's installed hook, (b) the pre-commit framework running one
no-op local hook (what users already accept on every commit), and (c) a hook that only runs
`python -c pass`. All pay git's own commit cost; the figure is the ratio of medians
gitfleet / pre-commit. Goal (issue 11): <= 0.5.

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

from gitfleet.config import Series
from gitfleet.ids.ledger import Ledger
from gitfleet.ids.local import LocalBackend

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
    """Add ``count`` old allocations as the ledger would hold them after long use."""
    old = Series("OLD", "OLD", 6, ("old/*.md",))
    Ledger(LocalBackend(repo / ".git" / "gitfleet")).allocate(old, count, "long-gone", lambda: 0)


PRE_COMMIT_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: noop
        name: noop
        entry: "true"
        language: system
        pass_filenames: false
"""


def install_pre_commit(repo: Path, hooks: Path) -> str:
    """The pre-commit framework's hook with one no-op local hook; returns the hook's text."""
    (repo / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG)
    sh(repo, "git", "add", ".pre-commit-config.yaml")
    sh(repo, "git", "commit", "-q", "--no-verify", "-m", "pre-commit config")
    saved = (hooks / "pre-commit").read_text()
    (hooks / "pre-commit").unlink()
    sh(repo, str(BIN / "pre-commit"), "install", "-t", "pre-commit")
    framework = (hooks / "pre-commit").read_text()
    (hooks / "pre-commit").write_text(saved)
    return framework


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
        os.environ["PRE_COMMIT_HOME"] = str(Path(tmp) / "pre-commit-home")
        repo = build(Path(tmp))
        if args.ledger_records:
            prefill(repo, args.ledger_records)
        hooks = repo / ".git" / "hooks"
        texts = {
            "gitfleet": (hooks / "pre-commit").read_text(),
            "pre-commit": install_pre_commit(repo, hooks),
            "python": f"#!/bin/sh\nexec '{sys.executable}' -c pass\n",
        }
        results: dict[str, list[float]] = {name: [] for name in texts}
        # Interleave the sides so machine noise hits them alike.
        for _ in range(3):
            for name, text in texts.items():
                (hooks / "pre-commit").write_text(text)
                results[name] += time_commits(repo, args.runs // 3 + 1)
    med = {k: statistics.median(v) for k, v in results.items()}
    held = f", ledger holding {args.ledger_records} old records" if args.ledger_records else ""
    print(f"one-file commit, median of {len(results['python'])} each{held}:")
    print(f"  hook = python -c pass                  : {med['python'] * 1000:7.1f} ms")
    print(f"  hook = pre-commit framework, no-op hook : {med['pre-commit'] * 1000:7.1f} ms")
    print(f"  hook = gitfleet check                   : {med['gitfleet'] * 1000:7.1f} ms")
    print(
        f"ratio gitfleet / pre-commit framework: {med['gitfleet'] / med['pre-commit']:.2f}"
        "  (goal <= 0.5)"
    )
    print(f"ratio gitfleet / bare python hook:     {med['gitfleet'] / med['python']:.2f}")


if __name__ == "__main__":
    main()
