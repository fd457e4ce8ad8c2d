"""Agent argv templates: presets, --agent-cmd splitting, per-argument substitution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitfleet.config import Agent, Config, parse
from gitfleet.errors import UsageError
from gitfleet.fleet import agents


def test_task_text_stays_one_argument_and_never_reaches_a_shell(tmp_path: Path) -> None:
    evil = 'Write "it"; touch pwned && echo $HOME `id` {not-a-field}'
    template = agents.parse_agent_cmd(
        f"{sys.executable} -c 'import sys, json; print(json.dumps(sys.argv[1:]))' --say {{prompt}}"
    )
    argv = agents.render_argv(template, {"prompt": evil})
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.strip() == '["--say", ' + __import__("json").dumps(evil) + "]"
    assert not (tmp_path / "pwned").exists()


def test_placeholders_substituted_inside_each_argument() -> None:
    values = {"id": "SP-152", "branch": "fleet/SP-152", "worktree": "/w", "brief": "/b.md"}
    argv = agents.render_argv(
        ("run", "--id={id}", "{worktree}/{branch}", "{brief}", "{unknown}", "{{id}}"), values
    )
    assert argv == ["run", "--id=SP-152", "/w/fleet/SP-152", "/b.md", "{unknown}", "{SP-152}"]


def test_substitution_is_single_pass() -> None:
    # A task that itself contains "{id}" must not be expanded a second time.
    assert agents.substitute("{prompt}", {"prompt": "say {id}", "id": "X"}) == "say {id}"


def test_presets_take_the_prompt_as_one_argument() -> None:
    for name, argv in agents.PRESETS.items():
        assert "{prompt}" in argv, name
        rendered = agents.render_argv(argv, {"prompt": "a b; c"})
        assert "a b; c" in rendered


def test_resolve_preset_config_and_command() -> None:
    cfg = Config(path=None, agents={"mine": Agent("mine", ("my-agent", "--task", "{prompt}"))})
    assert agents.resolve(cfg, "claude", None)[:3] == ("claude", "-p", "{prompt}")
    assert agents.resolve(cfg, "mine", None) == ("my-agent", "--task", "{prompt}")
    assert agents.resolve(cfg, None, "x 'a b' {id}") == ("x", "a b", "{id}")


def test_config_agents_table_is_a_preset(tmp_path: Path) -> None:
    cfg = parse(
        tmp_path / "gitfleet.toml", '[agents.codex]\nargv = ["codex", "exec", "{prompt}"]\n'
    )
    assert agents.resolve(cfg, "codex", None) == ("codex", "exec", "{prompt}")


@pytest.mark.parametrize(
    ("preset", "cmd", "message"),
    [
        (None, None, "exactly one of --agent"),
        ("claude", "x", "exactly one of --agent"),
        ("nope", None, "unknown agent preset 'nope'"),
        (None, "   ", "--agent-cmd is empty"),
        (None, "x 'unclosed", "cannot be split"),
    ],
)
def test_resolve_errors(preset: str | None, cmd: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        agents.resolve(Config(path=None), preset, cmd)
