"""After spawn, each id's state follows what its agent's work claims, not whether the
agent's branch landed; the report counts claims of ids nobody allocated apart."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from conftest import gitfleet

# Modes: "own" claims its id, "none" commits a file that claims nothing, "other" claims an
# id it was not given.
AGENT = r"""
import os, subprocess, sys
ident, mode = os.environ["GITFLEET_ID"], sys.argv[1]
path, claimed = {"own": (f"articles/{ident}.md", ident), "other": ("articles/SP-999.md", "SP-999"),
                 "none": (f"notes/{ident}.txt", None)}[mode]
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as fh:
    fh.write(f"---\nticketId: {claimed}\n---\n\nText.\n" if claimed else "notes\n")
subprocess.run(["git", "add", path], check=True)
subprocess.run(["git", "commit", "-qm", f"work of {ident}"], check=True)
"""


def test_id_states_follow_claims(story_repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    tasks = tmp_path / "tasks"
    tasks.write_text("own\nnone\nother\n")
    cmd = shlex.join([sys.executable, str(script)]) + " {task}"
    proc = gitfleet(story_repo, "spawn", "3", "--tasks", str(tasks), "--agent-cmd", cmd,
                    "--json", check=False)  # fmt: skip
    report = json.loads(proc.stdout)
    outcomes = {a["id"]: a["outcome"] for a in report["agents"]}
    assert outcomes["SP-152"] == "landed" and outcomes["SP-153"] == "landed", outcomes
    listing = json.loads(gitfleet(story_repo, "ids", "list", "--json").stdout)
    states = {s["id"]: s["status"] for s in listing}
    assert states["SP-152"] == "landed"
    assert states["SP-153"] == "allocated", "its work claimed nothing: not landed"
    assert states["SP-154"] == "allocated", "it claimed SP-999, not its own id"
    assert report["ids_unallocated"] == ["SP-999"]
    text = gitfleet(story_repo, "report").stdout
    assert (
        "Ids: 3 allocated, 1 claimed by their agents (SP-152); claimed without an "
        "allocation: SP-999" in text
    )
