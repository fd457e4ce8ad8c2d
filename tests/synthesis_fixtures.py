"""The nine-agent shared-files story: every agent writes its article and also adds it to
the four files a docs project keeps in common (an index, a sidebar, the site nav, a data
table). Used by the synthesis tests and ``benchmarks/synthesis.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import tomllib
from ruamel.yaml import YAML

SHARED = ("articles/index.md", "sidebar.json", "mkdocs.yml", "data/articles.toml")
OLD = ("SP-001", "SP-002")


def _git(cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout.strip()


def seed_files() -> dict[str, str]:
    """The shared files with the two articles already published."""
    sidebar = {"title": "Articles", "items": [{"id": i, "path": f"articles/{i}.md"} for i in OLD]}
    return {
        "articles/SP-001.md": "# SP-001\n\nFirst.\n",
        "articles/SP-002.md": "# SP-002\n\nSecond.\n",
        "articles/index.md": "# Articles\n\n" + "".join(f"- [{i}]({i}.md)\n" for i in OLD),
        "sidebar.json": json.dumps(sidebar, indent=2) + "\n",
        "mkdocs.yml": "site_name: Shared Pages  # the docs site\nnav:\n  - Home: index.md\n"
        "  - Articles:\n"
        + "".join(f"      - articles/{i}.md\n" for i in OLD)
        + "theme:\n  name: material\n",
        "data/articles.toml": "# One table per article.\n"
        + "".join(f'\n[[articles]]\nid = "{i}"\ntitle = "Article {i}"\n' for i in OLD),
    }


def agent_files(seed: dict[str, str], ident: str, shared: bool = True) -> dict[str, str]:
    """What the agent writing ``ident`` changes: its article and, if ``shared``, the rest."""
    files = {f"articles/{ident}.md": f"# {ident}\n\nWritten by its agent.\n"}
    if not shared:
        return files
    sidebar = json.loads(seed["sidebar.json"])
    sidebar["items"].append({"id": ident, "path": f"articles/{ident}.md"})
    nav = seed["mkdocs.yml"].replace("theme:", f"      - articles/{ident}.md\ntheme:")
    files.update(
        {
            "articles/index.md": seed["articles/index.md"] + f"- [{ident}]({ident}.md)\n",
            "sidebar.json": json.dumps(sidebar, indent=2) + "\n",
            "mkdocs.yml": nav,
            "data/articles.toml": seed["data/articles.toml"]
            + f'\n[[articles]]\nid = "{ident}"\ntitle = "Article {ident}"\n',
        }
    )
    return files


def commit_files(repo: Path, branch: str, files: dict[str, str], base: str = "HEAD") -> str:
    """``branch`` at one new commit on ``base`` holding ``files``, without a checkout."""
    tip = _git(repo, "rev-parse", base)
    index = repo / ".git" / f"tmp-index-{branch.replace('/', '-')}"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    _git(repo, "read-tree", tip, env=env)
    for rel, text in files.items():
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text)
        _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
    tree = _git(repo, "write-tree", env=env)
    index.unlink()
    commit = _git(repo, "commit-tree", tree, "-p", tip, "-m", f"{branch}: write it up")
    _git(repo, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def seed_remote(root: Path) -> tuple[Path, Path]:
    """A bare remote holding the seed, and a clone of it to land from."""
    remote, work = root / "origin.git", root / "work"
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    _git(root, "clone", "-q", str(remote), str(work))
    for rel, text in seed_files().items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "two articles")
    _git(work, "push", "-q", "origin", "main")
    return remote, work


def agent_ids(count: int) -> list[str]:
    return [f"SP-{100 + n}" for n in range(1, count + 1)]


def shared_state(repo: Path, rev: str) -> dict[str, object]:
    """The shared files at ``rev``, parsed (each parse rejects duplicate keys)."""
    text = {rel: _git(repo, "show", f"{rev}:{rel}") + "\n" for rel in SHARED}
    return {
        "index": [line for line in text["articles/index.md"].splitlines() if line.startswith("- ")],
        "sidebar": [item["id"] for item in json.loads(text["sidebar.json"])["items"]],
        "nav": YAML(typ="safe", pure=True).load(text["mkdocs.yml"])["nav"][1]["Articles"],
        "toml": [t["id"] for t in tomllib.loads(text["data/articles.toml"])["articles"]],
    }


def assert_all_present(repo: Path, rev: str, idents: list[str]) -> None:
    """Every shared file parses, holds the old entries and each new one exactly once."""
    state = shared_state(repo, rev)
    for ident in [*OLD, *idents]:
        assert state["index"].count(f"- [{ident}]({ident}.md)") == 1, (ident, state)  # type: ignore[attr-defined]
        assert state["sidebar"].count(ident) == 1, (ident, state)  # type: ignore[attr-defined]
        assert state["nav"].count(f"articles/{ident}.md") == 1, (ident, state)  # type: ignore[attr-defined]
        assert state["toml"].count(ident) == 1, (ident, state)  # type: ignore[attr-defined]
    assert state["sidebar"][:2] == list(OLD) and state["toml"][:2] == list(OLD)  # type: ignore[index]
