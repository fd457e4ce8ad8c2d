"""The brief each agent is given: task, id, branch, rules and optional context pack.

It is rendered from ``templates/brief.md`` and written *outside* the worktree
(``<state dir>/runs/<run>/<agent>/brief.md``), so no ``git add -A`` by an agent can ever
commit it; ``GITFLEET_BRIEF`` points at it.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitfleet import locking
from gitfleet.config import Series

_FIELD_RE = re.compile(r"\{([a-z_]+)\}")


def template() -> str:
    return (importlib.resources.files("gitfleet.templates") / "brief.md").read_text(
        encoding="utf-8"
    )


def render(
    *,
    task: str,
    ident: str | None,
    branch: str,
    worktree: str,
    target: str,
    remote: str,
    guarded: Sequence[str],
    context: str | None = None,
    series: Series | None = None,
) -> str:
    """The brief's text. Only the template's own ``{fields}`` are filled, once: braces in the
    task or the context pack are kept verbatim."""
    values: Mapping[str, str] = {
        "task": task.strip(),
        "id_suffix": f": {ident}" if ident else "",
        "id_line": (
            f"- Your id is **{ident}**. It is already allocated to you and to no one else: use\n"
            "  exactly this id; never read or edit an id counter to get one.\n"
            + claim_line(series, ident)
            if ident
            else ""
        ),
        "worktree": worktree,
        "branch": branch,
        "target": target,
        "remote": remote,
        "guarded": "\n".join(f"  - `{g}`" for g in guarded) or "  - (none configured)",
        "context": f"\n## Context\n\n{context.strip()}\n" if context and context.strip() else "",
    }
    return _FIELD_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template())


def example_path(pattern: str, ident: str) -> str:
    """A path the glob ``pattern`` matches, named for ``ident``: ``articles/*.md`` gives
    ``articles/SP-152.md``."""
    prefix = ident.rsplit("-", 1)[0]
    path = pattern.replace(f"{prefix}-*", ident).replace("**/", "").replace("**", ident)
    path = path.replace("*", ident, 1).replace("*", "x").replace("?", "x")
    return path.lstrip("/")


def claim_line(series: Series | None, ident: str) -> str:
    """How to claim the id, with a concrete path built from the series' config."""
    if series is None or not series.paths:
        return ""
    globs = ", ".join(f"`{p}`" for p in series.paths)
    where = f"- Claim it with a file such as `{example_path(series.paths[0], ident)}`"
    if series.front_matter:
        return (f"{where} (any path matching {globs}),\n  whose front matter sets "
                f"`{series.front_matter}: {ident}`.\n")  # fmt: skip
    return f"{where} (any path matching {globs}, named for the id).\n"


def write(path: Path, text: str) -> None:
    locking.atomic_write(path, text)
