"""Synthesis cost: the nine-agent shared-files story against the same fleet without them.

    python benchmarks/synthesis.py [--agents 9] [--rounds 5]

Each agent writes ``articles/SP-xxx.md`` and adds it to ``articles/index.md``,
``sidebar.json``, ``mkdocs.yml`` and ``data/articles.toml``; ``gitfleet land`` lands all
of them (no check), every landing after the first through the synthesis ladder. The
baseline is the same fleet whose agents only write their article (nothing to resolve),
landed the same way in the same run. Prints landed/N for both and the median wall times
with their ratio (goal: N/N at a ratio of 1.3 or less).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from synthesis_fixtures import (
    agent_files,
    agent_ids,
    assert_all_present,
    commit_files,
    seed_files,
    seed_remote,
)

from gitfleet import config
from gitfleet.fleet import demo
from gitfleet.git.repo import discover
from gitfleet.land import landing


def one_fleet(root: Path, agents: int, shared: bool) -> tuple[int, float]:
    """(how many landed, seconds) for one fleet of ``agents`` branches."""
    remote, work = seed_remote(root)
    seed = seed_files()
    idents = agent_ids(agents)
    for ident in idents:
        commit_files(work, ident, agent_files(seed, ident, shared=shared))
    repo = discover(work)
    cfg = config.load(work)
    start = time.perf_counter()
    results = landing.land(repo, cfg, idents, check="")
    seconds = time.perf_counter() - start
    landed = sum(r.status == "landed" for r in results)
    if shared and landed == agents:
        assert_all_present(remote, "main", idents)
    subprocess.run(["gitfleet", "daemon", "stop"], cwd=work, check=False, capture_output=True)
    return landed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gitfleet-bench-synthesis-")).resolve()
    shared: list[tuple[int, float]] = []
    plain: list[tuple[int, float]] = []
    try:
        with demo.isolated_env(root):
            for r in range(args.rounds):  # alternate, so drift hits both alike
                (root / f"r{r}").mkdir()
                plain.append(one_fleet(root / f"r{r}" / "plain", args.agents, shared=False))
                shared.append(one_fleet(root / f"r{r}" / "shared", args.agents, shared=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours = statistics.median(s for _, s in shared)
    base = statistics.median(s for _, s in plain)
    n = args.agents
    print(
        f"shared files: landed {min(c for c, _ in shared)}/{n}, {ours:.3f}s; "
        f"no shared files: landed {min(c for c, _ in plain)}/{n}, {base:.3f}s; "
        f"ratio {ours / base:.2f} (median of {args.rounds})"
    )


if __name__ == "__main__":
    main()
