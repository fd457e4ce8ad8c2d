"""The environment an agent runs in says where it is: PWD is its worktree (opencode, for
one, works wherever PWD points, whatever its real cwd)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from gitfleet import config
from gitfleet.fleet.display import PlainDisplay
from gitfleet.fleet.spawn import SpawnOptions, spawn
from gitfleet.git.repo import discover


def test_pwd_is_the_agents_worktree(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    probe = (
        "import json, os, sys; json.dump([os.getcwd(), os.environ['PWD']], open(sys.argv[1], 'w'))"
    )
    cmd = shlex.join([sys.executable, "-c", probe, str(out)])
    found = discover(repo)
    opts = SpawnOptions(count=1, task="t", agent_cmd=cmd, land=False)
    with open(os.devnull, "w") as sink:
        state = spawn(found, config.load(found.toplevel), opts, PlainDisplay(sink))
    cwd, pwd = json.loads(out.read_text())
    assert cwd == pwd == state.agents[0].worktree
