"""Which branch the fleet lands on, and where its remote really is."""

from __future__ import annotations

from gitfleet.config import Config
from gitfleet.errors import ConfigError
from gitfleet.git import Repo


def target_branch(repo: Repo, cfg: Config) -> str:
    """``[fleet] target``, else the remote's default branch as last fetched, else ``main``."""
    if cfg.target:
        return cfg.target
    proc = repo.git("symbolic-ref", "-q", "--short", f"refs/remotes/{cfg.remote}/HEAD", check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip().split("/", 1)[1]
    return "main"


def remote_url(repo: Repo, cfg: Config) -> str:
    """The real (fetch) URL of the configured remote; pushes routed through gitfleet keep it."""
    proc = repo.git("config", "--get", f"remote.{cfg.remote}.url", check=False)
    url = proc.stdout.strip()
    if proc.returncode != 0 or not url:
        raise ConfigError(
            f"remote {cfg.remote!r} is not configured in {repo.toplevel}; add it with "
            f"`git remote add {cfg.remote} <url>` or set [fleet] remote in gitfleet.toml"
        )
    return url


def seed_treeishes(repo: Repo, cfg: Config) -> list[str]:
    """The trees whose ids a new series must start above: the target (local and remote) and HEAD."""
    branch = target_branch(repo, cfg)
    candidates = ["HEAD", f"refs/heads/{branch}", f"refs/remotes/{cfg.remote}/{branch}"]
    found = []
    for name in candidates:
        if (
            repo.git("rev-parse", "-q", "--verify", f"{name}^{{commit}}", check=False).returncode
            == 0
        ):
            found.append(name)
    return found
