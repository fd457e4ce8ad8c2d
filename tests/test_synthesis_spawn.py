"""The nine-agent shared-files story through ``gitfleet spawn``: scripted agents, each in
its own worktree, write an article and add it to the four shared files, commit, and exit;
spawn's lander lands all nine through the synthesis ladder."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from conftest import git, gitfleet
from synthesis_fixtures import SHARED, assert_all_present, seed_files

AGENT = r"""
import json, os, subprocess
ident = os.environ["GITFLEET_ID"]
os.makedirs("articles", exist_ok=True)
with open(f"articles/{ident}.md", "w") as fh:
    fh.write(f"---\nticketId: {ident}\ntitle: Article {ident}\n---\n\nBody.\n")
with open("articles/index.md", "a") as fh:
    fh.write(f"- [{ident}]({ident}.md)\n")
sidebar = json.load(open("sidebar.json"))
sidebar["items"].append({"id": ident, "path": f"articles/{ident}.md"})
open("sidebar.json", "w").write(json.dumps(sidebar, indent=2) + "\n")
nav = open("mkdocs.yml").read()
open("mkdocs.yml", "w").write(nav.replace("theme:", f"      - articles/{ident}.md\ntheme:"))
with open("data/articles.toml", "a") as fh:
    fh.write(f'\n[[articles]]\nid = "{ident}"\ntitle = "Article {ident}"\n')
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-q", "-m", f"Add article {ident}"], check=True)
"""


def test_nine_spawned_agents_editing_the_shared_files_all_land(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    seed = seed_files()
    for rel in SHARED:
        (story_repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (story_repo / rel).write_text(seed[rel])
    gitfleet(story_repo, "init", "--series", "SP")
    git(story_repo, "add", "-A")
    git(story_repo, "commit", "-q", "-m", "shared files; gitfleet init")
    git(story_repo, "push", "-q", "origin", "main")
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    proc = gitfleet(
        story_repo, "spawn", "9", "--series", "SP", "--task", "Write article {id}",
        "--agent-cmd", shlex.join([sys.executable, str(script)]), "--json",
        check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 9, proc.stdout
    idents = [f"SP-{n}" for n in range(152, 161)]
    assert_all_present(remote, "main", idents)
    rungs = [{r["path"]: r["rung"] for r in a["resolved"]} for a in report["agents"]]
    assert sum(bool(r) for r in rungs) == 8, "every agent after the first needed the ladder"
    assert all(r["sidebar.json"] == "structured" for r in rungs if r)
    shown = gitfleet(story_repo, "report").stdout
    assert "resolved articles/index.md (lines)" in shown
