"""Each preset's argv against the installed CLI's own ``--help``: every flag the preset passes
exists, every value it picks is one of the CLI's choices, and the prompt has a place.

Every preset's CLI is also run for real, offline, in test_real_agents.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from agent_clis import require

from gitfleet.fleet import agents

# Per preset: what its help must show for the prompt to be taken in the preset's position,
# and the values it chooses (each must be one of the CLI's documented choices).
PROMPT_SLOT = {
    "claude": r"-p, --print",
    "codex": r"\[PROMPT\]",
    "aider": r"--message COMMAND",
    "gemini": r"-p, --prompt",
    "opencode": r"message\s+message to send",
}
CHOICES = {
    "claude": ["acceptEdits", "stream-json"],
    "codex": ["workspace-write"],
    "gemini": ["auto_edit", "stream-json"],
}


def help_text(cli: Path, preset: tuple[str, ...], home: Path) -> str:
    """``CLI [subcommand] --help``: the subcommand is the preset's leading plain words."""
    words = []
    for arg in preset[1:]:
        if arg.startswith("-") or "{" in arg:
            break
        words.append(arg)
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "DISABLE_AUTOUPDATER": "1"}
    proc = subprocess.run(
        [str(cli), *words, "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    return text


@pytest.mark.parametrize("name", sorted(agents.PRESETS))
def test_preset_argv_matches_the_installed_cli(name: str, tmp_path: Path) -> None:
    preset = agents.PRESETS[name]
    text = help_text(require(name), preset, tmp_path)
    flags = [arg.split("=", 1)[0] for arg in preset[1:] if arg.startswith("-")]
    missing = [f for f in flags if not re.search(rf"(^|[\s,\[]){re.escape(f)}\b", text, re.M)]
    assert not missing, f"{name} --help knows no {missing}:\n{text}"
    assert re.search(PROMPT_SLOT[name], text), f"{name} --help shows no place for the prompt"
    for choice in CHOICES.get(name, []):
        assert choice in preset and re.search(rf"\b{re.escape(choice)}\b", text), choice


def test_every_preset_has_an_install_hint() -> None:
    assert set(agents.PRESETS) <= set(agents.INSTALL_HINTS)
