"""``gitfleet.toml``: read, validated, with errors that name the file, key and what is allowed.

The file sits at the repository root, is committed, and so is the same in every worktree.
Every section is optional; a repository without the file gets the defaults (no series).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from gitfleet.errors import ConfigError

CONFIG_NAME = "gitfleet.toml"
# The synthesis ladder's rungs, in their default order (``[land] resolve`` picks and orders).
RESOLVE_RUNGS = ("attributes", "structured", "lines", "claude", "agent")
# Branches spawn makes for its agents; their work may not change this file (the operator's).
FLEET_BRANCH_PREFIX = "fleet/"
_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
T = TypeVar("T")


class Series(NamedTuple):
    """One sequence of ids, e.g. prefix ``SP`` and width 3 give ``SP-152``."""

    name: str
    prefix: str
    width: int = 1
    paths: tuple[str, ...] = ()  # globs of files whose *name* holds the id they claim
    front_matter: str | None = None  # a front-matter key whose value is the claimed id

    def format(self, number: int) -> str:
        return f"{self.prefix}-{number:0{self.width}d}"

    @property
    def id_pattern(self) -> re.Pattern[str]:
        """Matches an id of this series as a whole word; group 1 is the number."""
        return id_regex(self.prefix)


class Agent(NamedTuple):
    """An agent preset: argv template and how it takes the prompt."""

    name: str
    argv: tuple[str, ...]


class Config(NamedTuple):
    path: Path | None
    target: str | None = None  # None: the remote's default branch, else "main"
    remote: str = "origin"
    series: Mapping[str, Series] = MappingProxyType({})
    guarded: tuple[str, ...] = ()
    push_rebase: bool = True
    land_check: str | None = None
    land_resolve: tuple[str, ...] = RESOLVE_RUNGS
    land_regenerate: Mapping[str, str] = MappingProxyType({})  # glob -> command rebuilding it
    ledger_backend: str = "local"
    lease_timeout: float = 600.0
    daemon_idle: float = 60.0
    worktree_root: str | None = None  # None: a sibling folder "<repo>.gitfleet"
    copy_files: tuple[str, ...] = ()
    setup: str | None = None
    ports: tuple[str, ...] = ()  # names of ports to allocate per agent, e.g. ("PORT",)
    max_agents: int = 64  # a spawn asking for more is refused (or confirmed on a terminal)
    agents: Mapping[str, Agent] = MappingProxyType({})

    def series_for(self, name: str) -> Series:
        for series in self.series.values():
            if name in (series.name, series.prefix):
                return series
        known = ", ".join(sorted(self.series)) or "none configured"
        raise ConfigError(
            f"unknown series {name!r} (known: {known}); add a [series.{name}] table to "
            f"{self.path or CONFIG_NAME} or run `gitfleet init --series {name}`"
        )

    def series_of_id(self, ident: str) -> tuple[Series, int]:
        """Split ``SP-152`` into its series and number, or raise a ConfigError."""
        prefix, sep, digits = ident.rpartition("-")
        if sep and digits.isdigit():
            for series in self.series.values():
                if series.prefix == prefix:
                    return series, int(digits)
        raise ConfigError(f"{ident!r} is not an id of a configured series (like SP-152)")

    def canonical_id(self, ident: str) -> str:
        """``SP-4`` as its series writes it (``SP-004``)."""
        series, number = self.series_of_id(ident)
        return series.format(number)


@lru_cache(maxsize=64)
def id_regex(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(prefix)}-(\d+)(?![0-9])")


class _Reader:
    """Typed access to one TOML table that reports the dotted key on every error."""

    def __init__(self, path: Path, table: Mapping[str, Any], where: str) -> None:
        self.path, self.table, self.where = path, table, where
        self.seen: set[str] = set()

    def _fail(self, key: str, allowed: str) -> ConfigError:
        name = f"{self.where}.{key}" if self.where else key
        got = self.table.get(key)
        return ConfigError(f"{self.path}: [{name}] is {got!r}; expected {allowed}")

    def get(self, key: str, kind: type[T], default: T, allowed: str) -> T:
        self.seen.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self._fail(key, allowed)
        return value

    def opt_str(self, key: str, allowed: str = "a string") -> str | None:
        self.seen.add(key)
        value = self.table.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, allowed)
        return value

    def strings(self, key: str, allowed: str = "a list of strings") -> tuple[str, ...]:
        self.seen.add(key)
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, allowed)
        return tuple(value)

    def sub(self, key: str) -> _Reader:
        self.seen.add(key)
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self._fail(key, "a table")
        return _Reader(self.path, value, f"{self.where}.{key}" if self.where else key)

    def done(self, known: str) -> None:
        extra = sorted(set(self.table) - self.seen)
        if extra:
            where = f"[{self.where}]" if self.where else "the top level"
            raise ConfigError(
                f"{self.path}: unknown key {extra[0]!r} in {where}; allowed keys: {known}"
            )


def _regenerate(path: Path, table: _Reader) -> dict[str, str]:
    """``[land.regenerate]``: glob = the shell command that rebuilds matching files."""
    commands = {}
    for glob in list(table.table):
        command = table.opt_str(glob, 'a shell command such as "npm install --package-lock-only"')
        if not command:
            raise ConfigError(f"{path}: [land.regenerate] {glob!r} needs a command")
        commands[glob] = command
    return commands


def _resolve_rungs(path: Path, land: _Reader) -> tuple[str, ...]:
    if "resolve" not in land.table:
        land.seen.add("resolve")
        return RESOLVE_RUNGS
    allowed = "a list of rungs from " + ", ".join(f'"{r}"' for r in RESOLVE_RUNGS)
    rungs = land.strings("resolve", allowed)
    unknown = [r for r in rungs if r not in RESOLVE_RUNGS]
    if unknown or len(set(rungs)) != len(rungs):
        raise ConfigError(
            f"{path}: [land.resolve] is {list(rungs)!r}; expected {allowed}, each once"
        )
    return rungs


def check_prefix(prefix: str, where: str) -> str:
    """``prefix`` when it can start an id (``SP`` in ``SP-152``), else a ConfigError."""
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(
            f"{where} is {prefix!r}; expected letters, digits or _, starting with a letter "
            "(ids look like PREFIX-123)"
        )
    return prefix


def repo_path(pattern: str, where: str) -> str:
    """A path or glob relative to the repository root: a leading ``/`` or ``./`` is the
    root itself; ``..`` would leave the repository and is refused (it could match nothing,
    which would switch a check off without a word)."""
    norm = pattern.strip()
    while norm.startswith(("./", "/")):
        norm = norm[2:] if norm.startswith("./") else norm[1:]
    if norm.endswith("/"):  # a folder, as git reads it: everything under it
        norm += "**"
    parts = norm.split("/")
    if not norm or ".." in parts or any(p == "." for p in parts):
        raise ConfigError(
            f"{where}: {pattern!r} is not a path inside the repository; write it relative "
            'to the repository root, such as "articles/*.md"'
        )
    return norm


def _series(path: Path, name: str, reader: _Reader) -> Series:
    prefix = reader.get("prefix", str, name, "a string of letters, digits or _")
    check_prefix(prefix, f"{path}: [series.{name}.prefix]")
    width = reader.get("width", int, 1, "an integer from 1 to 12")
    if not 1 <= width <= 12:
        raise ConfigError(f"{path}: [series.{name}.width] is {width}; expected 1 to 12")
    paths = tuple(
        repo_path(p, f"{path}: [series.{name}.paths]")
        for p in reader.strings("paths", 'a list of glob strings such as ["articles/*.md"]')
    )
    front = reader.opt_str("front_matter", 'a front-matter key such as "ticketId"')
    reader.done("prefix, width, paths, front_matter")
    if not paths:
        raise ConfigError(
            f"{path}: [series.{name}] needs `paths`: the globs of files that claim its ids, "
            'such as paths = ["articles/*.md"]'
        )
    return Series(name, prefix, width, paths, front)


def _toml(path: Path, text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def parse(path: Path, text: str) -> Config:
    """Validate the text of a config file; every error names file and key."""
    top = _Reader(path, _toml(path, text), "")
    fleet = top.sub("fleet")
    target = fleet.opt_str("target", 'a branch name such as "main"')
    remote = fleet.get("remote", str, "origin", 'a remote name such as "origin"')
    worktree_root = fleet.opt_str("worktrees", "a folder path")
    fleet.done("target, remote, worktrees")
    series = _all_series(path, top.sub("series"))
    guarded = top.sub("guarded")
    guarded_paths = tuple(
        repo_path(p, f"{path}: [guarded.paths]")
        for p in guarded.strings("paths", "a list of file paths or globs")
    )
    guarded.done("paths")
    push = top.sub("push")
    push_rebase = push.get("rebase", bool, True, "true or false")
    push.done("rebase")
    land = top.sub("land")
    land_check = land.opt_str("check", 'a shell command such as "make test"')
    land_resolve = _resolve_rungs(path, land)
    land_regenerate = _regenerate(path, land.sub("regenerate"))
    land.done("check, resolve, regenerate")
    backend = _ledger_backend(path, top.sub("ledger"))
    lease_timeout, idle = _daemon(path, top.sub("daemon"))
    spawn = top.sub("spawn")
    copy_files = spawn.strings("copy", 'a list of untracked files to copy, such as [".env"]')
    setup = spawn.opt_str("setup", "a shell command run in each new worktree")
    ports = spawn.strings("ports", 'a list of environment variable names, such as ["PORT"]')
    max_agents = spawn.get("max_agents", int, 64, "a whole number of agents, 1 or more")
    if max_agents < 1:
        raise ConfigError(f"{path}: [spawn.max_agents] is {max_agents}; expected 1 or more")
    spawn.done("copy, setup, ports, max_agents")
    agents = _agents(path, top.sub("agents"))
    top.done("fleet, series, guarded, push, land, ledger, daemon, spawn, agents")
    return Config(
        path=path,
        target=target,
        remote=remote,
        series=series,
        guarded=guarded_paths,
        push_rebase=push_rebase,
        land_check=land_check,
        land_resolve=land_resolve,
        land_regenerate=MappingProxyType(land_regenerate),
        ledger_backend=backend,
        lease_timeout=lease_timeout,
        daemon_idle=idle,
        worktree_root=worktree_root,
        copy_files=copy_files,
        setup=setup,
        ports=ports,
        max_agents=max_agents,
        agents=agents,
    )


def _all_series(path: Path, table: _Reader) -> dict[str, Series]:
    series = {name: _series(path, name, table.sub(name)) for name in list(table.table)}
    prefixes = [s.prefix for s in series.values()]
    if len(set(prefixes)) != len(prefixes):
        raise ConfigError(f"{path}: two [series.*] tables share a prefix: {sorted(prefixes)}")
    return series


def _ledger_backend(path: Path, ledger: _Reader) -> str:
    backend = ledger.get("backend", str, "local", '"local" or "remote"')
    if backend not in ("local", "remote"):
        raise ConfigError(f'{path}: [ledger.backend] is {backend!r}; expected "local" or "remote"')
    ledger.done("backend")
    return backend


def _daemon(path: Path, daemon: _Reader) -> tuple[float, float]:
    lease_timeout = daemon.get("lease_timeout", float, 600.0, "seconds, a number")
    idle = daemon.get("idle_exit", float, 60.0, "seconds, a number")
    daemon.done("lease_timeout, idle_exit")
    if lease_timeout <= 0 or idle <= 0:
        raise ConfigError(f"{path}: [daemon] timeouts must be positive numbers of seconds")
    return lease_timeout, idle


def _agents(path: Path, table: _Reader) -> dict[str, Agent]:
    agents: dict[str, Agent] = {}
    for name in list(table.table):
        reader = table.sub(name)
        if isinstance(reader.table.get("argv"), str):
            # One string would run as one program name, spaces and all: say so now, not
            # when every agent of a run fails to start.
            raise ConfigError(
                f"{path}: [agents.{name}] argv is one string; write it as a list of words, "
                'such as argv = ["my-agent", "--prompt", "{prompt}"]'
            )
        argv = reader.strings(
            "argv", 'a list of strings such as ["my-agent", "--prompt", "{prompt}"]'
        )
        reader.done("argv")
        if not argv:
            raise ConfigError(f"{path}: [agents.{name}.argv] must not be empty")
        agents[name] = Agent(name, argv)
    return agents


def changed_keys(before: str, after: str) -> list[str]:
    """The dotted keys whose values differ between two config texts (a text that does not
    parse counts as empty)."""

    def flat(text: str) -> dict[str, Any]:
        try:
            data = _toml(Path(CONFIG_NAME), text)
        except ConfigError:
            return {}
        out: dict[str, Any] = {}
        stack: list[tuple[str, Any]] = [("", data)]
        while stack:
            prefix, value = stack.pop()
            if isinstance(value, dict) and value:
                stack += [(f"{prefix}.{k}" if prefix else k, v) for k, v in value.items()]
            else:
                out[prefix] = value
        return out

    one, two = flat(before), flat(after)
    return sorted(k for k in one.keys() | two.keys() if one.get(k) != two.get(k))


def with_additions(rules: Config, other: Config) -> Config:
    """``rules`` plus the series and guards ``other`` adds: adding rules never relaxes them.

    A push is judged by the target's committed rules; a series or guard the push itself
    introduces must bind that push too, or its claims would go unchecked.
    """
    series = dict(rules.series)
    by_prefix = {s.prefix: name for name, s in series.items()}
    for name, added in other.series.items():
        have = by_prefix.get(added.prefix, name if name in series else None)
        if have is None:
            series[name] = added
        else:  # the same series: its files claim ids wherever either config says
            old = series[have]
            paths = tuple(dict.fromkeys((*old.paths, *added.paths)))
            series[have] = old._replace(
                paths=paths, front_matter=old.front_matter or added.front_matter
            )
    guarded = tuple(dict.fromkeys((*rules.guarded, *other.guarded)))
    return rules._replace(series=MappingProxyType(series), guarded=guarded)


def load(root: Path) -> Config:
    """Read ``root/gitfleet.toml``, or the defaults when the file does not exist."""
    path = root / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=None)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(path, text)
