"""The one exception family and the error boundary that maps it to exit codes.

Every expected failure raises a :class:`GitfleetError` whose message says what happened
and what to run next. The boundary (:func:`boundary`) prints it and exits 1 (refusal) or 2
(bad usage); Ctrl-C exits 130; anything else is a bug: exit 3, traceback in a log file.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import NoReturn

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class GitfleetError(Exception):
    """An expected failure; the message is for a person and names the next step."""

    exit_code = EXIT_REFUSED


class UsageError(GitfleetError):
    """The command line or the configuration asked for something that cannot work."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """``gitfleet.toml`` is missing a key, has a wrong type, or names something unknown."""


class NotARepoError(UsageError):
    """The folder is not a git work tree gitfleet can use."""


class MissingExtra(UsageError):
    """A feature needs an optional part of gitfleet that is not installed."""


def optional(module: str, feature: str, extra: str) -> ModuleType:
    """Import ``module``, which needs the ``extra`` dependencies, or say which install adds
    them (the core install leaves the context engine and Claude out)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "gitfleet":
            raise  # one of our own modules missing is a broken install, not an extra
        raise MissingExtra(
            f"{feature} needs gitfleet's {extra} extra ({exc.name} is not installed): "
            f"pip install 'gitfleet[{extra}]'"
        ) from None


class LedgerError(GitfleetError):
    """The ledger refused an operation or could not be read."""


class Refusal(GitfleetError):
    """A hook or gate refused a commit, a push or a landing."""


class GitError(GitfleetError):
    """A git command failed; carries everything needed to see why."""

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"command failed (exit {self.returncode}): {' '.join(self.argv)}"]
        if self.stdout.strip():
            parts.append("stdout:\n    " + self.stdout.strip().replace("\n", "\n    "))
        if self.stderr.strip():
            parts.append("stderr:\n    " + self.stderr.strip().replace("\n", "\n    "))
        return "\n".join(parts)


def crash_log_path() -> str:
    """``$GITFLEET_LOG_DIR``, else the user's state folder (``$XDG_STATE_HOME/gitfleet``):
    never a shared folder, where a predictable name could be a planted link."""
    base = os.environ.get("GITFLEET_LOG_DIR")
    if not base:
        state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        base = os.path.join(state, "gitfleet")
    return os.path.join(base, "crash.log")


def _write_crash_log(text: str) -> str | None:
    """Append ``text`` to the crash log (mode 0600, never through a link); its path, or None."""
    path = crash_log_path()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(text)
    except OSError:
        return None
    return path


def boundary(run: Callable[[], int | None]) -> NoReturn:
    """Run ``run`` and exit with the code its outcome maps to."""
    try:
        code = run() or 0
    except GitfleetError as exc:
        print(f"gitfleet: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("gitfleet: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (`gitfleet ids list | head`): not an error worth a trace.
        code = 0
    except Exception:  # the boundary: anything else is a bug in gitfleet
        trace = traceback.format_exc()
        path = _write_crash_log(trace)
        where = f"the traceback is in {path}" if path else f"the traceback:\n{trace}"
        print(
            f"gitfleet: internal error (a bug): {sys.exc_info()[1]!r}\n  {where}; please report it",
            file=sys.stderr,
        )
        code = EXIT_BUG
    sys.stdout.flush()
    sys.exit(code)


class sigterm_as_interrupt:
    """Within it, a SIGTERM stops the work as Ctrl-C does (its cleanup runs: agents and
    checks are stopped, scratch worktrees removed), instead of killing the process mid-way.

    ``timeout``, CI cancellation and ``kill`` send SIGTERM. Only the main thread can handle
    signals; elsewhere this does nothing.
    """

    def __enter__(self) -> None:
        self._previous: object = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)  # type: ignore[arg-type]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
