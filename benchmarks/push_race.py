"""Push race: N agents push at the same moment through the gate, against the same N
commits landed one after another by hand (``git pull --rebase``, ``git push``), in the
same run.

    python benchmarks/push_race.py [--agents 9] [--rounds 3]

Each round builds two identical repositories (a bare remote, N linked worktrees each one
commit ahead with its own file). In one, pushes are routed through ``git-remote-gitfleet``
with the pre-push hook installed, and the N plain ``git push origin HEAD:main`` start
together (the daemon starts on demand inside the race). In the other, one person lands
them in turn. Prints landed counts and the median wall-time ratio (goal: N/N, <= 2).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitfleet import install
from gitfleet.fleet import demo
from gitfleet.git import run
from gitfleet.git.repo import discover
from gitfleet.queue import client

# Blocks on a pipe until the go byte arrives (all nine wake together, no polling), notes
# its own CPU so that it can be subtracted (it becomes the `git push` process by exec, so
# its start-up would otherwise count as the gate's), then execs the push.
_LAUNCHER = (
    "import os, resource, sys\n"
    "os.read(int(sys.argv[1]), 1)\n"
    "used = resource.getrusage(resource.RUSAGE_SELF)\n"
    "with open(sys.argv[2], 'w') as f: f.write(repr(used.ru_utime + used.ru_stime))\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


def build(root: Path, agents: int) -> tuple[Path, Path, list[Path]]:
    remote = root / "remote.git"
    repo = root / "repo"
    run(["init", "-q", "--bare", "-b", "main", str(remote)], root.parent)
    repo.mkdir(parents=True)
    run(["init", "-q", "-b", "main"], repo)
    (repo / "README.md").write_text("hello\n")
    (repo / "gitfleet.toml").write_text('[fleet]\ntarget = "main"\n')
    run(["add", "-A"], repo)
    run(["commit", "-q", "-m", "init"], repo)
    run(["remote", "add", "origin", str(remote)], repo)
    run(["push", "-q", "-u", "origin", "main"], repo)
    trees = []
    for i in range(agents):
        tree = root / f"agent-{i}"
        run(["worktree", "add", "-q", "-b", f"agent-{i}", str(tree), "main"], repo)
        (tree / f"agent-{i}.txt").write_text(f"work of agent {i}\n")
        run(["add", "-A"], tree)
        run(["commit", "-q", "-m", f"agent {i}"], tree)
        trees.append(tree)
    return repo, remote, trees


def landed(remote: Path, agents: int) -> int:
    names = run(["ls-tree", "--name-only", "main"], remote).stdout.split()
    return sum(f"agent-{i}.txt" in names for i in range(agents))


def cpu_of_children() -> float:
    """CPU seconds of the finished processes we waited for (git, helper, hook...)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def by_hand(root: Path, agents: int) -> tuple[float, int, float]:
    _, remote, trees = build(root, agents)
    cpu = cpu_of_children()
    start = time.perf_counter()
    for tree in trees:
        run(["pull", "-q", "--rebase", "origin", "main"], tree)
        run(["push", "-q", "origin", "HEAD:main"], tree)
    return time.perf_counter() - start, landed(remote, agents), cpu_of_children() - cpu


def through_gate(root: Path, agents: int) -> tuple[float, int, int, float]:
    repo, remote, trees = build(root, agents)
    folder = install.hooks_dir(discover(repo))
    folder.mkdir(parents=True, exist_ok=True)
    install.install_hook(folder, "pre-push")
    run(["config", "remote.origin.pushurl", f"gitfleet::{remote}"], repo)
    go_r, go_w = os.pipe()
    notes = [root / f"launcher-{i}.cpu" for i in range(len(trees))]
    push = ["git", "push", "-q", "origin", "HEAD:main"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(go_r), str(note), *push],
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(go_r,),
        )
        for tree, note in zip(trees, notes, strict=True)
    ]
    os.close(go_r)
    time.sleep(0.3)  # every launcher is up and blocked on the pipe
    cpu = cpu_of_children()
    start = time.perf_counter()
    os.write(go_w, b"g" * len(trees))
    codes = [p.wait() for p in procs]
    elapsed = time.perf_counter() - start
    os.close(go_w)
    launchers = sum(float(n.read_text()) for n in notes)
    cpu = cpu_of_children() - cpu - launchers
    client.stop_daemon(discover(repo))
    return elapsed, landed(remote, agents), sum(c == 0 for c in codes), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gitfleet-push-race-")).resolve()
    load = os.getloadavg()
    hand, gate, hand_cpu, gate_cpu = [], [], [], []
    try:
        with demo.isolated_env(root):
            for n in range(args.rounds):
                t, got, cpu = by_hand(root / f"hand{n}", args.agents)
                hand.append(t)
                hand_cpu.append(cpu)
                print(f"round {n + 1}: by hand {got}/{args.agents} landed in {t:.2f} s", end="; ")
                t, got, ok, cpu = through_gate(root / f"gate{n}", args.agents)
                gate.append(t)
                gate_cpu.append(cpu)
                print(
                    f"gate {got}/{args.agents} landed ({ok} pushes exited 0) in {t:.2f} s "
                    f"(ratio {t / hand[-1]:.2f}, load {os.getloadavg()[0]:.1f})"
                )
        h, g = statistics.median(hand), statistics.median(gate)
        print(f"{args.agents} agents, {args.rounds} rounds (median)")
        print(f"one after another by hand (pull --rebase, push): {h:.2f} s")
        print(f"all at once through the gate (plain git push):   {g:.2f} s")
        per_hand = statistics.median(hand_cpu) / args.agents
        per_gate = statistics.median(gate_cpu) / args.agents
        print(f"CPU per push: by hand {per_hand:.3f} s, through the gate {per_gate:.3f} s")
        print("  (the gate's CPU leaves out the launchers, not the daemon: it is no child)")
        print(f"cores: {os.cpu_count()}, load average before: {load[0]:.1f}")
        print(f"ratio: {g / h:.2f} (goal <= 2)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
