"""Where the real agent CLIs are for the tests, and the settings that keep them offline.

``.ci/install-agents`` installs them into ``$GITFLEET_AGENT_CACHE`` (default
``~/.cache/gitfleet-agents``): the npm ones under ``npm/``, aider in ``aider-venv/``. A test
that needs one calls :func:`require`, which skips naming why only when the CLI could not be
installed (the installer leaves ``<name>.failed``); in CI a CLI that was simply never
installed is a failure, so a missing install step cannot pass as a skip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# Read now, at import: the hermetic fixture points HOME at a temp folder during each test.
CACHE = Path(
    os.environ.get("GITFLEET_AGENT_CACHE") or Path.home() / ".cache" / "gitfleet-agents"
).expanduser()
_PATH = os.environ.get("PATH", "")

NPM = {
    "claude": "@anthropic-ai/claude-code",
    "codex": "@openai/codex",
    "gemini": "@google/gemini-cli",
    "opencode": "opencode-ai",
}


def locate(name: str) -> Path | None:
    """The CLI ``name`` from the cache, else from the PATH the tests started with."""
    for path in (
        CACHE / "npm" / "node_modules" / ".bin" / name,
        CACHE / f"{name}-venv" / "bin" / name,
    ):
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name, path=_PATH)
    return Path(found) if found else None


def require(name: str) -> Path:
    """The CLI's path, or skip (it could not be installed) / fail (in CI, it never was)."""
    path = locate(name)
    if path is not None:
        return path
    failed = CACHE / f"{name}.failed"
    if failed.is_file():
        pytest.skip(f"{name} could not be installed: {failed.read_text().strip()}")
    what = f"{name} is neither in {CACHE} nor on PATH; run .ci/install-agents"
    if os.environ.get("CI"):
        pytest.fail(what + " (CI runs it before the tests)")
    pytest.skip(what)


def bin_dir(tmp_path: Path, *names: str) -> Path:
    """A folder holding only links to the named CLIs, to put first on PATH: the CLI, and
    nothing else from its venv (aider's ``python`` must not shadow the tests' own)."""
    folder = tmp_path / "agent-bin"
    folder.mkdir(exist_ok=True)
    for name in names:
        link = folder / name
        if not link.exists():
            link.symlink_to(require(name))
    return folder


def claude_env(url: str) -> dict[str, str]:
    """Claude Code against the scripted Messages API (DESIGN.md, "Agent CLIs"); HOME is
    already a temp folder (tests/conftest.py)."""
    return {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def aider_env(url: str) -> dict[str, str]:
    """Aider against the scripted chat-completions API (DESIGN.md, "Agent CLIs")."""
    return {
        "OPENAI_API_BASE": url + "/v1",
        "OPENAI_API_KEY": "sk-test",
        "AIDER_MODEL": "openai/gpt-4o",
        "AIDER_CHECK_UPDATE": "false",
        "AIDER_ANALYTICS_DISABLE": "true",
        "AIDER_SHOW_RELEASE_NOTES": "false",
    }


def gemini_env(url: str, home: Path) -> dict[str, str]:
    """Gemini CLI against the scripted generateContent API: an API key chosen as the way to
    authenticate in ``home``'s settings (the tests' HOME), and the base URL it honours."""
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(
        '{"security": {"auth": {"selectedType": "gemini-api-key"}}}'
    )
    return {"GEMINI_API_KEY": "test", "GOOGLE_GEMINI_BASE_URL": url}


def opencode_env(url: str, config_home: Path) -> dict[str, str]:
    """opencode against the scripted chat-completions API: an OpenAI-compatible provider
    in its config under ``config_home`` (the tests' XDG_CONFIG_HOME)."""
    folder = config_home / "opencode"
    folder.mkdir(parents=True, exist_ok=True)
    provider = {"npm": "@ai-sdk/openai-compatible", "name": "local",
                "options": {"baseURL": url + "/v1", "apiKey": "sk-test"},
                "models": {"scripted": {"name": "scripted"}}}  # fmt: skip
    config = {"provider": {"local": provider}, "model": "local/scripted"}
    (folder / "opencode.json").write_text(json.dumps(config))
    return {}


def codex_env(url: str, home: Path) -> dict[str, str]:
    """Codex against the scripted Responses API: a provider of its own in a config.toml
    under ``home`` (``CODEX_HOME``); the chat-completions wire is gone from codex."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        'model = "gpt-5"\nmodel_provider = "local"\ncheck_for_update_on_startup = false\n'
        f'[model_providers.local]\nname = "local"\nbase_url = "{url}/v1"\n'
        'wire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n'
    )
    return {"CODEX_HOME": str(home), "OPENAI_API_KEY": "sk-test"}
