"""Talking to the real remote for the helper: list its refs, push to it with ``git``.

Both go through the ``git`` binary with the real URL, so credential helpers, SSH config
and ``insteadOf`` rewrites apply as for any push. Both run in the environment git gave the
helper (``GIT_DIR`` names the repository, or linked worktree, that is pushing).
"""

from __future__ import annotations

from typing import NamedTuple

from gitfleet.errors import GitError
from gitfleet.git import run


class Listing:
    def __init__(self) -> None:
        self.refs: dict[str, str] = {}  # ref -> oid
        self.symrefs: dict[str, str] = {}  # e.g. HEAD -> refs/heads/main


def ls_remote(url: str, refs: list[str] | None = None) -> Listing:
    """The remote's refs now (only ``refs`` when given), or a GitError naming the URL."""
    args = ["ls-remote", "--symref", url]
    if refs:
        args += ["--", *refs]
    proc = run(args, check=False)
    if proc.returncode not in (0, 2):  # 2: --exit-code style "no matching refs"
        raise GitError(["git", *args], proc.returncode, proc.stdout, proc.stderr)
    found = Listing()
    for line in proc.stdout.splitlines():
        value, _, name = line.partition("\t")
        if value.startswith("ref: "):
            found.symrefs[name] = value[len("ref: ") :]
        elif name and not name.endswith("^{}"):
            found.refs[name] = value
    if refs:  # ls-remote matches patterns by suffix: keep exact names only
        found.refs = {k: v for k, v in found.refs.items() if k in refs}
    return found


class Spec(NamedTuple):
    """One ``push`` line from git: ``[+]src:dst``; ``src`` empty for a deletion."""

    src: str
    dst: str
    force: bool

    @staticmethod
    def parse(line: str) -> Spec:
        text = line[len("push ") :]
        force = text.startswith("+")
        src, _, dst = text.lstrip("+").rpartition(":")
        return Spec(src, dst, force)


class Options:
    """What ``git push`` told the helper with ``option`` lines."""

    def __init__(self) -> None:
        self.verbosity = 1
        self.progress = False
        self.dry_run = False
        self.atomic = False
        self.force = False
        self.push_options: list[str] = []
        self.cas: dict[str, str] = {}  # ref -> expected oid ("" = absent)

    def set(self, name: str, value: str) -> bool:
        """Apply ``option NAME VALUE``; False when unsupported."""
        if name == "verbosity":
            self.verbosity = int(value)
        elif name == "progress":
            self.progress = value == "true"
        elif name == "dry-run":
            self.dry_run = value == "true"
        elif name == "atomic":
            self.atomic = value == "true"
        elif name == "force":
            self.force = value == "true"
        elif name == "push-option":
            self.push_options.append(_unquote(value))
        elif name == "cas":
            ref, _, expected = _unquote(value).partition(":")
            self.cas[ref] = expected
        else:
            return False
        return True


def _unquote(value: str) -> str:
    # git c-quotes option values that need it (transport-helper.c: quote_c_style).
    if len(value) >= 2 and value[0] == value[-1] == '"':
        import ast

        try:
            return str(ast.literal_eval(value))
        except (ValueError, SyntaxError):
            return value[1:-1]
    return value


def push(
    url: str, updates: list[tuple[str, str, str | None]], options: Options
) -> dict[str, str | None]:
    """Push ``(src oid or "", dst, expected old oid or None=absent)`` updates in one
    ``git push``, each a compare-and-swap on its expected value. Per dst: None when it
    landed, else git's reason."""
    args = ["push", "--porcelain", "--no-verify"]  # the outer push already ran pre-push
    # Never --quiet: it silences --porcelain's per-ref lines too, and a `git push -q` that
    # landed was then reported as refused. The output is captured, so nothing is noisier.
    if options.verbosity > 1:
        args.append("--verbose")
    if options.dry_run:
        args.append("--dry-run")
    if options.atomic:
        args.append("--atomic")
    args += [f"--push-option={opt}" for opt in options.push_options]
    args += [f"--force-with-lease={dst}:{old or ''}" for _, dst, old in updates]
    args.append(url)
    args += [f"{src}:{dst}" for src, dst, _ in updates]
    proc = run(args, check=False)
    results: dict[str, str | None] = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or ":" not in parts[1]:
            continue
        dst = parts[1].rpartition(":")[2]
        results[dst] = _reason(parts[2]) if parts[0] == "!" else None
    for _, dst, _ in updates:
        if dst not in results:
            why = (proc.stderr.strip().splitlines() or [f"git push exited {proc.returncode}"])[-1]
            results[dst] = why
    return results


def _reason(summary: str) -> str:
    # "[rejected] (stale info)" -> "stale info"; git maps these words back to its statuses.
    if "(" in summary and summary.endswith(")"):
        return summary[summary.index("(") + 1 : -1]
    return summary
