"""The error boundary: exit codes, and a crash log only its owner can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

BUG = "from gitfleet.errors import boundary; boundary(lambda: 1 // 0)"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BUG], env=env, capture_output=True, text=True)


def test_a_bug_goes_to_a_private_crash_log_never_through_a_link(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "gitfleet").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    log = state / "gitfleet" / "crash.log"
    log.symlink_to(victim)
    env = {k: v for k, v in os.environ.items() if k != "GITFLEET_LOG_DIR"}
    env["XDG_STATE_HOME"] = str(state)
    planted = _run(env)
    assert planted.returncode == 3
    assert "ZeroDivisionError" in planted.stderr  # shown, since the log could not be opened
    assert victim.read_text() == "keep\n"
    log.unlink()
    clean = _run(env)
    assert clean.returncode == 3 and f"the traceback is in {log}" in clean.stderr
    assert "ZeroDivisionError" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


BLOCKED = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numpy", "bm25s", "anthropic"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from gitfleet.entry import main
main(sys.argv[1:])
"""


def test_a_missing_extra_names_the_install_that_adds_it(repo: Path) -> None:
    """The core install leaves the context engine out; asking for it says how to add it."""
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED, "context", "--offline", "add a feature"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "gitfleet context needs gitfleet's context extra" in proc.stderr
    assert "pip install 'gitfleet[context]'" in proc.stderr
    ids = subprocess.run(
        [sys.executable, "-c", BLOCKED, "ids", "list"], cwd=repo, capture_output=True, text=True
    )
    assert ids.returncode == 0, ids.stderr  # the core works without it
