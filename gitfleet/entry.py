"""Console-script entry points. Hook verbs take a fast path that skips click entirely:
they run on every commit and push, and importing click alone costs more than python's start.
"""

from __future__ import annotations

import sys

from gitfleet.errors import boundary

_COMMIT_HOOKS = (["hook", "pre-commit"], ["hook", "pre-merge-commit"])


def _dispatch(args: list[str]) -> int | None:
    if args[:2] in _COMMIT_HOOKS:
        from gitfleet import idcheck

        return idcheck.pre_commit_main(args[2:])
    if args[:2] == ["hook", "pre-push"]:
        from gitfleet.gate import prepush

        return prepush.main(args[2:], sys.stdin)
    if args[:2] == ["ids", "allocate"]:
        wanted = _allocate_args(args[2:])
        if wanted is not None:
            return _allocate(*wanted)
    from gitfleet.cli import run

    return run(args)


def _allocate_args(args: list[str]) -> tuple[str, int, str | None, bool] | None:
    """``ids allocate``'s arguments when they are the plain forms, else None (click decides).

    Agents call it once per id, as a process each; click's import alone costs more than the
    allocation. Only what is certainly valid is taken here; anything else (help, a bad or
    out-of-range count, an unknown option) goes to the click command for its usual handling.
    """
    series, count, owner, as_json = None, 1, None, False
    rest = list(args)
    while rest:
        word = rest.pop(0)
        name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in ("-n", "--count", "--owner"):
            if not eq:
                if not rest:
                    return None
                inline = rest.pop(0)
            if name == "--owner":
                owner = inline
            elif inline.isascii() and inline.isdigit() and 1 <= int(inline) <= 100000:
                count = int(inline)
            else:
                return None
        elif word == "--json":
            as_json = True
        elif word.startswith("-") or series is not None:
            return None
        else:
            series = word
    return None if series is None or owner == "" else (series, count, owner, as_json)


def _allocate(series: str, count: int, owner: str | None, as_json: bool) -> int:
    from gitfleet import ids

    repo, cfg = ids.here()
    got = ids.allocate(repo, cfg, series, count, owner)
    sys.stdout.write(ids.allocation_text(repo, series, owner, got, as_json) + "\n")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    boundary(lambda: _dispatch(args))


def _remote_helper() -> int:
    from gitfleet.gate import remote_helper

    return remote_helper.main(sys.argv[1:], sys.stdin, sys.stdout)


def remote_helper_main() -> None:
    """``git-remote-gitfleet``: git runs it for push URLs of the form ``gitfleet::<url>``."""
    boundary(_remote_helper)
