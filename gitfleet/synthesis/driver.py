"""Rungs 2-3 as a git merge driver, so that a person's ``git merge`` / ``git rebase``
settles opted-in files the way landing does.

``gitfleet init`` registers it in the repository's config (``merge.gitfleet.driver =
gitfleet merge-driver %O %A %B %P``, plus ``gitfleet-json|yaml|toml`` forcing the format);
``.gitattributes`` opts files in (``sidebar.json merge=gitfleet``). Git reads those
attributes itself before it calls a driver, so the attributes rung is not run here.
"""

from pathlib import Path

from gitfleet.git import run
from gitfleet.synthesis.ladder import LINES, STRUCTURED, Ladder
from gitfleet.synthesis.sides import Sides

# attribute value (merge=NAME) -> the format it forces (None: by extension)
DRIVERS: dict[str, str | None] = {
    "gitfleet": None,
    "gitfleet-json": "json",
    "gitfleet-yaml": "yaml",
    "gitfleet-toml": "toml",
}


def driver_command(kind: str | None) -> str:
    """The ``merge.<name>.driver`` value git runs (through the shell, with %-placeholders)."""
    forced = f" --as {kind}" if kind else ""
    return f"gitfleet merge-driver{forced} %O %A %B %P"


def merge_files(
    base: Path, ours: Path, theirs: Path, path: str, kind: str | None = None
) -> list[str]:
    """Merge into ``ours`` in place, as git asks of a driver.

    Returns [] when the file is settled; else the reasons each rung declined, and ``ours``
    then holds git's usual conflict markers (``git merge-file``), as without the driver.
    """
    base_data = base.read_bytes()
    sides = Sides(path, base_data or None, ours.read_bytes(), theirs.read_bytes())
    outcome = Ladder([STRUCTURED, LINES]).settle(sides, f"gitfleet-{kind}" if kind else None)
    if isinstance(outcome, list):
        labels = ["-L", f"{path} (ours)", "-L", f"{path} (base)", "-L", f"{path} (theirs)"]
        run(["merge-file", *labels, str(ours), str(base), str(theirs)], ours.parent, check=False)
        return outcome
    ours.write_bytes(outcome[0])
    return []
