"""Supervision with real processes: limits, timeouts, process groups, Ctrl-C, logs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gitfleet.fleet.supervise import Event, Job, Supervisor


def _wait_gone(pid: int, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie child of ours still answers kill(0); reap it if it is ours.
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        if _is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_for(path: Path, timeout: float = 60.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_concurrency_limit_holds(tmp_path: Path) -> None:
    running = tmp_path / "running"
    running.mkdir()
    code = (
        "import os, sys, time, pathlib\n"
        "d = pathlib.Path(sys.argv[1]); me = d / str(os.getpid()); me.touch()\n"
        "print(len(list(d.iterdir())), flush=True)\n"
        "time.sleep(0.4); me.unlink()\n"
    )
    jobs = [
        Job(f"j{i}", [*py(code), str(running)], tmp_path, os.environ, tmp_path / f"j{i}.log")
        for i in range(5)
    ]
    events: list[Event] = []
    Supervisor(jobs, 2, events.append).run()
    seen = [int((tmp_path / f"j{i}.log").read_text().split()[0]) for i in range(5)]
    assert max(seen) <= 2
    assert sorted(e.name for e in events if e.kind == "exited") == [f"j{i}" for i in range(5)]
    assert all(e.code == 0 for e in events if e.kind == "exited")


def test_timeout_stops_the_agent_and_everything_it_started(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open('child.pid', 'w').write(str(c.pid)); time.sleep(600)\n"
    )
    events: list[Event] = []
    job = Job("hang", py(code), tmp_path, os.environ, tmp_path / "hang.log", timeout=8.0)
    Supervisor([job], 1, events.append, grace=2.0).run()
    kinds = [e.kind for e in events]
    assert kinds == ["started", "timed-out"]
    child = int(_wait_for(tmp_path / "child.pid"))
    assert _wait_gone(child), "the agent's child survived the timeout"


def test_term_ignoring_agent_is_killed_after_grace(tmp_path: Path) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)\n"
    events: list[Event] = []
    job = Job("stubborn", py(code), tmp_path, os.environ, tmp_path / "s.log", timeout=1.0)
    Supervisor([job], 1, events.append, grace=1.0).run()
    assert [e.kind for e in events] == ["started", "timed-out"]
    assert events[-1].code == -9


def test_leftovers_of_an_exited_agent_are_killed(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open('bg.pid', 'w').write(str(c.pid))\n"
    )
    events: list[Event] = []
    Supervisor(
        [Job("a", py(code), tmp_path, os.environ, tmp_path / "a.log")], 1, events.append
    ).run()
    assert [e.kind for e in events] == ["started", "exited"]
    assert _wait_gone(int(_wait_for(tmp_path / "bg.pid")))


def test_missing_command_is_not_started(tmp_path: Path) -> None:
    events: list[Event] = []
    job = Job("x", ["no-such-agent-binary-xyz"], tmp_path, os.environ, tmp_path / "x.log")
    Supervisor([job], 1, events.append).run()
    assert events[0].kind == "not-started"
    assert "not found on PATH" in (events[0].error or "")


def test_interrupt_stops_all_agents_and_their_children(tmp_path: Path) -> None:
    code = (
        "import os, subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open(sys.argv[1], 'w').write(str(c.pid)); time.sleep(600)\n"
    )
    jobs = [
        Job(
            f"j{i}",
            [*py(code), str(tmp_path / f"c{i}")],
            tmp_path,
            os.environ,
            tmp_path / f"{i}.log",
        )
        for i in range(3)
    ]
    events: list[Event] = []

    def idle() -> None:
        if all(
            (tmp_path / f"c{i}").exists() and (tmp_path / f"c{i}").read_text() for i in range(3)
        ):
            raise KeyboardInterrupt

    sup = Supervisor(jobs, 3, events.append, grace=2.0)
    with pytest.raises(KeyboardInterrupt):
        sup.run(idle=idle)
    assert sorted(e.name for e in events if e.kind == "killed") == ["j0", "j1", "j2"]
    for i in range(3):
        assert _wait_gone(int((tmp_path / f"c{i}").read_text()))


def test_output_goes_to_the_log(tmp_path: Path) -> None:
    code = "import sys\nprint('to stdout'); print('to stderr', file=sys.stderr); sys.exit(4)\n"
    events: list[Event] = []
    Supervisor(
        [Job("l", py(code), tmp_path, os.environ, tmp_path / "l.log")], 1, events.append
    ).run()
    text = (tmp_path / "l.log").read_text()
    assert "to stdout" in text and "to stderr" in text
    assert events[-1].code == 4
