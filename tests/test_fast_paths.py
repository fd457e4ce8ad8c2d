"""The short-process paths: `ids allocate` without click, repository discovery without git,
the parsed-config cache, and the one-parse ledger read. Each must give exactly what the
ordinary path gives, and hand anything unusual to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitfleet

from gitfleet import config
from gitfleet.errors import LedgerError, NotARepoError
from gitfleet.git import discover, discover_quick
from gitfleet.ledger import LocalBackend, Record


def _modules_after(cwd: Path, code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter in ``cwd``; the modules it ended with."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_allocate_fast_path_skips_click_and_tomllib(story_repo: Path) -> None:
    gitfleet(story_repo, "ids", "allocate", "SP")  # seeds, and fills the config cache
    code = "from gitfleet.entry import _dispatch\n_dispatch(['ids', 'allocate', 'SP'])"
    loaded = _modules_after(story_repo, code)
    assert "click" not in loaded
    assert "tomllib" not in loaded  # the parsed config came from the cache
    assert "subprocess" not in loaded  # discovery read the files; the ledger needs no git
    ids = [line.split("\t")[0] for line in gitfleet(story_repo, "ids", "list").stdout.splitlines()]
    assert ids == ["SP-152", "SP-153"]


def test_allocate_fast_path_answers_as_the_click_command(story_repo: Path) -> None:
    plain = gitfleet(story_repo, "ids", "allocate", "SP", "-n", "2", "--owner", "a").stdout
    assert plain == "SP-152\nSP-153\n"
    as_json = json.loads(gitfleet(story_repo, "ids", "allocate", "SP", "--json").stdout)
    assert as_json == {"ids": ["SP-154"], "owner": "main", "series": "SP"}
    spelled = gitfleet(story_repo, "ids", "allocate", "--count=2", "--owner=b", "SP").stdout
    assert spelled == "SP-155\nSP-156\n"
    # From a subfolder and from a linked worktree, owned by that worktree's branch.
    assert gitfleet(story_repo / "articles", "ids", "allocate", "SP").stdout == "SP-157\n"
    git(story_repo, "worktree", "add", "-q", "-b", "agent", str(story_repo.parent / "wt"))
    got = gitfleet(story_repo.parent / "wt", "ids", "allocate", "SP", "--json").stdout
    assert json.loads(got)["owner"] == "agent"
    owners = {
        line.split("\t")[0]: line.split("\t")[2]
        for line in gitfleet(story_repo, "ids", "list").stdout.splitlines()
    }
    assert owners["SP-152"] == "a" and owners["SP-154"] == "main" and owners["SP-158"] == "agent"


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["-n", "0"], "0 is not in the range"),
        (["-n", "two"], "'two' is not a valid integer"),
        (["-n", "²"], "is not a valid integer"),  # a digit to str.isdigit, not to int()
        (["--bogus"], "No such option '--bogus'"),
        (["--help"], "Allocate COUNT new ids of SERIES"),
        ([], "Missing argument 'SERIES'"),
    ],
)
def test_allocate_hands_anything_else_to_click(
    story_repo: Path, args: list[str], expect: str
) -> None:
    series = [] if not args or args == ["--help"] else ["SP"]
    proc = gitfleet(story_repo, "ids", "allocate", *series, *args, check=False)
    assert expect in proc.stdout + proc.stderr
    assert not (story_repo / ".git" / "gitfleet" / "ledger.jsonl").exists()


def test_discover_quick_agrees_with_git(story_repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(story_repo, "worktree", "add", "-q", "-b", "agent", str(wt))
    git(story_repo, "checkout", "-q", "--detach")
    for where in (story_repo, story_repo / "articles", wt):
        assert discover_quick(where) == discover(where)
    assert discover_quick(wt).branch == "agent"
    assert discover_quick(story_repo).head_ref is None
    assert discover_quick(wt).common_dir == story_repo / ".git"


def test_discover_quick_leaves_the_odd_cases_to_git(
    story_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NotARepoError, match="inside the git dir"):
        discover_quick(story_repo / ".git" / "refs")
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(NotARepoError, match="not inside a git repository"):
        discover_quick(outside)
    # A ceiling above the worktree stops git's discovery; ours must stop too.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(story_repo))
    with pytest.raises(NotARepoError):
        discover_quick(story_repo / "articles")


def test_config_cache_is_keyed_by_the_text(story_repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = config.load(story_repo, cache_dir=state)
    cache = state / config.TOML_CACHE_NAME
    assert json.loads(cache.read_text())[0]["data"]["series"]["SP"]["prefix"] == "SP"
    assert config.load(story_repo, cache_dir=state) == first
    # An edited file is a new text: parsed afresh, never answered from the old entry.
    text = (story_repo / "gitfleet.toml").read_text()
    (story_repo / "gitfleet.toml").write_text(text.replace("width = 3", "width = 4"))
    assert config.load(story_repo, cache_dir=state).series["SP"].width == 4
    # A bad file is still a clear error, not a cached answer.
    (story_repo / "gitfleet.toml").write_text(text + "[series\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(story_repo, cache_dir=state)
    # A damaged cache is ignored and rewritten.
    cache.write_text("{not json")
    (story_repo / "gitfleet.toml").write_text(text)
    assert config.load(story_repo, cache_dir=state) == first
    assert json.loads(cache.read_text())[0]["text"] == text


def test_config_cache_is_only_used_for_its_own_text(story_repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    text = (story_repo / "gitfleet.toml").read_text()
    # Whatever the cache claims for another text cannot leak into this one.
    forged = [{"text": text + "\n", "data": {"fleet": {"target": "forged"}}}]
    state.mkdir()
    (state / config.TOML_CACHE_NAME).write_text(json.dumps(forged))
    assert config.load(story_repo, cache_dir=state).target == "main"


def test_ledger_line_holding_two_records_is_named(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    one = Record("allocated", "SP", 1, "SP-1", "a", 1.0).to_json()
    two = Record("allocated", "SP", 2, "SP-2", "a", 1.0).to_json()
    (tmp_path / "ledger.jsonl").write_text(f"{one}\n{one},{two}\n")
    with pytest.raises(LedgerError, match="line 2, is not a ledger record"):
        backend.read()
    (tmp_path / "ledger.jsonl").write_text(f"{one}\n\n{two}\n")
    assert [r.id for r in backend.read()] == ["SP-1", "SP-2"]


def test_commit_hook_reads_rules_from_the_cache(story_repo: Path) -> None:
    ident = gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip()
    (story_repo / "articles" / f"{ident}.md").write_text(f"---\nticketId: {ident}\n---\n")
    git(story_repo, "add", "articles")
    code = "from gitfleet.idcheck import pre_commit_main\nassert pre_commit_main([]) == 0"
    _modules_after(story_repo, code)  # the first check parses HEAD's gitfleet.toml
    loaded = _modules_after(story_repo, code)
    assert "tomllib" not in loaded and "click" not in loaded


def test_git_runner_streams_both_ways_and_reports_failure(repo: Path) -> None:
    from gitfleet.git import run

    # Far more than a pipe holds in both directions at once: a runner that wrote all input
    # before reading would deadlock here.
    asked = "HEAD\n" * 20000
    got = run(["cat-file", "--batch-check"], repo, input=asked)
    assert got.stdout.count(" commit ") == 20000
    failed = run(["rev-parse", "--verify", "nope"], repo, check=False)
    assert failed.returncode == 128 and "single revision" in failed.stderr
    assert run(["rev-parse", "--show-prefix"], repo / ".git" / "..").stdout == "\n"


def test_git_runner_finds_git_on_the_path_it_is_given(repo: Path, tmp_path: Path) -> None:
    import os

    from gitfleet.git import run

    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "fake git $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": str(fake.parent)}
    assert run(["version"], env=env).stdout == "fake git version\n"
    assert run(["version"]).stdout.startswith("git version")


def _states(backend: LocalBackend) -> list[dict[str, object]]:
    from gitfleet.ledger import fold

    return [s.to_dict() for s in fold(backend.read()).values()]


def test_ledger_snapshot_answers_as_the_full_fold(tmp_path: Path) -> None:
    from gitfleet.config import Series
    from gitfleet.ledger import SNAPSHOT_EVERY, Ledger

    backend = LocalBackend(tmp_path)
    ledger = Ledger(backend)
    series = Series("SP", "SP", 3, ("articles/*.md",))
    for i in range(SNAPSHOT_EVERY // 20 + 1):
        got = ledger.allocate(series, 20, f"w{i}", seed=lambda: 151)
        ledger.transition(got[:5], "landed")
        ledger.transition(got[5:7], "released")
    assert backend.index_path.exists()  # the tail grew past SNAPSHOT_EVERY
    assert json.loads(backend.high_path.read_text())["high"]["SP"] > 151
    view = backend.view().folded
    assert view._base is not None  # built on the index, plus the records after it
    assert [s.to_dict() for s in view.states.values()] == _states(backend)
    assert view.high == {"SP": 151 + 20 * (SNAPSHOT_EVERY // 20 + 1)}
    # Allocation continues from the snapshot plus its tail, without a gap or a repeat.
    assert ledger.allocate(series, 1, "next", seed=lambda: 0) == [f"SP-{view.high['SP'] + 1}"]


def test_ledger_snapshot_of_other_bytes_is_ignored(tmp_path: Path) -> None:
    from gitfleet.config import Series
    from gitfleet.ledger import SNAPSHOT_EVERY, Ledger

    backend = LocalBackend(tmp_path)
    ledger = Ledger(backend)
    series = Series("SP", "SP", 3, ("articles/*.md",))
    ledger.allocate(series, SNAPSHOT_EVERY + 10, "old", seed=lambda: 0)
    ledger.states()  # writes the index and the high-water snapshot
    assert backend.index_path.exists() and backend.high_path.exists()
    # The ledger moved aside and started again, as the corrupt-ledger error advises: the
    # snapshot still on disk describes the old file and must not leak its ids.
    backend.path.rename(tmp_path / "ledger.jsonl.old")
    assert ledger.allocate(series, 2, "new", seed=lambda: 500) == ["SP-501", "SP-502"]
    assert [s.owner for s in ledger.states().values()] == ["new", "new"]
    # A damaged cache is a miss, not an error.
    backend.high_path.write_text('{"v": 1, "offset": 3, "crc": 0, "high": {"SP": 9}}')
    backend.index_path.write_bytes(b"not a database" * 100)
    assert len(ledger.states()) == 2
    backend.high_path.write_text("[]")
    assert len(ledger.states()) == 2
    assert ledger.allocate(series, 1, "new", seed=lambda: 0) == ["SP-503"]


def test_ledger_index_follows_transitions_and_is_rebuilt_when_damaged(tmp_path: Path) -> None:
    from gitfleet.config import Series
    from gitfleet.ledger import SNAPSHOT_EVERY, Ledger

    backend = LocalBackend(tmp_path)
    ledger = Ledger(backend)
    series = Series("SP", "SP", 3, ("articles/*.md",))
    first = ledger.allocate(series, SNAPSHOT_EVERY, "a", seed=lambda: 0)
    ledger.states()  # index at this point
    # Old ids change state after the index was written; then enough records for an update.
    ledger.transition(first[:3], "landed", note={"commit": "c0ffee"})
    ledger.allocate(series, SNAPSHOT_EVERY, "b", seed=lambda: 0)
    ledger.states()  # incremental update: the three landed ids and the new ones
    fresh = Ledger(LocalBackend(tmp_path)).folded()
    assert fresh._base is not None
    landed = fresh.get(first[0])
    assert landed is not None and landed.status == "landed" and landed.note["commit"] == "c0ffee"
    assert [s.to_dict() for s in fresh.states.values()] == _states(backend)
    # A damaged index file is replaced at the next update, not kept.
    backend.index_path.write_bytes(b"\0garbage" * 1000)
    ledger.allocate(series, SNAPSHOT_EVERY, "c", seed=lambda: 0)
    ledger.states()
    again = Ledger(LocalBackend(tmp_path)).folded()
    assert again._base is not None
    assert [s.to_dict() for s in again.states.values()] == _states(backend)


def test_batch_blobs_reads_exact_bytes_and_skips_the_rest(repo: Path) -> None:
    from gitfleet.git import batch_blobs, run

    (repo / "crlf.txt").write_bytes(b"a\r\nb\r\n\n")
    crlf = git(repo, "hash-object", "-w", "crlf.txt").stdout.strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    missing = "1" * 40
    oids = [crlf, missing, tree, crlf]
    out = run(["cat-file", "--batch"], repo, input="".join(f"{o}\n" for o in oids)).stdout
    got = batch_blobs(out.encode("utf-8", "surrogateescape"), oids)
    assert got == {crlf: b"a\r\nb\r\n\n"}


def _rec(n: int, op: str = "allocated", series: str = "SP") -> Record:
    return Record(op, series, n, f"{series}-{n}", "a", 1.0, {})


def test_an_open_index_reads_one_moment_while_others_rebuild_it(tmp_path: Path) -> None:
    from gitfleet.ledger import Ledger, Record

    backend = LocalBackend(tmp_path)
    ledger = Ledger(backend)
    backend.transact(lambda h: [Record("seeded", "SP", 0), *[_rec(n) for n in range(1, 301)]])
    stale = backend.path.read_bytes()  # what a reader without the lock saw early on
    backend.transact(lambda h: [_rec(n) for n in range(301, 601)])
    backend.transact(lambda h: [_rec(5, "released"), _rec(450, "released")])
    ledger.folded()  # the index now covers everything
    opened = ledger.folded()  # e.g. the commit hook, about to look ids up one by one
    assert opened._base is not None
    backend._fold(stale)  # the early reader folds now, and may rewrite the index behind it
    # The open index still answers as of its own moment, plus its own tail.
    for ident, status in (("SP-450", "released"), ("SP-5", "released"), ("SP-7", "allocated")):
        state = opened.get(ident)
        assert state is not None and state.status == status, ident
    # And the stale reader did not move the index back: a later index of the same ledger
    # is kept over an earlier one.
    fresh = ledger.folded()
    assert fresh._base is not None and fresh.get("SP-450") is not None


def test_a_failing_index_falls_back_to_the_ledger(tmp_path: Path) -> None:
    import sqlite3

    from gitfleet.ledger import Ledger, Record

    backend = LocalBackend(tmp_path)
    ledger = Ledger(backend)
    backend.transact(lambda h: [Record("seeded", "SP", 0), *[_rec(n) for n in range(1, 301)]])
    backend.transact(lambda h: [_rec(5, "released")])
    ledger.folded()  # builds the index
    db = sqlite3.connect(backend.index_path)
    db.execute("ALTER TABLE states RENAME COLUMN owner TO who")  # a file damaged under us
    db.commit()
    db.close()
    folded = ledger.folded()
    state = folded.get("SP-5")
    assert state is not None and state.status == "released"  # never "not allocated"
    assert len(folded.states) == 300
    assert len(ledger.states()) == 300  # ids list works too


def test_discover_quick_agrees_with_git_on_odd_layouts(repo: Path, tmp_path: Path) -> None:
    # A bare repository inside a worktree is that bare repository, not the outer checkout.
    inner = repo / "inner.git"
    git(repo, "init", "-q", "--bare", str(inner))
    with pytest.raises(NotARepoError, match="bare repository"):
        discover_quick(inner)
    # A .git that is a symlink: the same resolved paths as git's (state lives there).
    real = tmp_path / "real"
    git(tmp_path, "init", "-q", str(real))
    store = tmp_path / "store.git"
    (real / ".git").rename(store)
    (real / ".git").symlink_to(store)
    assert discover_quick(real) == discover(real)
    assert discover_quick(real).state_dir == discover(real).state_dir
    # core.worktree in the config: git's answer, whatever the files suggest.
    git(repo, "config", "core.worktree", str(repo))
    assert discover_quick(repo / "inner.git" / "..") == discover(repo)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a folder to another user")
def test_discover_quick_leaves_foreign_folders_to_git(repo: Path) -> None:
    os.chown(repo, 12345, 12345)
    with pytest.raises(NotARepoError, match="owned by someone else"):
        discover_quick(repo)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc")
def test_git_runner_passes_on_no_descriptor_and_default_signals(repo: Path) -> None:
    from gitfleet.git import run

    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)  # as a parent process might hand us one
    try:
        probe = "!grep SigIgn /proc/self/status; ls /proc/self/fd"
        got = run(["-c", f"alias.probe={probe}", "probe"], repo).stdout.split()
    finally:
        os.close(leaked)
    fds = {int(fd) for fd in got[2:]}
    assert leaked not in fds and fds - {0, 1, 2} and len(fds - {0, 1, 2}) == 1  # ls's own
    ignored = int(got[1], 16)
    assert not ignored & (1 << 12), "SIGPIPE must be at its default in git's children"
