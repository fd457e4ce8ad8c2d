"""The live table and ``gitfleet status`` at 80 columns under a real pseudo-terminal, the
heartbeat off a terminal, and usage per agent and in total through spawn, status, report."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import struct
import subprocess
import sys
import termios
from pathlib import Path

from conftest import gitfleet

from gitfleet.fleet.display import duration

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b.")

# An agent that says what it does, reports usage the way Claude Code's stream-json ends,
# and commits its article; its last words are the result line.
AGENT = r"""
import json, os, subprocess, sys, time
ident = os.environ["GITFLEET_ID"]
print(f"writing articles/{ident}.md", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
os.makedirs("articles", exist_ok=True)
with open(f"articles/{ident}.md", "w") as fh:
    fh.write(f"---\nticketId: {ident}\n---\n\nText.\n")
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-qm", f"Add article {ident}"], check=True)
print(json.dumps({"type": "result", "subtype": "success", "result": f"{ident} committed",
                  "total_cost_usd": 0.25, "num_turns": 3, "duration_ms": 1500,
                  "usage": {"input_tokens": 1000, "output_tokens": 200}}), flush=True)
"""


def _agent(tmp_path: Path, pause: float = 0) -> str:
    script = tmp_path / "usage_agent.py"
    script.write_text(AGENT)
    return shlex.join([sys.executable, str(script), str(pause)])


def in_pty(cwd: Path, *args: str, cols: int = 80) -> str:
    """Run the gitfleet console script on a pseudo-terminal ``cols`` wide; its screen text."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gitfleet"), *args], cwd=cwd,
        stdin=child, stdout=child, stderr=child, env={**env, "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=300) in (0, 1), b"".join(chunks).decode(errors="replace")
    return ESCAPES.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "")


def last_table(screen: str) -> list[str]:
    """The last frame of the table: from its title to its logs line."""
    frame = screen[screen.rindex("gitfleet run ") :]
    lines = frame.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("logs: "))
    return [line.rstrip() for line in lines[: end + 1]]


def _assert_readable(table: list[str], cols: int) -> None:
    assert all(len(line) <= cols for line in table), "\n".join(table)
    header = next(line for line in table if line.lstrip().startswith("agent"))
    for word in ("state", "exit", "commits", "result", "time", "usage", "latest output"):
        assert word in header, header
    rows = [line for line in table if line.lstrip().startswith("SP-")]
    assert len(rows) == 3, "\n".join(table)
    for row in rows:
        assert re.search(
            r"SP-15\d +exited +0 +1 +committed +\d+s +\$0\.2500 +SP-15\d commit", row
        ), row
    assert "fleet/SP-" not in "\n".join(table), "no column repeats the id"
    total = next(line for line in table if line.lstrip().startswith("total"))
    assert "3" in total and "$0.7500" in total
    assert table[-1].startswith("logs: `gitfleet logs AGENT` (in .git/gitfleet/runs/")


def test_live_table_and_status_fit_80_columns_on_a_terminal(
    story_repo: Path, tmp_path: Path
) -> None:
    screen = in_pty(story_repo, "spawn", "3", "--task", "t", "--agent-cmd", _agent(tmp_path),
                    "--no-land")  # fmt: skip
    _assert_readable(last_table(screen), 80)
    assert "Usage: $0.7500, 3.0k tokens in, 600 out, 9 turns" in screen
    _assert_readable(last_table(in_pty(story_repo, "status")), 80)
    wide = last_table(in_pty(story_repo, "status", cols=120))
    _assert_readable(wide, 120)


def test_heartbeat_off_a_terminal_names_running_agents_and_their_latest_line(
    story_repo: Path, tmp_path: Path
) -> None:
    proc = gitfleet(
        story_repo, "spawn", "1", "--task", "t", "--agent-cmd", _agent(tmp_path, 2), "--no-land",
        env={"GITFLEET_HEARTBEAT": "0.3"},
    )  # fmt: skip
    beats = [line for line in proc.stdout.splitlines() if ": running " in line]
    assert beats, proc.stdout
    said = r"gitfleet: SP-152: running \d+s: writing articles/SP-152\.md"
    assert any(re.fullmatch(said, beat) for beat in beats), beats
    assert "gitfleet: SP-152: exited (exit 0, 1 commit; $0.2500, 1.0k tokens in" in proc.stdout


def test_usage_per_agent_and_total_in_json_status_and_report(
    story_repo: Path, tmp_path: Path
) -> None:
    report = json.loads(gitfleet(story_repo, "spawn", "2", "--task", "t", "--agent-cmd",
                                 _agent(tmp_path), "--no-land", "--json").stdout)  # fmt: skip
    one = {"cost_usd": 0.25, "input_tokens": 1000, "output_tokens": 200, "turns": 3,
           "duration_s": 1.5}  # fmt: skip
    assert [a["usage"] for a in report["agents"]] == [one, one]
    assert report["usage"] == {"cost_usd": 0.5, "input_tokens": 2000, "output_tokens": 400,
                               "turns": 6, "duration_s": 3.0}  # fmt: skip
    status = json.loads(gitfleet(story_repo, "status", "--json").stdout)
    assert status["usage"] == report["usage"]
    assert [a["usage"] for a in status["agents"]] == [one, one]
    text = gitfleet(story_repo, "report").stdout
    assert "Usage: $0.5000, 2.0k tokens in, 400 out, 6 turns, 3.0s of model time" in text
    assert "$0.2500" in text


def test_durations_stay_short() -> None:
    assert [duration(s) for s in (0.4, 59, 184, 3720)] == ["0s", "59s", "3m04s", "1h02m"]
