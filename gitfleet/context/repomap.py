"""The files of one git tree: which to index, their language, and the compact repository map.

Everything reads committed objects through pygit2 (house style: pygit2 for objects), so an
index belongs to one tree id and can be cached under it; uncommitted edits are not seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# Past this size a file is data, a bundle or generated code, not something to read.
MAX_INDEX_BYTES = 512 * 1024

LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
}

# Files that are text but never what a task is about.
_SKIP_NAMES = frozenset(
    {
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Cargo.lock",
        "go.sum",
        "uv.lock",
        "Pipfile.lock",
        "composer.lock",
    }
)
_SKIP_SUFFIXES = (
    ".min.js",
    ".min.css",
    ".map",
    ".svg",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".pdf",
    ".zip",
    ".gz",
    ".whl",
    ".so",
    ".dll",
    ".pyc",
    ".woff",
    ".woff2",
    ".ttf",
    ".lock",
)
_TEST_PATH = re.compile(
    r"(^|/)(tests?|__tests__|testing|spec|specs)/|(^|/)test_[^/]*$|_test\.[a-z]+$"
    r"|\.(test|spec)\.[a-z]+$|(^|/)conftest\.py$|_tests?\.py$"
)


@dataclass(frozen=True)
class TreeFile:
    """A file of the tree worth indexing."""

    path: str
    oid: str
    lang: str | None


_DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc", ".markdown")
_DOC_NAMES = frozenset({"readme", "changelog", "changes", "news", "history", "license", "authors"})


_DOC_FOLDER = re.compile(r"(^|/)(docs?|documentation|man)/")
_EXAMPLE_FOLDER = re.compile(r"(^|/)(examples?|demos?|samples?|benchmarks?|benches)/")
# Source beyond the languages symbols.py parses: still code, never "other".
_CODE_SUFFIXES = frozenset(
    [
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".java",
        ".kt",
        ".rb",
        ".php",
        ".cs",
        ".swift",
        ".scala",
        ".sh",
        ".bash",
        ".lua",
        ".ex",
        ".pyx",
    ]
)


def is_doc(path: str) -> bool:
    """Prose (README, docs, changelogs): it mentions everything, so it is rarely the answer."""
    name = path.rsplit("/", 1)[-1].lower()
    return (
        name.endswith(_DOC_SUFFIXES)
        or name.split(".", 1)[0] in _DOC_NAMES
        or _DOC_FOLDER.search(path.lower()) is not None
    )


def is_example(path: str) -> bool:
    """Examples, demos and benchmarks: they use the code a task is about, they rarely hold it."""
    return _EXAMPLE_FOLDER.search(path.lower()) is not None


def is_code(path: str) -> bool:
    """Source code, as opposed to configuration, data, styles and markup."""
    suffix = PurePosixPath(path).suffix.lower()
    return suffix in LANGUAGES or suffix in _CODE_SUFFIXES


def language(path: str) -> str | None:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower())


def is_test(path: str) -> bool:
    return _TEST_PATH.search(path.lower()) is not None


def wanted(path: str) -> bool:
    """Whether a blob at this path belongs in the index (its size is checked when read)."""
    name = path.rsplit("/", 1)[-1]
    return name not in _SKIP_NAMES and not name.lower().endswith(_SKIP_SUFFIXES)


def open_repo(path: str) -> Any:
    import pygit2

    return pygit2.Repository(path)


def resolve_tree(repo: Any, treeish: str) -> str:
    """The tree id of ``treeish`` (a commit, a ref or a tree)."""
    import pygit2

    obj = repo.revparse_single(treeish)
    return str(obj.peel(pygit2.Tree).id)


def resolve_commit(repo: Any, treeish: str) -> str | None:
    """The commit ``treeish`` names, or None for a bare tree (which has no history)."""
    import pygit2

    obj = repo.revparse_single(treeish)
    try:
        return str(obj.peel(pygit2.Commit).id)
    except (pygit2.InvalidSpecError, ValueError):
        return None


def list_tree(repo: Any, tree_id: str) -> list[TreeFile]:
    """The indexable blobs of a tree, in path order; submodules and symlinks are skipped."""
    import pygit2

    files: list[TreeFile] = []

    def walk(tree: Any, prefix: str) -> None:
        for entry in tree:
            if entry.filemode == pygit2.GIT_FILEMODE_TREE:
                walk(entry, prefix + entry.name + "/")
            elif entry.filemode in (pygit2.GIT_FILEMODE_BLOB, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE):
                # No entry.size here: it loads the blob, which doubles the cost of listing.
                path = prefix + entry.name
                if wanted(path):
                    files.append(TreeFile(path, str(entry.id), language(path)))

    walk(repo[tree_id], "")
    files.sort(key=lambda f: f.path)
    return files


def render_map(entries: Sequence[tuple[str, Sequence[str]]], max_chars: int) -> str:
    """A compact map: one line per file, its path then its top-level symbols."""
    lines: list[str] = []
    used = 0
    for path, names in entries:
        line = path + (": " + ", ".join(names[:12]) if names else "")
        if used + len(line) + 1 > max_chars:
            lines.append(f"... ({len(entries) - len(lines)} more files)")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
