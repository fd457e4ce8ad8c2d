"""Fault figures: real processes SIGKILLed at the worst moments, each figure beside a
baseline or a count from the same run.

    python benchmarks/faults.py [--rounds 5] [--agents 9] [--allocators 16] [--per-proc 5]

1. Queue daemon killed: N agents race `git push origin HEAD:main` through the gate; once one
   push holds main's lease and 3 queue behind it, the daemon (pid from its pid file) is
   SIGKILLed. Baseline: the same race, timed from the same point, with no kill.
2. Allocators killed: 16 loops of `gitfleet ids allocate SP`, about 20% SIGKILLed (with the
   `gitfleet` they are running) at random moments, on one ledger for every round. Counts
   ids printed twice, allocated twice (`ids export`), and whose owner differs between the
   process that printed it, the ledger's records and its states (`ids list --json`).
3. Lease holder killed: a push queued behind a process holding main's lease; the holder is
   SIGKILLed. Baseline: the same kind of push (rebased onto a moved main) with no holder.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _bytecode import ensure_bytecode

from gitfleet import install
from gitfleet.fleet import demo
from gitfleet.git import run
from gitfleet.git.repo import Repo, discover
from gitfleet.queue import client
from gitfleet.queue.files import daemon_files

GITFLEET = str(Path(sys.executable).parent / "gitfleet")
PUSH = ["push", "-q", "origin", "HEAD:main"]
# Blocks on a pipe until the go byte: every push starts at the same moment, no polling.
LAUNCHER = "import os, sys\nos.read(int(sys.argv[1]), 1)\nos.execvp(sys.argv[2], sys.argv[2:])\n"
# A process of its own holding main's lease until killed (a push it started would share it).
HOLDER = (
    "import sys, time\n"
    "from gitfleet.git.repo import discover\n"
    "from gitfleet.queue import client\n"
    "repo = discover(sys.argv[1])\n"
    "with client.lease(repo, repo.git_out('config', 'remote.origin.url'), ['refs/heads/main']):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)


def routed_story(root: Path, agents: int) -> tuple[Repo, Path, list[Path]]:
    """The demo's story repo after `gitfleet init`, with ``agents`` worktrees one commit ahead."""
    root.mkdir()
    path, remote = demo.build_story(root)
    repo = discover(path)
    install.init(repo, ["SP"])
    if run(["status", "--porcelain"], path).stdout.strip():
        run(["commit", "-q", "-am", "gitfleet init --series SP"], path)
        run(["push", "-q", "origin", "main"], path)
    trees = []
    for i in range(agents):
        tree = root / f"agent-{i}"
        run(["worktree", "add", "-q", "-b", f"agent-{i}", str(tree), "main"], path)
        (tree / f"agent-{i}.txt").write_text(f"work of agent {i}\n")
        run(["add", "-A"], tree)
        run(["commit", "-q", "-m", f"agent {i}"], tree)
        trees.append(tree)
    return repo, remote, trees


def waiting(repo: Repo) -> int:
    return sum(len(q["waiting"]) for q in client.snapshot(repo)["queues"])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def race(root: Path, agents: int, kill_daemon: bool) -> tuple[str, float, float]:
    """One race; (verdict, seconds from go to all exited, seconds from the fault to that)."""
    repo, remote, trees = routed_story(root, agents)
    go_r, go_w = os.pipe()
    pushes = [
        subprocess.Popen([sys.executable, "-c", LAUNCHER, str(go_r), "git", *PUSH], cwd=tree,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         pass_fds=(go_r,))
        for tree in trees
    ]  # fmt: skip
    os.close(go_r)
    start = time.perf_counter()
    os.write(go_w, b"g" * agents)
    os.close(go_w)

    # The fault comes when a push holds main's lease and 3 more queue behind it.
    def ended() -> bool:  # then there is nothing left to fault
        return all(p.poll() is not None for p in pushes)

    wait_until(lambda: ended() or waiting(repo) >= 3, "3 pushes queued behind a push")
    queued, fault = (0 if ended() else waiting(repo)), time.perf_counter()
    if kill_daemon and queued:
        os.kill(int(daemon_files(repo.state_dir).pidfile.read_text()), signal.SIGKILL)
    errors = [p.communicate()[1] for p in pushes]
    codes = [p.returncode for p in pushes]
    done = time.perf_counter()
    client.stop_daemon(repo)
    for err in (e for e, c in zip(errors, codes, strict=True) if c):
        print(f"  a push failed: {err.strip()}")
    # Each agent's commit once in main's history, its file in main's tree.
    subjects = collections.Counter(run(["log", "--format=%s", "main"], remote).stdout.split("\n"))
    files = set(run(["ls-tree", "--name-only", "main"], remote).stdout.split())
    on_main = sum(f"agent-{i}.txt" in files for i in range(agents))
    twice = sum(subjects[f"agent {i}"] > 1 for i in range(agents))
    merges = len(run(["rev-list", "--merges", "main"], remote).stdout.split())
    at = f"killed with {queued} queued" if queued else "the race ended before 3 queued"
    verdict = f"{at}; {on_main}/{agents} landed, {twice} twice, {merges} merges"
    return f"{verdict}, {codes.count(0)} pushes exited 0", done - start, done - fault


def daemon_killed(root: Path, rounds: int, agents: int) -> None:
    print(f"1. queue daemon SIGKILLed with {agents} pushes racing, {rounds} rounds")
    after_kill, after_release = [], []
    for n in range(rounds):
        verdict, total, tail = race(root / f"race-kill{n}", agents, kill_daemon=True)
        after_kill.append(tail)
        _, base_total, base_tail = race(root / f"race-base{n}", agents, kill_daemon=False)
        after_release.append(base_tail)
        print(f"  round {n + 1}: {verdict}; all done {tail:.2f} s after the kill "
              f"({total:.2f} s from go); same race without the kill: {base_tail:.2f} s "
              f"after 3 queued ({base_total:.2f} s)")  # fmt: skip
    k, b = statistics.median(after_kill), statistics.median(after_release)
    print(f"  median: {k:.2f} s to land all after the kill, {b:.2f} s without (ratio {k / b:.2f})")


def allocation_round(repo: Path, out: Path, count: int, per_proc: int, window: float) -> int:
    """``count`` shell loops of `gitfleet ids allocate SP`, each its own process group; 20% of
    them SIGKILLed at random moments within ``window`` s (none when 0). Returns how many were
    still running when killed."""
    out.mkdir()
    loop = f'for i in $(seq {per_proc}); do "{GITFLEET}" ids allocate SP --owner "$1" || exit; done'
    start = time.perf_counter()
    procs = [
        subprocess.Popen(["sh", "-c", f'exec >"$2"; {loop}', "sh", f"w{i}", out / f"w{i}.out"],
                         cwd=repo, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for i in range(count)
    ]  # fmt: skip
    moments = sorted(random.uniform(0, window) for _ in range(round(count * 0.2) if window else 0))
    killed = 0
    for victim, moment in zip(random.sample(procs, len(moments)), moments, strict=True):
        time.sleep(max(0.0, start + moment - time.perf_counter()))
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)  # the loop and the gitfleet it runs
            killed += 1
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode > 0:  # a refusal or a crash, not our kill
            raise SystemExit(f"an allocator failed:\n{err}")
    return killed


def ledger_owners(repo: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Owners of each id in the ledger's allocation records (`ids export`), and in its
    current states (`ids list --json`)."""
    owners: dict[str, list[str]] = collections.defaultdict(list)
    for line in subprocess.check_output([GITFLEET, "ids", "export"], cwd=repo).splitlines():
        record = json.loads(line)
        if record["op"] == "allocated":
            owners[record["id"]].append(record["owner"])
    listed = subprocess.check_output([GITFLEET, "ids", "list", "--json"], cwd=repo)
    return owners, {state["id"]: state["owner"] for state in json.loads(listed)}


def allocators_killed(root: Path, rounds: int, count: int, per_proc: int) -> None:
    print(f"2. {count} allocators x {per_proc} `ids allocate`, ~20% SIGKILLed, {rounds} rounds")
    repo, _, _ = routed_story(root / "ids", 0)
    spread = 0.0  # a round with no kill, timed: the victims die within its span
    bad = kills = 0
    for n in range(rounds + 1):
        t = time.perf_counter()
        killed = allocation_round(repo.toplevel, root / f"ids{n}", count, per_proc, spread)
        spread = spread or time.perf_counter() - t
        printed: dict[str, list[str]] = collections.defaultdict(list)
        for m in range(n + 1):
            for file in (root / f"ids{m}").glob("w*.out"):
                for ident in file.read_text().split():
                    printed[ident].append(file.stem)
        owners, listed = ledger_owners(repo.toplevel)
        dup_printed = sum(len(who) > 1 for who in printed.values())
        dup_ledger = sum(len(who) > 1 for who in owners.values())
        wrong = sum(owners.get(i, [None])[0] != who[0] for i, who in printed.items())
        wrong += sum(listed.get(i) != who[0] for i, who in owners.items())
        silent = len(set(owners) - set(printed))
        kills, bad = kills + killed, dup_printed + dup_ledger + wrong
        label = "no kill (sets the kill window)" if n == 0 else f"{killed} killed"
        print(f"  round {n}: {label}: {len(printed)} ids printed so far, {dup_printed} printed "
              f"twice; ledger {len(owners)} allocated ({len(listed)} listed), {dup_ledger} "
              f"allocated twice, {wrong} owners disagree, {silent} allocated but "
              "never printed (killed before printing)")  # fmt: skip
    print(f"  in all: {kills} allocators killed mid-run; {bad} ids duplicated or misowned")


def lease_holder_killed(root: Path, rounds: int) -> None:
    print(f"3. lease holder SIGKILLed with a push queued behind it, {rounds} rounds")
    free, granted, after = [], [], []
    for n in range(rounds):
        repo, remote, trees = routed_story(root / f"lease{n}", 3)
        path = str(repo.toplevel)
        run(PUSH, trees[0])  # main moves and the daemon is up: both pushes below rebase
        t = time.perf_counter()
        run(PUSH, trees[1])
        free.append(time.perf_counter() - t)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdout=subprocess.PIPE)
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        push = subprocess.Popen(["git", *PUSH], cwd=trees[2], stderr=subprocess.PIPE, text=True)
        wait_until(lambda: waiting(repo) == 1, "the push to queue behind the holder")  # noqa: B023
        t = time.perf_counter()
        holder.kill()
        wait_until(lambda: waiting(repo) == 0, "the daemon to see the holder gone")  # noqa: B023
        granted.append(time.perf_counter() - t)
        code, _ = push.wait(), holder.wait()
        after.append(time.perf_counter() - t)
        landed = "agent-2.txt" in run(["ls-tree", "--name-only", "main"], remote).stdout.split()
        client.stop_daemon(repo)
        print(f"  round {n + 1}: push exited {code}, landed {landed}: lease granted "
              f"{granted[-1]:.3f} s and push done {after[-1]:.2f} s after the kill; "
              f"a push with no holder {free[-1]:.2f} s")  # fmt: skip
    g, a, f = (statistics.median(x) for x in (granted, after, free))
    print(f"  median: granted {g:.3f} s and done {a:.2f} s after the kill; "
          f"{f:.2f} s for a push with no holder (ratio done/no holder {a / f:.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--allocators", type=int, default=16)
    parser.add_argument("--per-proc", type=int, default=5)
    parser.add_argument("--only", choices=["daemon", "ids", "lease"], help="one section only")
    args = parser.parse_args()
    print(ensure_bytecode())
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
    root = Path(tempfile.mkdtemp(prefix="gitfleet-faults-")).resolve()
    try:
        with demo.isolated_env(root):
            if args.only in (None, "daemon"):
                daemon_killed(root, args.rounds, args.agents)
            if args.only in (None, "ids"):
                allocators_killed(root, args.rounds, args.allocators, args.per_proc)
            if args.only in (None, "lease"):
                lease_holder_killed(root, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
