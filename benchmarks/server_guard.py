"""Cost of the server guard on a push: a real `git push` of one new article into a bare
repository with (a) no pre-receive hook, (b) a hook that only runs `python -c pass`, (c) the
gitfleet guard (`gitfleet server install`), all timed in the same run, interleaved.

The story's repo (151 articles) with the remote ledger in that same bare repository, so the
guard does all it can: claims of both trees, the ledger read from refs/gitfleet/ledger.
Printed: medians and the ratios guard / no hook and guard / bare python hook.

    python benchmarks/server_guard.py [--runs 21] [--ledger-records N]

``--ledger-records N`` first fills the ledger with N old allocations (a long-lived fleet's
ledger), to show that what a push costs the guard does not grow with it.
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
CONFIG = """\
[fleet]
target = "main"

[series.SP]
prefix = "SP"
width = 3
paths = ["articles/*.md"]
front_matter = "ticketId"

[ledger]
backend = "remote"
"""


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def build(root: Path) -> tuple[Path, Path]:
    """(bare remote, clone) of the story's repo."""
    seed = root / "seed"
    sh(root, "git", "init", "-q", "-b", "main", str(seed))
    (seed / "articles").mkdir()
    for n in range(1, 152):
        (seed / "articles" / f"SP-{n:03d}.md").write_text(f"---\nticketId: SP-{n:03d}\n---\nbody\n")
    (seed / "gitfleet.toml").write_text(CONFIG)
    sh(seed, "git", "add", "-A")
    sh(seed, "git", "commit", "-q", "-m", "articles")
    bare = root / "served.git"
    sh(root, "git", "clone", "-q", "--bare", str(seed), str(bare))
    clone = root / "clone"
    sh(root, "git", "clone", "-q", str(bare), str(clone))
    return bare, clone


def prefill(bare: Path, count: int) -> None:
    """``count`` old allocations of another series, in shards of 1000 as the ledger writes."""
    entries = []
    for shard, start in enumerate(range(1, count + 1, 1000)):
        numbers = range(start, min(start + 1000, count + 1))
        lines = "".join(
            f'{{"id":"OLD-{n:06d}","n":{n},"op":"allocated","owner":"gone","series":"OLD",'
            f'"ts":1.0,"v":1}}\n'
            for n in numbers
        )
        blob = sh_in(bare, lines, "git", "hash-object", "-w", "--stdin")
        entries.append(f"100644 blob {blob}\t{shard:06d}.jsonl\n")
    tree = sh_in(bare, "".join(entries), "git", "mktree")
    commit = sh_in(bare, "old records\n", "git", "commit-tree", tree)
    sh(bare, "git", "update-ref", "refs/gitfleet/ledger", commit)


def sh_in(cwd: Path, text: str, *args: str) -> str:
    done = subprocess.run(args, cwd=cwd, input=text, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def time_pushes(clone: Path, count: int) -> list[float]:
    out = sh(
        clone, str(BIN / "gitfleet"), "ids", "allocate", "SP", "-n", str(count), "--owner", "main"
    )
    times = []
    for ident in out.split():
        (clone / "articles" / f"{ident}.md").write_text(f"---\nticketId: {ident}\n---\nnew\n")
        sh(clone, "git", "add", f"articles/{ident}.md")
        sh(clone, "git", "commit", "-q", "-m", ident)
        start = time.perf_counter()
        sh(clone, "git", "push", "-q", "origin", "main")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--ledger-records", type=int, default=0)
    args = parser.parse_args()
    print(ensure_bytecode())
    for var, value in (("NAME", "bench"), ("EMAIL", "bench@example.com")):
        os.environ.setdefault(f"GIT_AUTHOR_{var}", value)
        os.environ.setdefault(f"GIT_COMMITTER_{var}", value)
    with tempfile.TemporaryDirectory() as tmp:
        bare, clone = build(Path(tmp))
        if args.ledger_records:
            prefill(bare, args.ledger_records)
        hook = bare / "hooks" / "pre-receive"
        sh(clone, str(BIN / "gitfleet"), "server", "install", str(bare))
        texts = {
            "none": None,
            "python": f"#!/bin/sh\ncat >/dev/null\nexec '{sys.executable}' -c pass\n",
            "gitfleet": hook.read_text(),
        }
        results: dict[str, list[float]] = {name: [] for name in texts}
        for _ in range(3):  # interleaved, so machine noise hits every side alike
            for name, text in texts.items():
                if text is None:
                    hook.unlink(missing_ok=True)
                else:
                    hook.write_text(text)
                    hook.chmod(0o755)
                results[name] += time_pushes(clone, args.runs // 3 + 1)
    med = {k: statistics.median(v) for k, v in results.items()}
    held = f", ledger holding {args.ledger_records} old records" if args.ledger_records else ""
    print(f"push of one new article (151 in the tree{held}), median of {len(results['none'])}:")
    print(f"  no pre-receive hook          : {med['none'] * 1000:7.1f} ms")
    print(f"  pre-receive = python -c pass : {med['python'] * 1000:7.1f} ms")
    print(f"  pre-receive = gitfleet guard : {med['gitfleet'] * 1000:7.1f} ms")
    print(f"ratio guard / no hook:          {med['gitfleet'] / med['none']:.2f}")
    print(f"ratio guard / bare python hook: {med['gitfleet'] / med['python']:.2f}")


if __name__ == "__main__":
    main()
