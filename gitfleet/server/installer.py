"""``gitfleet server install`` and ``uninstall``: the pre-receive shim in a repository that
receives pushes, chained with what was there, and put back exactly.

Where the shim goes:
- a ``pre-receive.d/`` folder beside the hook (Gitea's layout; GitLab's global hooks):
  a file of its own there, ``pre-receive.d/gitfleet``. The dispatcher finds its folder
  from its own name, so it must not be renamed.
- else ``hooks/pre-receive`` (honouring ``core.hooksPath``), the hook already there moved
  aside to ``pre-receive.gitfleet-orig``, which the shim runs after the guard with the same
  stdin: it still runs, and can still refuse.

What changed is recorded in ``<repo>/gitfleet-server/server.json``; uninstall reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from gitfleet.errors import UsageError
from gitfleet.locking import atomic_write
from gitfleet.server.bare import Bare

HOOK = "pre-receive"
SHIM_MARK = "gitfleet server hook shim"
CHAIN_SUFFIX = ".gitfleet-orig"


def shim_text() -> str:
    """The shim, bound to the python running this command."""
    text = (resources.files("gitfleet.hooks") / "pre-receive.sh").read_text("utf-8")
    return text.replace("@PYTHON@", sys.executable)


def hooks_dir(repo: Bare) -> Path:
    """Where git runs this repository's hooks from (honours core.hooksPath)."""
    path = Path(repo.git("rev-parse", "--git-path", "hooks").stdout.strip())
    return path if path.is_absolute() else repo.git_dir / path


def _record_path(repo: Bare) -> Path:
    return repo.state_dir / "server.json"


def _is_ours(path: Path) -> bool:
    try:
        return SHIM_MARK in path.read_text("utf-8", "replace")
    except OSError:
        return False


def _destination(repo: Bare, hook_path: Path | None) -> Path:
    if hook_path is not None:
        return hook_path if hook_path.is_absolute() else Path.cwd() / hook_path
    folder = hooks_dir(repo)
    dispatched = folder / f"{HOOK}.d"
    return dispatched / "gitfleet" if dispatched.is_dir() else folder / HOOK


def install(repo: Bare, hook_path: Path | None = None) -> dict[str, Any]:
    """Install the guard; safe to run again (it refreshes the shim and keeps the chain)."""
    dest = _destination(repo, hook_path)
    chained = dest.with_name(dest.name + CHAIN_SUFFIX)
    if dest.exists() and not _is_ours(dest):
        if chained.exists():
            raise UsageError(
                f"both {dest} and {chained} exist and neither is gitfleet's; merge them by "
                "hand, then run `gitfleet server install` again"
            )
        os.replace(dest, chained)  # a rename keeps its bytes, mode and owner exactly
    made_dir = None if dest.parent.is_dir() else str(dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, shim_text(), mode=0o755)
    previous = _read_record(repo) or {}
    record = {
        "hook": str(dest),
        "chained": str(chained) if chained.exists() else None,
        "made_dir": previous.get("made_dir") or made_dir,
        "python": sys.executable,
    }
    atomic_write(_record_path(repo), json.dumps(record, indent=2) + "\n")
    return record


def _read_record(repo: Bare) -> dict[str, Any] | None:
    try:
        record = json.loads(_record_path(repo).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{_record_path(repo)} is unreadable ({exc}); remove the shim by hand "
            f"(the file that says '{SHIM_MARK}') and that file"
        ) from None
    return record if isinstance(record, dict) else None


def uninstall(repo: Bare) -> dict[str, Any]:
    """Put back what install found: the chained hook, or nothing."""
    record = _read_record(repo)
    if record is None:
        return {"hook": None, "restored": None}
    dest = Path(record["hook"])
    chained = dest.with_name(dest.name + CHAIN_SUFFIX)
    restored = None
    if _is_ours(dest):
        if chained.exists():
            os.replace(chained, dest)
            restored = str(dest)
        else:
            dest.unlink()
    if record.get("made_dir"):
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            Path(record["made_dir"]).rmdir()
    _record_path(repo).unlink()
    return {"hook": str(dest), "restored": restored}
