"""``gitfleet doctor``: what is set up, what is not, and the fix for each problem."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from gitfleet import config, install
from gitfleet.errors import ConfigError
from gitfleet.fleet.agents import PRESETS
from gitfleet.git import run
from gitfleet.git.remote import ROUTE_PREFIX, load_committed, target_branch
from gitfleet.git.repo import Repo
from gitfleet.queue import client

MIN_GIT = (2, 31)  # --path-format and the porcelain this package reads


@dataclass
class Finding:
    """One check: ``ok`` or not, what was seen, and the fix when it is not."""

    check: str
    ok: bool
    seen: str
    fix: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def diagnose(repo: Repo) -> list[Finding]:
    """Every check, in the order a person would fix them."""
    found = [_git_version(repo), _identity(repo), *_config(repo), _helper(), *_hooks(repo)]
    found += [_routing(repo), _daemon(repo), *_agents()]
    return found


def _git_version(repo: Repo) -> Finding:
    text = repo.git_out("version")
    numbers = tuple(int(n) for n in re.findall(r"\d+", text)[:2])
    ok = numbers >= MIN_GIT
    need = ".".join(map(str, MIN_GIT))
    return Finding("git version", ok, text, "" if ok else f"install git {need} or newer")


def _identity(repo: Repo) -> Finding:
    who = repo.git("var", "GIT_COMMITTER_IDENT", check=False)
    ok = who.returncode == 0
    seen = who.stdout.strip().rsplit(" ", 2)[0] if ok else "none"
    fix = (
        'git config --global user.name "Your Name"; git config --global user.email you@example.com'
    )
    return Finding("git identity (agents commit with it)", ok, seen, "" if ok else fix)


def _config(repo: Repo) -> list[Finding]:
    try:
        cfg = config.load(repo.toplevel)
    except ConfigError as exc:
        return [Finding("gitfleet.toml", False, str(exc).splitlines()[0], "fix the file it names")]
    if cfg.path is None:
        return [Finding("gitfleet.toml", False, "none", "gitfleet init --series PREFIX")]
    found = [Finding("gitfleet.toml", True, f"{len(cfg.series)} series, valid")]
    target = f"refs/remotes/{cfg.remote}/{target_branch(repo, cfg)}"
    try:
        committed = load_committed(repo.toplevel, target)
    except ConfigError:
        committed = config.Config(path=None)
    unchecked = sorted(
        s.prefix for s in cfg.series.values()
        if s.prefix not in {c.prefix for c in committed.series.values()}
    )  # fmt: skip
    found.append(
        Finding(
            "series the target can check",
            not unchecked,
            "all" if not unchecked else f"{', '.join(unchecked)} not committed on {target}",
            "" if not unchecked else "commit gitfleet.toml and push it to the target",
        )
    )
    return found


def _helper() -> Finding:
    where = shutil.which("git-remote-gitfleet")
    fix = f"put {Path(sys.executable).parent} on PATH for every shell that pushes"
    return Finding("git-remote-gitfleet on PATH", where is not None, where or "not found", fix)


def _hooks(repo: Repo) -> list[Finding]:
    folder = install.hooks_dir(repo)
    found = []
    for hook in install.HOOKS:
        shims = [p for p in (folder / hook, folder / f"{hook}.legacy") if p.exists()]
        ours = [p for p in shims if install.SHIM_MARK in p.read_text("utf-8", "replace")]
        python = _shim_python(ours[0]) if ours else None
        if not ours:
            found.append(Finding(f"{hook} hook", False, "not installed", "gitfleet init"))
        elif python and not os.access(python, os.X_OK):
            found.append(Finding(f"{hook} hook", False, f"its python {python} is gone",
                                 "reinstall gitfleet, then gitfleet init"))  # fmt: skip
        else:
            found.append(Finding(f"{hook} hook", True, str(ours[0])))
    return found


def _shim_python(path: Path) -> str | None:
    match = re.search(r"^GITFLEET_PYTHON='([^']*)'", path.read_text("utf-8", "replace"), re.M)
    return match.group(1) if match else None


def _routing(repo: Repo) -> Finding:
    try:
        cfg = config.load(repo.toplevel)
    except ConfigError:
        cfg = config.Config(path=None)  # reported above; the default remote is checked
    url = run(["config", "--get", f"remote.{cfg.remote}.pushurl"], repo.toplevel, check=False)
    routed = url.stdout.strip().startswith(ROUTE_PREFIX)
    seen = url.stdout.strip() or "not routed"
    fix = "" if routed else "gitfleet init (with git-remote-gitfleet on PATH)"
    return Finding(f"pushes to {cfg.remote} through the gate", routed, seen, fix)


def _daemon(repo: Repo) -> Finding:
    found = client.status(repo)
    seen = f"running (pid {found.get('pid')})" if found else "not running (starts on demand)"
    return Finding("queue daemon", True, seen)


def _agents() -> list[Finding]:
    """Which presets' CLIs are installed: information, not a problem (you need only yours)."""
    found = []
    for name, argv in sorted(PRESETS.items()):
        where = shutil.which(argv[0])
        seen = where or f"not installed (install {argv[0]} to use --agent {name})"
        found.append(Finding(f"agent CLI {name}", True, seen))
    return found
