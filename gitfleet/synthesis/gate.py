"""The landing gate: what must hold of every landing, resolved or clean, before it is pushed.

Two ``case 3:`` arms from two branches merge without a textual conflict, and a resolver can
be wrong, so the result is judged on its own. Nothing lands when, in a file the landing
changes:

- a conflict marker appears at a line start that the target did not already have;
- a JSON/YAML/TOML file, or source in the five tree-sitter languages, no longer parses
  where both sides did (a duplicate key is a parse failure);
- the merge made a definition, or a case/match-arm label, occur more often at one level
  than either side had it;
- a line that either side added is missing, unless the other side deleted it.

``base`` is the common ancestor, ``ours`` the target before, ``theirs`` the branch,
``result`` what would land. A missing version is passed as None.
"""

import re
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple

from gitfleet.git import no_git_env, run, split_z
from gitfleet.git.blobs import batch_blobs
from gitfleet.synthesis import structured, syntax
from gitfleet.synthesis.sides import MAX_BYTES, is_binary

_MARKER = re.compile(rb"^(<<<<<<< |>>>>>>> |<<<<<<<$|>>>>>>>$|=======$)")


class Finding(NamedTuple):
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def check_file(
    path: str,
    base: bytes | None,
    ours: bytes | None,
    theirs: bytes | None,
    result: bytes | None,
    *,
    lines: bool = True,
) -> list[Finding]:
    """What is wrong with ``result`` as the merge of ``ours`` and ``theirs``.

    ``lines``: check that no added line was lost (off for a regenerated file).
    """
    if result is None or is_binary(result):
        return []
    problems = []
    if markers(result) > markers(ours or b""):
        problems.append("conflict markers were added")
    sides = [s for s in (ours, theirs) if s is not None]
    # A result equal to one side can neither stop parsing where that side parsed nor hold
    # more duplicates than it: only a true merge needs the parsers (and their time).
    if len(result) <= MAX_BYTES and result not in sides:
        problems.extend(_parse_problems(path, sides, result))
    if lines:
        problems.extend(_lost_lines(base or b"", ours or b"", theirs or b"", result))
    return [Finding(path, p) for p in problems]


def markers(data: bytes) -> int:
    """Conflict-marker lines: ``<<<<<<<``/``>>>>>>>`` at line start, ``=======`` between."""
    count, opened = 0, False
    for line in data.splitlines():
        found = _MARKER.match(line)
        if found is None:
            continue
        if line.startswith(b"<"):
            opened = True
        elif line.startswith(b">"):
            opened = False
        elif not opened:
            continue  # a lone ======= is a markdown heading underline, not a marker
        count += 1
    return count


def _parse_problems(path: str, sides: list[bytes], result: bytes) -> list[str]:
    kind = structured.kind_of(path)
    if kind is not None:
        error = _structured_error(kind, result)
        if error and all(_structured_error(kind, s) is None for s in sides):
            return [f"no longer parses as {kind.upper()}: {error}"]
        return []
    lang = syntax.language_of(path)
    if lang is None:
        return []
    if not syntax.parses(result, lang):
        return [f"no longer parses as {lang}"] if all(syntax.parses(s, lang) for s in sides) else []
    found = []
    for what, count in (("definition", syntax.definitions), ("case label", syntax.case_labels)):
        for key in syntax.new_duplicates(count, result, sides, lang):
            found.append(f"duplicate {what} {key}")
    return found


def _structured_error(kind: str, data: bytes) -> str | None:
    try:
        structured.load(kind, data.decode("utf-8"))
    except (structured.Unparseable, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def _norm(line: bytes) -> bytes:
    """A line as compared for loss: a merge may move a trailing comma or re-indent."""
    return line.strip().rstrip(b",").strip()


def _counts(data: bytes) -> Counter[bytes]:
    return Counter(n for n in map(_norm, data.splitlines()) if n)


def _lost_lines(base: bytes, ours: bytes, theirs: bytes, result: bytes) -> list[str]:
    b, o, t, r = (_counts(x) for x in (base, ours, theirs, result))
    lost = []
    for line in (o - b) + (t - b):
        # what each side keeps of this line, less what the other side deleted of it
        need = max(o[line] - max(0, b[line] - t[line]), t[line] - max(0, b[line] - o[line]))
        if r[line] < need:
            lost.append(line)
    if not lost:
        return []
    shown = lost[0].decode("utf-8", "replace")[:80]
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    return [f"a line one side added is missing: {shown!r}{more}"]


# --- over commits ----------------------------------------------------------------------

# git's empty tree: what a landing onto a new branch is compared with
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def check_landing(
    repo_path: Path, old: str | None, head: str, new: str, rebuilt: Collection[str] = ()
) -> list[Finding]:
    """The gate for landing ``head`` on a target at ``old`` as ``new``, file by file.

    ``rebuilt``: generated files their own command rewrote; their lines are its to choose.
    Read with git itself (one diff, one ``cat-file --batch``): the push helper runs this on
    every landing and does not load pygit2.
    """
    ours = old or EMPTY_TREE
    base: str | None = ours
    if old is not None:
        found = run(["merge-base", old, head], repo_path, env=no_git_env(), check=False)
        base = found.stdout.strip() or None
    listed = run(["diff", "--name-only", "--no-renames", "-z", ours, new], repo_path)
    # cat-file --batch reads one request per line: a path holding a newline cannot be asked
    paths = [p for p in split_z(listed.stdout) if "\n" not in p]
    if not paths:
        return []
    revs = [base, ours, head, new]
    asked = [f"{rev}:{path}" for path in paths for rev in revs if rev is not None]
    raw = run(["cat-file", "--batch"], repo_path, input="".join(f"{q}\n" for q in asked))
    blobs = batch_blobs(raw.stdout.encode("utf-8", "surrogateescape"), asked)
    findings: list[Finding] = []
    for path in paths:
        versions = [blobs.get(f"{rev}:{path}") if rev is not None else None for rev in revs]
        findings.extend(check_file(path, *versions, lines=path not in rebuilt))
    return findings
