"""The ledger under real concurrency: many processes, linked worktrees, a SIGKILLed holder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, gitfleet

from gitfleet.errors import LedgerError
from gitfleet.ids.ledger import Ledger, Record
from gitfleet.ids.local import LocalBackend

GITFLEET = str(Path(sys.executable).parent / "gitfleet")


def _worktrees(story_repo: Path, count: int) -> list[Path]:
    trees = [story_repo]
    for i in range(count):
        path = story_repo.parent / f"wt{i}"
        git(story_repo, "worktree", "add", "-q", "-b", f"agent{i}", str(path))
        trees.append(path)
    return trees


def test_seeded_above_the_highest_claimed_id(story_repo: Path) -> None:
    out = gitfleet(story_repo, "ids", "allocate", "SP").stdout.split()
    assert out == ["SP-152"]
    out = gitfleet(story_repo, "ids", "allocate", "SP", "-n", "3", "--json").stdout
    data = json.loads(out)
    assert data == {"ids": ["SP-153", "SP-154", "SP-155"], "owner": "main", "series": "SP"}


def test_seed_sees_ids_claimed_only_on_the_remote_target(story_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(story_repo / ".git"), str(other))
    (other / "articles" / "SP-300.md").write_text("---\nticketId: SP-300\n---\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "300")
    git(other, "push", "-q", "origin", "HEAD:refs/remotes/origin/main")
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.split() == ["SP-301"]


def test_sixteen_processes_across_worktrees_get_unique_contiguous_ids(story_repo: Path) -> None:
    trees = _worktrees(story_repo, 3)
    procs = []
    for i in range(16):
        cwd = trees[i % len(trees)]
        procs.append(
            subprocess.Popen(
                [GITFLEET, "ids", "allocate", "SP", "-n", "2"],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    got: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        pair = out.split()
        assert len(pair) == 2
        assert int(pair[1][3:]) == int(pair[0][3:]) + 1  # contiguous within one transaction
        got += pair
    assert len(got) == len(set(got)) == 32
    assert sorted(got) == [f"SP-{n}" for n in range(152, 184)]
    listed = gitfleet(story_repo, "ids", "list", "SP", "--json").stdout
    states = json.loads(listed)
    assert sorted(s["id"] for s in states) == sorted(got)
    owners = {s["owner"] for s in states}
    assert owners == {"main", "agent0", "agent1", "agent2"}


def test_owner_is_the_worktree_branch_and_detached_head_is_refused(story_repo: Path) -> None:
    wt = _worktrees(story_repo, 1)[1]
    assert gitfleet(wt, "ids", "allocate", "SP").stdout.strip() == "SP-152"
    assert "agent0" in gitfleet(story_repo, "ids", "show", "SP-152").stdout
    git(wt, "switch", "-q", "--detach")
    proc = gitfleet(wt, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 2 and "detached HEAD" in proc.stderr and "--owner" in proc.stderr
    assert gitfleet(wt, "ids", "allocate", "SP", "--owner", "bob").stdout.strip() == "SP-153"


_HOLDER = """
import sys, time
from pathlib import Path
from gitfleet.ids.local import LocalBackend
def hold(history):
    print("locked", flush=True)
    time.sleep(600)
    return []
LocalBackend(Path(sys.argv[1])).transact(hold)
"""


def test_allocator_killed_while_holding_the_lock(story_repo: Path) -> None:
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-152"
    state = story_repo / ".git" / "gitfleet"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(state)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    waiter = subprocess.Popen(
        [GITFLEET, "ids", "allocate", "SP"],
        cwd=story_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    assert waiter.poll() is None  # blocked behind the holder
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert out.strip() == "SP-153"
    listed = gitfleet(story_repo, "ids", "list").stdout.split("\n")
    assert [line.split("\t")[0] for line in listed if line] == ["SP-152", "SP-153"]


def test_an_earlier_jsonl_ledger_is_imported_once_and_kept_aside(story_repo: Path) -> None:
    state = story_repo / ".git" / "gitfleet"
    state.mkdir(parents=True, exist_ok=True)
    old = [
        Record("seeded", "SP", 151, ts=1.0),
        Record("allocated", "SP", 152, "SP-152", "fleet/SP-152", 2.0),
        Record("released", "SP", 152, "SP-152", "fleet/SP-152", 3.0),
        Record("allocated", "SP", 153, "SP-153", "fleet/SP-153", 4.0),
    ]
    (state / "ledger.jsonl").write_text("".join(r.to_json() + "\n" for r in old))
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-154"
    assert not (state / "ledger.jsonl").exists() and (state / "ledger.jsonl.imported").exists()
    listing = gitfleet(story_repo, "ids", "list").stdout
    listed = [line.split("\t")[:3] for line in listing.split("\n")]
    assert ["SP-152", "released", "fleet/SP-152"] in listed
    exported = gitfleet(story_repo, "ids", "export").stdout.splitlines()
    assert [Record.from_json(line) for line in exported][:4] == old


def test_a_failing_transaction_leaves_no_record(tmp_path: Path) -> None:
    from gitfleet.config import Series

    ledger = Ledger(LocalBackend(tmp_path))
    series = Series("T", "T", 1, ("*.md",))
    ledger.allocate(series, 1, "me", lambda: 0)

    def seed_then_fail() -> int:
        raise RuntimeError("the seed could not be read")

    with pytest.raises(RuntimeError):
        ledger.allocate(Series("U", "U", 1, ("*.md",)), 3, "me", seed_then_fail)
    assert [r.id for r in LocalBackend(tmp_path).read() if r.op == "allocated"] == ["T-1"]


def test_a_damaged_ledger_is_a_clear_error_and_untouched(story_repo: Path) -> None:
    gitfleet(story_repo, "ids", "allocate", "SP")
    ledger = story_repo / ".git" / "gitfleet" / "ledger.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{ledger}{extra}").unlink(missing_ok=True)
    ledger.write_bytes(b"this is not a database" * 100)
    proc = gitfleet(story_repo, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "cannot open the ledger" in proc.stderr and "Nothing was changed" in proc.stderr
    assert ledger.read_bytes() == b"this is not a database" * 100


def test_release_never_reissues_and_refuses_claimed_ids(story_repo: Path) -> None:
    got = gitfleet(story_repo, "ids", "allocate", "SP", "-n", "2").stdout.split()
    assert got == ["SP-152", "SP-153"]
    assert gitfleet(story_repo, "ids", "release", "SP-153").stdout.strip() == "released SP-153"
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-154"
    (story_repo / "articles" / "SP-152.md").write_text("---\nticketId: SP-152\n---\n")
    git(story_repo, "add", "-A")
    git(story_repo, "commit", "-q", "--no-verify", "-m", "152")
    proc = gitfleet(story_repo, "ids", "release", "SP-152", check=False)
    assert proc.returncode == 1 and "SP-152 is claimed by a file on refs/heads/main" in proc.stderr
    assert "released" in gitfleet(story_repo, "ids", "release", "--force", "SP-152").stdout
    proc = gitfleet(story_repo, "ids", "show", "SP-999", check=False)
    assert proc.returncode == 1 and "never allocated" in proc.stderr


def test_transaction_rules_directly(tmp_path: Path) -> None:
    ledger = Ledger(LocalBackend(tmp_path))
    from gitfleet.config import Series

    series = Series("T", "T", 2, ("*.md",))
    assert ledger.allocate(series, 2, "me", lambda: 5) == ["T-06", "T-07"]
    assert ledger.allocate(series, 1, "me", lambda: 999) == ["T-08"]  # seeded once only
    with pytest.raises(LedgerError):
        ledger.allocate(series, 0, "me", lambda: 0)
    ledger.transition(["T-06"], "landed")
    with pytest.raises(LedgerError, match="cannot become released"):
        ledger.transition(["T-06"], "released")
    assert Record.from_json(Record("allocated", "T", 9, "T-09", "x", 1.0).to_json()).id == "T-09"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only; elsewhere the test is skipped, saying why)."""
    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # ENOSPC: the disk is full now
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_said_plainly_and_allocates_nothing(
    story_repo: Path, small_disk: Path
) -> None:
    env = {"GITFLEET_STATE_DIR": str(small_disk / "state")}
    assert gitfleet(story_repo, "ids", "allocate", "SP", env=env).stdout.strip() == "SP-152"
    filler = _fill(small_disk)
    full = gitfleet(story_repo, "ids", "allocate", "SP", "-n", "20", env=env, check=False)
    assert full.returncode == 1, full.stderr
    assert "the disk is full" in full.stderr and "internal error" not in full.stderr
    filler.unlink()
    listed = gitfleet(story_repo, "ids", "list", env=env).stdout.split("\n")
    assert [line.split("\t")[0] for line in listed if line] == ["SP-152"]
    assert gitfleet(story_repo, "ids", "allocate", "SP", env=env).stdout.strip() == "SP-153"


def test_show_finds_short_ids_and_names_seeded_ones_and_release_twice_says_so(
    story_repo: Path,
) -> None:
    assert gitfleet(story_repo, "ids", "allocate", "SP", "-n", "2").stdout.split()[0] == "SP-152"
    assert gitfleet(story_repo, "ids", "show", "SP-152").stdout.startswith("SP-152\tallocated")
    seeded = gitfleet(story_repo, "ids", "show", "SP-7", check=False)
    assert seeded.returncode == 1 and "SP-007 was not allocated by the ledger" in seeded.stderr
    assert "SP-151" in seeded.stderr
    assert gitfleet(story_repo, "ids", "release", "SP-153").stdout.strip() == "released SP-153"
    again = gitfleet(story_repo, "ids", "release", "SP-153", check=False)
    assert again.returncode == 1 and "SP-153 already released" in again.stderr


def test_a_renamed_series_never_reissues_its_ids(story_repo: Path) -> None:
    assert gitfleet(story_repo, "ids", "allocate", "SP", "-n", "3").stdout.split()[-1] == "SP-154"
    cfg = story_repo / "gitfleet.toml"
    cfg.write_text(cfg.read_text().replace("[series.SP]", "[series.articles]"))
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-155"


def test_a_lost_or_older_ledger_is_refused_and_recovered_above_its_marks(
    story_repo: Path, tmp_path: Path
) -> None:
    state = story_repo / ".git" / "gitfleet"
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-152"
    old = tmp_path / "old-ledger.sqlite"
    with sqlite3.connect(state / "ledger.sqlite") as src, sqlite3.connect(old) as dst:
        src.backup(dst)  # a backup taken now, put back after two more allocations
    assert gitfleet(story_repo, "ids", "allocate", "SP", "-n", "2").stdout.split() == [
        "SP-153",
        "SP-154",
    ]
    for extra in ("-wal", "-shm"):
        Path(f"{state / 'ledger.sqlite'}{extra}").unlink(missing_ok=True)
    shutil.copyfile(old, state / "ledger.sqlite")  # it would hand out 153 and 154 again
    rewound = gitfleet(story_repo, "ids", "allocate", "SP", check=False)
    assert rewound.returncode == 1 and "holds less than it once issued" in rewound.stderr
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
        (state / name).unlink(missing_ok=True)
    lost = gitfleet(story_repo, "ids", "allocate", "SP", check=False)
    assert lost.returncode == 1 and "is missing, but this repository's ledger issued" in lost.stderr
    assert "gitfleet ids recover" in lost.stderr
    assert "SP above 154" in gitfleet(story_repo, "ids", "recover").stdout
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-155"


def test_an_earlier_ledgers_torn_tail_is_dropped_and_a_last_record_without_newline_kept(
    story_repo: Path,
) -> None:
    state = story_repo / ".git" / "gitfleet"
    state.mkdir(parents=True, exist_ok=True)
    one = Record("allocated", "SP", 152, "SP-152", "main", 1.0).to_json()
    two = Record("allocated", "SP", 153, "SP-153", "main", 2.0).to_json()
    (state / "ledger.jsonl").write_text(f"{one}\n{two}")  # the last record lost its newline
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-154"
    (story_repo / ".git" / "gitfleet.marks.json").unlink()
    for path in state.iterdir():
        path.unlink()
    (state / "ledger.jsonl").write_text(f'{one}\n{{"v":1,"op":"allocated","ser')  # torn
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-153"


def test_a_width_changed_after_ids_were_issued_is_refused(story_repo: Path) -> None:
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-152"
    cfg = story_repo / "gitfleet.toml"
    cfg.write_text(cfg.read_text().replace("width = 3", "width = 4"))
    proc = gitfleet(story_repo, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 1
    assert "now writes SP-0152, but the ledger issued SP-152" in proc.stderr
