"""``gitfleet clean`` after agents that leave their CLI's own files behind, and the
worktree folder it leaves when nothing is in it any more."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import git, gitfleet

# Stands in for aider by name: writes its history file as aider does, commits an article.
FAKE_AIDER = f"""#!{sys.executable}
import os, subprocess
ident = os.environ["GITFLEET_ID"]
open(".aider.chat.history.md", "w").write("# aider chat\\n")
os.makedirs(".aider.tags.cache.v4", exist_ok=True)
os.makedirs("articles", exist_ok=True)
open(f"articles/{{ident}}.md", "w").write(f"---\\nticketId: {{ident}}\\n---\\n\\nText.\\n")
subprocess.run(["git", "add", f"articles/{{ident}}.md"], check=True)
subprocess.run(["git", "commit", "-qm", f"Add article {{ident}}"], check=True)
"""


def test_aider_scratch_files_do_not_keep_a_landed_worktree(
    story_repo: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aider").write_text(FAKE_AIDER)
    (bin_dir / "aider").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    report = json.loads(gitfleet(story_repo, "spawn", "2", "--agent", "aider", "--task", "t",
                                 "--json", env=env).stdout)  # fmt: skip
    assert [a["outcome"] for a in report["agents"]] == ["landed", "landed"]
    tree = Path(
        json.loads(gitfleet(story_repo, "status", "--json").stdout)["agents"][0]["worktree"]
    )
    assert (tree / ".aider.chat.history.md").exists()
    cleaned = json.loads(gitfleet(story_repo, "clean", "--json").stdout)
    assert cleaned["removed"] == ["fleet/SP-152", "fleet/SP-153"]
    assert not (story_repo.parent / "story.gitfleet").exists(), "no empty folder is left"


def test_other_untracked_files_still_keep_it(story_repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aider").write_text(FAKE_AIDER.replace(".aider.chat.history.md", "notes.md"))
    (bin_dir / "aider").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    gitfleet(story_repo, "spawn", "1", "--agent", "aider", "--task", "t", env=env)
    kept = gitfleet(story_repo, "clean", check=False)
    assert kept.returncode == 1 and "notes.md" in kept.stderr
    assert "1 uncommitted change(s): notes.md" in kept.stderr
    assert git(story_repo, "rev-parse", "--verify", "fleet/SP-152", check=False).returncode == 0
