"""The remote ledger: two "machines" (clones with their own common dirs) against one bare
remote, served by a real ``git daemon`` on 127.0.0.1 or over file://, allocating through
the real CLI in many concurrent processes."""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import git, gitfleet
from gitdaemon_fixtures import GitDaemon, serving

from gitfleet import config
from gitfleet.errors import LedgerError
from gitfleet.git.repo import discover
from gitfleet.ids.ledger import History, Ledger, Record, fold
from gitfleet.ids.local import LocalBackend
from gitfleet.ids.remote import (
    DEFAULT_REF,
    LOCAL_REF,
    SEEN_REF,
    WAIT_AFTER,
    RemoteBackend,
    migrate,
    plan_merge,
)

GITFLEET = str(Path(sys.executable).parent / "gitfleet")
REMOTE_CFG = '\n[ledger]\nbackend = "remote"\n'


def _serve(tmp_path: Path, story_repo: Path, backend: str = "remote") -> Path:
    """Commit the ledger backend into the story's config and publish it as served/fleet.git."""
    if backend == "remote":
        with open(story_repo / "gitfleet.toml", "a") as fh:
            fh.write(REMOTE_CFG)
        git(story_repo, "commit", "-q", "-am", "remote ledger")
    bare = tmp_path / "served" / "fleet.git"
    bare.parent.mkdir(exist_ok=True)
    git(tmp_path, "clone", "-q", "--bare", str(story_repo), str(bare))
    return bare


def _machine(tmp_path: Path, name: str, url: str) -> Path:
    path = tmp_path / name
    git(tmp_path, "clone", "-q", url, str(path))
    return path


def _remote_records(bare: Path) -> list[Record]:
    """Read the ledger straight from the bare repository, without gitfleet's code."""
    listing = git(bare, "ls-tree", "--name-only", DEFAULT_REF).stdout.split()
    records = []
    for name in sorted(listing):
        text = git(bare, "cat-file", "blob", f"{DEFAULT_REF}:{name}").stdout
        records.extend(Record.from_json(line) for line in text.splitlines() if line.strip())
    return records


def _allocated(bare: Path) -> dict[str, str | None]:
    return {s.id: s.owner for s in fold(_remote_records(bare)).values()}


def _hook(bare: Path, name: str, body: str) -> Path:
    path = bare / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _backend(clone: Path, **kwargs: float) -> RemoteBackend:
    return RemoteBackend(discover(clone), "origin", **kwargs)  # type: ignore[arg-type]


def _series(clone: Path) -> config.Series:
    return config.load(clone).series_for("SP")


def _allocate_in(clone: Path, owner: str) -> Callable[[list[Record]], list[Record]]:
    """A transaction that lets machine ``clone`` allocate one id the first time it runs,
    i.e. after this machine has read the ledger and before it pushes: a lost race, for sure."""
    calls: list[int] = []

    def race(history: History) -> list[Record]:
        records = history.records
        calls.append(len(records))
        if len(calls) == 1:
            gitfleet(clone, "ids", "allocate", "SP", "--owner", owner)
        top = max((r.number for r in records if r.series == "SP"), default=151)
        return [Record("allocated", "SP", top + 1, f"SP-{top + 1:03d}", "racer", 1.0)]

    race.calls = calls  # type: ignore[attr-defined]
    return race


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """A real git daemon on 127.0.0.1 serving tmp_path/served, push enabled."""
    with serving(tmp_path) as running:
        yield running


@pytest.fixture(params=["git-daemon", "file"])
def fleet(
    request: pytest.FixtureRequest, tmp_path: Path, story_repo: Path
) -> tuple[Path, Path, Path]:
    """(bare remote, machine A, machine B), over git:// on loopback or over file://."""
    bare = _serve(tmp_path, story_repo)
    if request.param == "git-daemon":
        daemon: GitDaemon = request.getfixturevalue("daemon")
        url = daemon.url("fleet.git")
    else:
        url = bare.as_uri()
    return bare, _machine(tmp_path, "a", url), _machine(tmp_path, "b", url)


def test_two_machines_many_processes_each_get_unique_ids_none_lost(
    fleet: tuple[Path, Path, Path],
) -> None:
    bare, a, b = fleet
    procs = []
    for i in range(10):
        machine = (a, b)[i % 2]
        # Each process allocates three times, one or two ids a call.
        script = " && ".join(
            f"{GITFLEET} ids allocate SP -n {1 + (k % 2)} --owner p{i}" for k in range(3)
        )
        procs.append(
            (
                i,
                subprocess.Popen(
                    ["sh", "-c", script],
                    cwd=machine,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    handed: dict[str, str] = {}
    for i, proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        for ident in out.split():
            assert ident not in handed, f"{ident} handed out twice"
            handed[ident] = f"p{i}"
    assert len(handed) == 10 * (1 + 2 + 1)
    # None lost: the remote holds exactly what was handed out, to the right owners, with no
    # gap above the seed (151 articles exist).
    assert _allocated(bare) == handed
    assert sorted(handed) == [f"SP-{n:03d}" for n in range(152, 152 + len(handed))]
    # The ledger stays out of the branches: only the ledger ref is new on the remote.
    refs = git(bare, "for-each-ref", "--format=%(refname)").stdout.split()
    assert sorted(refs) == [DEFAULT_REF, "refs/heads/main"]
    mine = git(a, "for-each-ref", "--format=%(refname)", "refs/gitfleet", "refs/heads").stdout
    # (plus, perhaps, the last-seen copies of other machines' waiting markers)
    assert sorted(r for r in mine.split() if "-waiting/" not in r) == sorted(
        [SEEN_REF, LOCAL_REF, "refs/heads/main"]
    )


def test_a_machine_that_lost_the_race_reruns_on_fresh_records(
    fleet: tuple[Path, Path, Path],
) -> None:
    bare, a, b = fleet
    # First writers: the ledger ref does not exist yet, so A's push expects "no ref"
    # (--force-with-lease=<ref>:) and must lose to B, which created it meanwhile.
    race = _allocate_in(b, owner="b")
    got = _backend(a).transact(race)
    assert race.calls == [0, 2]  # type: ignore[attr-defined]  # re-ran on B's seed + SP-152
    assert [r.id for r in got] == ["SP-153"]
    assert _allocated(bare) == {"SP-152": "b", "SP-153": "racer"}
    # Later writers: the same with an existing ref.
    race = _allocate_in(b, owner="b")
    got = _backend(a).transact(race)
    assert [r.id for r in got] == ["SP-155"]
    assert _allocated(bare) == {"SP-152": "b", "SP-153": "racer", "SP-154": "b", "SP-155": "racer"}


def test_a_machine_that_keeps_losing_is_let_through(
    fleet: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture effect: the winner starts its next transaction the moment it wins, the
    loser only when its push returns, so a machine with a queue can win every race. After
    WAIT_AFTER losses in a row a machine publishes a marker and the others hold back."""
    bare, a, b = fleet
    monkeypatch.setenv("GITFLEET_LEDGER_YIELD_MAX", "600")  # B waits as long as it takes
    calls: list[int] = []
    background: list[subprocess.Popen[str]] = []

    def contended(history: History) -> list[Record]:
        records = history.records
        calls.append(len(records))
        if len(calls) <= WAIT_AFTER:  # B wins the first races...
            gitfleet(b, "ids", "allocate", "SP", "--owner", "b")
        else:  # ...then A is waiting; B, allocating meanwhile, must hold back.
            assert git(bare, "for-each-ref", f"{DEFAULT_REF}-waiting/").stdout.strip()
            background.append(
                subprocess.Popen([GITFLEET, "ids", "allocate", "SP", "--owner", "b"], cwd=b,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )  # fmt: skip
            while not git(b, "for-each-ref", f"{LOCAL_REF}-waiting/").stdout.strip():
                assert background[0].poll() is None, background[0].communicate()
                time.sleep(0.05)  # until B has seen A's marker
            # A holding B would finish now, win, and make A lose again: give it every chance.
            with contextlib.suppress(subprocess.TimeoutExpired):
                background[0].wait(timeout=5)
        top = max((r.number for r in records if r.series == "SP"), default=151)
        return [Record("allocated", "SP", top + 1, f"SP-{top + 1:03d}", "a", 1.0)]

    got = _backend(a).transact(contended)
    out, err = background[0].communicate(timeout=600)
    assert background[0].returncode == 0, err
    assert len(calls) == WAIT_AFTER + 1  # A won the race B was holding back from
    assert [r.id for r in got] == ["SP-154"] and out.split() == ["SP-155"]
    assert not git(bare, "for-each-ref", f"{DEFAULT_REF}-waiting/").stdout.strip()  # withdrawn


def test_bounded_retries_then_a_clear_error_and_no_cache(fleet: tuple[Path, Path, Path]) -> None:
    bare, a, b = fleet
    gitfleet(a, "ids", "allocate", "SP", "--owner", "a")
    backend = _backend(a, max_attempts=3)
    backend.read()  # leaves a cache for the hooks
    assert backend._cache_path.exists()

    def always_lose(history: History) -> list[Record]:
        gitfleet(b, "ids", "allocate", "SP", "--owner", "b")
        top = max(r.number for r in history.records if r.series == "SP")
        return [Record("allocated", "SP", top + 1, f"SP-{top + 1:03d}", "loser", 1.0)]

    with pytest.raises(LedgerError) as info:
        backend.transact(always_lose)
    message = str(info.value)
    assert "gave up after 3 attempts" in message and "Nothing was allocated" in message
    assert "loser" not in _allocated(bare).values()
    assert not backend._cache_path.exists()  # a refused state is never kept


def test_the_read_cache_is_short_lived_and_a_refusal_invalidates_it(
    fleet: tuple[Path, Path, Path],
) -> None:
    _bare, a, b = fleet
    gitfleet(a, "ids", "allocate", "SP", "--owner", "a")
    trusting = _backend(a, cache_ttl=3600)
    assert [r.id for r in trusting.read() if r.id] == ["SP-152"]
    gitfleet(b, "ids", "allocate", "SP", "--owner", "b")
    # Within its lifetime the cache answers without asking the remote (the hooks' fast path)...
    assert [r.id for r in trusting.read() if r.id] == ["SP-152"]
    # ...but never decides an allocation, which always reads the remote first.
    assert Ledger(trusting).allocate(_series(a), 1, "a", lambda: 0) == ["SP-154"]
    assert [r.id for r in trusting.read() if r.id] == ["SP-152", "SP-153", "SP-154"]
    # And once expired, a read asks the remote again.
    gitfleet(b, "ids", "allocate", "SP", "--owner", "b")
    assert [r.id for r in _backend(a, cache_ttl=0).read() if r.id][-1] == "SP-155"


def test_unreachable_remote_is_a_clear_error_and_nothing_is_reissued_after(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon
) -> None:
    bare = _serve(tmp_path, story_repo)
    url = daemon.url("fleet.git")
    a = _machine(tmp_path, "a", url)
    first = gitfleet(a, "ids", "allocate", "SP", "-n", "2").stdout.split()
    daemon.stop()
    for argv in (["ids", "allocate", "SP"], ["ids", "list"]):
        proc = gitfleet(a, *argv, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "could not be reached" in proc.stderr and url in proc.stderr
        assert "Traceback" not in proc.stderr
    assert "nothing was allocated" in gitfleet(a, "ids", "allocate", "SP", check=False).stderr
    # Nothing was allocated locally behind the user's back.
    assert not (discover(a).state_dir / "ledger.sqlite").exists()
    restarted = _restart(daemon)
    try:
        then = gitfleet(a, "ids", "allocate", "SP").stdout.split()
    finally:
        restarted.stop()
    assert first == ["SP-152", "SP-153"] and then == ["SP-154"]
    assert _allocated(bare) == {"SP-152": "main", "SP-153": "main", "SP-154": "main"}


def _restart(daemon: GitDaemon) -> GitDaemon:
    again = GitDaemon(daemon.base, daemon.log, port=daemon.port)
    again.start()
    return again


# The server's hooks run in the daemon's process group: `kill -9 0` takes the whole server
# down at that moment of the push; `kill -9 $PPID` drops only this connection.
SERVER_DIES = "kill -9 0\n"
CONNECTION_DROPS = "kill -9 $PPID\n"


def test_server_killed_while_two_machines_allocate_hands_out_nothing_twice(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", daemon.url("fleet.git"))
    b = _machine(tmp_path, "b", daemon.url("fleet.git"))
    gitfleet(a, "ids", "allocate", "SP", "--owner", "first")  # the ledger exists
    procs = []
    for i in range(6):
        # Each process keeps allocating; a failed call prints a marker and goes on.
        call = f"{GITFLEET} ids allocate SP --owner p{i} || echo FAILED"
        loop = f"for k in 1 2 3 4 5 6 7 8; do {call}; done"
        procs.append(
            (f"p{i}", subprocess.Popen(["sh", "-c", loop], cwd=(a, b)[i % 2], text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        )  # fmt: skip
    while len(_allocated(bare)) < 6:  # kill the server while allocations are under way
        time.sleep(0.05)
    daemon.stop()
    handed: dict[str, str] = {"SP-152": "first"}
    failures = 0
    for owner, proc in procs:
        out, err = proc.communicate(timeout=600)
        failures += out.split().count("FAILED")
        for ident in out.split():
            if ident != "FAILED":
                assert ident not in handed, f"{ident} handed out twice"
                handed[ident] = owner
        for line in err.splitlines():
            if line.startswith("gitfleet:"):
                assert "could not be reached" in line or "went away" in line, err
        assert "internal error" not in err and "Traceback" not in err
    assert failures > 0
    before = _allocated(bare)  # handed out, plus any whose answer was lost: never reissued
    again = _restart(daemon)
    try:
        after = [
            gitfleet(m, "ids", "allocate", "SP", "--owner", "after").stdout.strip() for m in (a, b)
        ]
    finally:
        again.stop()
    # Every id handed out is recorded for its owner; the ones after the outage are new.
    assert all(before[ident] == owner for ident, owner in handed.items())
    assert len(set(after)) == 2 and min(after) > max(before)


def test_server_dies_mid_push_before_the_update(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", daemon.url("fleet.git"))
    gitfleet(a, "ids", "allocate", "SP")
    hook = _hook(bare, "pre-receive", SERVER_DIES)
    proc = gitfleet(a, "ids", "allocate", "SP", "-n", "3", check=False)
    hook.unlink()
    assert proc.returncode == 1 and proc.stdout == ""
    assert "went away while recording" in proc.stderr and "No id was handed out" in proc.stderr
    assert _allocated(bare) == {"SP-152": "main"}
    again = _restart(daemon)
    try:
        assert gitfleet(a, "ids", "allocate", "SP").stdout.split() == ["SP-153"]
    finally:
        again.stop()


def test_server_dies_after_the_update_and_those_ids_are_never_reissued(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", daemon.url("fleet.git"))
    b = _machine(tmp_path, "b", daemon.url("fleet.git"))
    gitfleet(a, "ids", "allocate", "SP")
    # The ref is updated, then the server is gone before A hears "ok" or can look.
    hook = _hook(bare, "reference-transaction", f'[ "$1" = committed ] && {SERVER_DIES}exit 0\n')
    proc = gitfleet(a, "ids", "allocate", "SP", "-n", "2", "--owner", "lost", check=False)
    hook.unlink()
    assert proc.returncode == 1 and proc.stdout == ""
    assert "may or may not have recorded" in proc.stderr
    assert _allocated(bare) == {"SP-152": "main", "SP-153": "lost", "SP-154": "lost"}
    again = _restart(daemon)
    try:
        assert gitfleet(a, "ids", "allocate", "SP").stdout.split() == ["SP-155"]
        assert gitfleet(b, "ids", "allocate", "SP").stdout.split() == ["SP-156"]
    finally:
        again.stop()


def test_connection_dropped_after_the_update_is_verified_and_succeeds(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", daemon.url("fleet.git"))
    gitfleet(a, "ids", "allocate", "SP")
    hook = _hook(
        bare, "reference-transaction", f'[ "$1" = committed ] && {CONNECTION_DROPS}exit 0\n'
    )
    # The answer is lost but the server is up: re-reading shows the ids were recorded.
    got = gitfleet(a, "ids", "allocate", "SP", "-n", "2").stdout.split()
    hook.unlink()
    assert got == ["SP-153", "SP-154"]
    assert _allocated(bare) == {"SP-152": "main", "SP-153": "main", "SP-154": "main"}


def test_connection_dropped_before_the_update_is_verified_and_refused(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", daemon.url("fleet.git"))
    gitfleet(a, "ids", "allocate", "SP")
    hook = _hook(bare, "pre-receive", CONNECTION_DROPS + "exit 1\n")
    proc = gitfleet(a, "ids", "allocate", "SP", check=False)
    hook.unlink()
    assert proc.returncode == 1 and proc.stdout == ""
    assert "not recorded, so nothing was allocated" in proc.stderr
    assert gitfleet(a, "ids", "allocate", "SP").stdout.split() == ["SP-153"]


def test_a_server_that_refuses_the_ref_is_reported_not_retried(
    fleet: tuple[Path, Path, Path],
) -> None:
    bare, a, _b = fleet
    log = bare / "pre-receive.log"
    _hook(bare, "pre-receive", f"echo run >> {log}\necho 'no gitfleet refs here' >&2\nexit 1\n")
    proc = gitfleet(a, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 1
    assert "refused to update refs/gitfleet/ledger" in proc.stderr
    assert "pre-receive hook declined" in proc.stderr and "Nothing was allocated" in proc.stderr
    assert log.read_text().splitlines() == ["run"]  # one attempt, not thirty


def test_pushes_go_to_the_real_url_not_the_gitfleet_push_url(
    fleet: tuple[Path, Path, Path],
) -> None:
    bare, a, _b = fleet
    # A routed push URL whose helper would fail if the ledger went through it.
    git(a, "config", "remote.origin.pushurl", "gitfleet::/nonexistent/elsewhere.git")
    assert gitfleet(a, "ids", "allocate", "SP").stdout.split() == ["SP-152"]
    assert _allocated(bare) == {"SP-152": "main"}


def test_unknown_remote_name_is_a_clear_error(tmp_path: Path, story_repo: Path) -> None:
    with open(story_repo / "gitfleet.toml", "a") as fh:
        fh.write(REMOTE_CFG)
    git(story_repo, "remote", "rename", "origin", "upstream")
    proc = gitfleet(story_repo, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 2
    assert "remote 'origin' is not configured" in proc.stderr
    assert "git remote add origin" in proc.stderr


def test_shards_roll_over_and_only_the_last_one_changes(
    fleet: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, a, _b = fleet
    monkeypatch.setattr("gitfleet.ids.remote.SHARD_SIZE", 4)
    ledger = Ledger(_backend(a))
    for _ in range(4):
        ledger.allocate(_series(a), 2, "a", lambda: 151)
    names = git(bare, "ls-tree", "--name-only", DEFAULT_REF).stdout.split()
    assert names == ["000000.jsonl", "000001.jsonl"]  # 3 + 2 records, then 2 + 2
    first = git(bare, "rev-parse", f"{DEFAULT_REF}~1:{names[0]}").stdout
    assert git(bare, "rev-parse", f"{DEFAULT_REF}:{names[0]}").stdout == first
    assert sorted(_allocated(bare)) == [f"SP-{n:03d}" for n in range(152, 160)]
    assert [s.id for s in ledger.states().values()] == sorted(_allocated(bare))


# -- the pre-commit check reads the remote ledger ---------------------------------------------


def test_commit_hook_checks_ids_against_the_remote_ledger(
    fleet: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _bare, a, b = fleet
    gitfleet(a, "init")
    gitfleet(b, "init")
    monkeypatch.setenv("GITFLEET_LEDGER_CACHE_TTL", "0")  # A must see B's allocation at once
    mine = gitfleet(b, "ids", "allocate", "SP").stdout.strip()  # on machine B, to "main"
    (a / "articles" / f"{mine}.md").write_text(f"---\nticketId: {mine}\n---\n")
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "an id allocated on the other machine")
    stray = "SP-999"
    (a / "articles" / f"{stray}.md").write_text(f"---\nticketId: {stray}\n---\n")
    git(a, "add", "-A")
    proc = git(a, "commit", "-q", "-m", "never allocated", check=False)
    assert proc.returncode != 0 and stray in proc.stderr and "never allocated" in proc.stderr


def test_commit_hook_uses_the_short_lived_cache_and_never_guesses_offline(
    tmp_path: Path, story_repo: Path, daemon: GitDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", daemon.url("fleet.git"))
    gitfleet(a, "init")
    first, second = gitfleet(a, "ids", "allocate", "SP", "-n", "2").stdout.split()
    daemon.stop()
    # Within its lifetime the tip this machine just pushed answers the hook: no network.
    monkeypatch.setenv("GITFLEET_LEDGER_CACHE_TTL", "3600")
    (a / "articles" / f"{first}.md").write_text(f"---\nticketId: {first}\n---\n")
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "checked from the cache")
    # Expired, it asks the remote, which is down: a clear refusal, not a guess.
    monkeypatch.setenv("GITFLEET_LEDGER_CACHE_TTL", "0")
    (a / "articles" / f"{second}.md").write_text(f"---\nticketId: {second}\n---\n")
    git(a, "add", "-A")
    proc = git(a, "commit", "-q", "-m", "offline", check=False)
    assert proc.returncode == 1
    assert "could not be reached, so the ledger could not be read" in proc.stderr
    assert daemon.url("fleet.git") in proc.stderr and "Traceback" not in proc.stderr


# -- migrate --------------------------------------------------------------------------------


def test_migrate_local_to_remote_and_back_loses_and_reissues_nothing(
    tmp_path: Path, story_repo: Path
) -> None:
    bare = _serve(tmp_path, story_repo, backend="local")
    a = _machine(tmp_path, "a", bare.as_uri())
    b = _machine(tmp_path, "b", bare.as_uri())
    local_ids = gitfleet(a, "ids", "allocate", "SP", "-n", "3", "--owner", "x").stdout.split()
    gitfleet(a, "ids", "release", local_ids[-1])
    repo_a = discover(a)
    result = migrate(repo_a, config.load(a), "remote")
    assert (result.source, result.destination, result.high_water) == (
        "local",
        "remote",
        {"SP": 154},
    )
    assert result.copied == 5 and 'backend = "remote"' in result.next_step  # seed + 3 + release
    # Idempotent: nothing twice.
    assert migrate(repo_a, config.load(a), "remote").copied == 0
    assert _allocated(bare) == {i: "x" for i in local_ids}
    # Switch the fleet to the remote: the next id is above every migrated one.
    with open(b / "gitfleet.toml", "a") as fh:
        fh.write(REMOTE_CFG)
    assert gitfleet(b, "ids", "allocate", "SP").stdout.split() == ["SP-155"]
    released = json.loads(gitfleet(b, "ids", "show", local_ids[-1], "--json").stdout)
    assert released["status"] == "released"
    # And back to a local ledger on B: everything is there, numbering continues.
    back = gitfleet(b, "ids", "migrate", "--to", "local", "--json")
    assert json.loads(back.stdout)["copied"] == 6
    git(b, "checkout", "-q", "--", "gitfleet.toml")
    assert gitfleet(b, "ids", "allocate", "SP").stdout.split() == ["SP-156"]
    states = Ledger(LocalBackend(discover(b).state_dir)).states()
    assert sorted(states) == [f"SP-{n}" for n in range(152, 157)]


def test_migrate_refuses_conflicting_histories_and_copies_nothing(
    tmp_path: Path, story_repo: Path
) -> None:
    bare = _serve(tmp_path, story_repo, backend="local")
    a = _machine(tmp_path, "a", bare.as_uri())
    gitfleet(a, "ids", "allocate", "SP", "--owner", "local-owner")
    Ledger(_backend(a)).allocate(_series(a), 1, "remote-owner", lambda: 151)
    before = git(bare, "rev-parse", DEFAULT_REF).stdout
    proc = gitfleet(a, "ids", "migrate", "--to", "remote", check=False)
    assert proc.returncode == 1
    assert "different records for SP-152" in proc.stderr and "Nothing was copied" in proc.stderr
    assert git(bare, "rev-parse", DEFAULT_REF).stdout == before


def test_plan_merge_appends_only_missing_tails() -> None:
    def rec(op: str, n: int, ts: float) -> Record:
        return Record(op, "SP", n, f"SP-{n}", "o", ts)

    seed = Record("seeded", "SP", 10, ts=1.0)
    src = [seed, rec("allocated", 11, 2.0), rec("committed", 11, 3.0), rec("allocated", 12, 4.0)]
    dst = [seed, rec("allocated", 11, 2.0)]
    assert plan_merge(src, dst, "s", "d") == [rec("committed", 11, 3.0), rec("allocated", 12, 4.0)]
    # A destination further along than the source keeps its newer history.
    assert plan_merge(dst, src, "s", "d") == []
    with pytest.raises(LedgerError, match="SP-11"):
        plan_merge(src, [rec("allocated", 11, 9.0)], "s", "d")


def test_commit_hook_rereads_before_refusing_on_a_cached_answer(
    tmp_path: Path, story_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id allocated on another machine a moment ago is not refused from a stale cache."""
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", bare.as_uri())
    b = _machine(tmp_path, "b", bare.as_uri())
    gitfleet(a, "init")
    monkeypatch.setenv("GITFLEET_LEDGER_CACHE_TTL", "3600")
    gitfleet(a, "ids", "list")  # machine a now holds a cached tip
    ident = gitfleet(b, "ids", "allocate", "SP", "--owner", "main").stdout.strip()
    (a / "articles" / f"{ident}.md").write_text(f"---\nticketId: {ident}\n---\n")
    git(a, "add", "-A")
    proc = git(a, "commit", "-q", "-m", "allocated on machine b", check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_deleted_or_emptied_ledger_ref_is_refused_never_reseeded(
    tmp_path: Path, story_repo: Path
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", bare.as_uri())
    assert gitfleet(a, "ids", "allocate", "SP", "-n", "3").stdout.split()[-1] == "SP-154"
    seen = git(bare, "rev-parse", DEFAULT_REF).stdout.strip()
    git(bare, "update-ref", "-d", DEFAULT_REF)  # as a `push --mirror` from an old clone does
    gone = gitfleet(a, "ids", "allocate", "SP", check=False)
    assert gone.returncode == 1, gone.stdout
    assert "is gone, but this clone saw it hold SP up to 154" in gone.stderr
    assert (
        "git push" in gone.stderr
        and "refs/gitfleet/ledger-seen:refs/gitfleet/ledger" in gone.stderr
    )
    assert git(bare, "rev-parse", "-q", "--verify", DEFAULT_REF, check=False).returncode != 0
    # an empty tree in its place is no better
    empty = git(bare, "hash-object", "-t", "tree", "-w", "--stdin", input_text="").stdout.strip()
    commit = git(bare, "commit-tree", empty, "-m", "empty").stdout.strip()
    git(bare, "update-ref", DEFAULT_REF, commit)
    emptied = gitfleet(a, "ids", "allocate", "SP", check=False)
    assert emptied.returncode == 1 and "holds less" in emptied.stderr
    # the recovery the message names brings it back, and allocation goes on above 154
    git(a, "push", "-q", "--force", bare.as_uri(), "refs/gitfleet/ledger-seen:" + DEFAULT_REF)
    assert git(bare, "rev-parse", DEFAULT_REF).stdout.strip() == seen
    assert gitfleet(a, "ids", "allocate", "SP").stdout.strip() == "SP-155"


def test_a_ledger_ref_to_a_blob_or_a_forged_record_is_a_clear_error(
    tmp_path: Path, story_repo: Path
) -> None:
    bare = _serve(tmp_path, story_repo)
    a = _machine(tmp_path, "a", bare.as_uri())
    blob = git(bare, "hash-object", "-w", "--stdin", input_text="not a ledger\n").stdout.strip()
    git(bare, "update-ref", DEFAULT_REF, blob)
    proc = gitfleet(a, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 1 and "points at a blob" in proc.stderr, proc.stderr
    forged = '{"v":1,"op":"allocated","series":"SP","n":200,"id":"SP-999","owner":"x","ts":1}\n'
    shard = git(bare, "hash-object", "-w", "--stdin", input_text=forged).stdout.strip()
    tree = git(bare, "mktree", input_text=f"100644 blob {shard}\t000000.jsonl\n").stdout.strip()
    git(bare, "update-ref", DEFAULT_REF, git(bare, "commit-tree", tree, "-m", "x").stdout.strip())
    proc = gitfleet(a, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 1 and "does not match its number 200" in proc.stderr


def test_ids_list_and_show_read_the_remote_now(tmp_path: Path, story_repo: Path) -> None:
    bare = _serve(tmp_path, story_repo)
    a, b = _machine(tmp_path, "a", bare.as_uri()), _machine(tmp_path, "b", bare.as_uri())
    gitfleet(b, "ids", "allocate", "SP")
    env = {"GITFLEET_LEDGER_CACHE_TTL": "3600"}  # the hooks' cache would answer for an hour
    assert "SP-152" in gitfleet(b, "ids", "list", env=env).stdout
    ident = gitfleet(a, "ids", "allocate", "SP").stdout.strip()
    assert ident in gitfleet(b, "ids", "list", env=env).stdout
    assert ident in gitfleet(b, "ids", "show", ident, env=env).stdout
