"""Agent commands: presets for the common coding-agent CLIs and per-argument substitution.

An agent is an argv template. Placeholders (``{prompt}``, ``{task}``, ``{id}``, ``{brief}``,
``{worktree}``, ``{branch}``, ``{run}``) are replaced inside each argument separately, so
task text becomes (part of) one argument and never passes through a shell: a task holding
``"; rm -rf ~`` is just words in the prompt.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitfleet.config import Config
from gitfleet.errors import UsageError
from gitfleet.fleet.runstate import AgentState, RunState
from gitfleet.git import no_git_env
from gitfleet.git import run as run_git

PLACEHOLDERS = (
    "prompt", "task", "id", "brief", "worktree", "branch", "run", "gitdir", "commondir"
)  # fmt: skip

# Each CLI's documented headless mode, with the prompt as one argument:
PRESETS: Mapping[str, tuple[str, ...]] = {
    # Claude Code: `-p/--print` runs non-interactively and exits (docs: "Run Claude Code
    # programmatically"). Headless runs cannot answer permission prompts: accept edits and
    # allow the git commands the briefs ask for (`git rebase` when a conflict is handed
    # back), nothing broader. `stream-json` (which needs
    # `--verbose` under `-p`) logs each step as it happens and ends with a `result` line
    # holding cost, tokens, turns and duration (read by gitfleet.fleet.usage).
    "claude": (
        "claude",
        "-p",
        "{prompt}",
        "--permission-mode",
        "acceptEdits",
        "--allowedTools",
        "Bash(git add:*),Bash(git commit:*),Bash(git status:*),"
        "Bash(git diff:*),Bash(git log:*),Bash(git push:*),Bash(git rebase:*)",
        "--output-format",
        "stream-json",
        "--verbose",
    ),
    # Codex CLI: `codex exec PROMPT` is its non-interactive mode; it is read-only by default,
    # `--sandbox workspace-write` lets it edit the worktree (developers.openai.com/codex/
    # noninteractive). That sandbox keeps git's data read-only: the worktree's own git dir
    # (its index) and the repository's common dir (objects, refs) must be writable roots,
    # or no agent can commit (codex 0.169: "index.lock: Read-only file system").
    "codex": (
        "codex",
        "exec",
        "--sandbox",
        "workspace-write",
        "-c",
        'sandbox_workspace_write.writable_roots=["{gitdir}", "{commondir}"]',
        "{prompt}",
    ),
    # Aider: `--message` does one instruction and exits; `--yes-always` answers its
    # confirmations (aider.chat/docs/scripting.html). Aider commits on its own by default.
    # `--no-gitignore`: otherwise it adds `.aider*` to the project's .gitignore and leaves
    # that change uncommitted in every worktree (its own files are SCRATCH below).
    "aider": ("aider", "--yes-always", "--no-gitignore", "--message", "{prompt}"),
    # Gemini CLI: `-p/--prompt` is headless mode; `--approval-mode auto_edit` approves file
    # edits without a person (geminicli.com/docs/cli/headless). Seen with gemini 0.61: in a
    # folder it does not trust it drops back to asking (`--skip-trust`), and headless it
    # offers no shell tool at all unless commands are allowed: the git the brief asks for.
    "gemini": (
        "gemini",
        "--skip-trust",
        "--approval-mode",
        "auto_edit",
        "--allowed-tools",
        "run_shell_command(git add),run_shell_command(git commit),"
        "run_shell_command(git status),run_shell_command(git diff),"
        "run_shell_command(git log),run_shell_command(git rebase)",
        "--output-format",
        "stream-json",  # each step as it happens, then tokens and duration (fleet.usage)
        "-p",
        "{prompt}",
    ),
    # opencode: `opencode run PROMPT` runs one prompt without the TUI and exits.
    "opencode": ("opencode", "run", "{prompt}"),
}

# Files an agent CLI keeps in its worktree for itself (chat history, caches): not work, so
# `gitfleet clean` does not keep a worktree for them. Keyed by command name.
SCRATCH: Mapping[str, tuple[str, ...]] = {"aider": (".aider*",)}

# How to get each preset's command, for the pre-flight's "not on PATH" (keyed by command).
INSTALL_HINTS: Mapping[str, str] = {
    "claude": "npm install -g @anthropic-ai/claude-code",
    "codex": "npm install -g @openai/codex",
    "aider": "python -m pip install aider-chat (or: pipx install aider-chat)",
    "gemini": "npm install -g @google/gemini-cli",
    "opencode": "npm install -g opencode-ai",
}

_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace the known ``{name}`` placeholders in ``text``; other braces stay as they are."""
    return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def render_argv(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """One argv per agent: each argument of the template substituted on its own."""
    return [substitute(arg, values) for arg in template]


def parse_agent_cmd(cmd: str) -> tuple[str, ...]:
    """Split ``--agent-cmd`` the way a shell would split the user's own words, once."""
    try:
        argv = tuple(shlex.split(cmd))
    except ValueError as exc:
        raise UsageError(f"--agent-cmd {cmd!r} cannot be split into arguments: {exc}") from None
    if not argv:
        raise UsageError("--agent-cmd is empty; give the command that runs one agent")
    return argv


def resolve(cfg: Config, preset: str | None, agent_cmd: str | None) -> tuple[str, ...]:
    """The argv template of ``--agent PRESET`` (config, then built-ins) or ``--agent-cmd``."""
    if (preset is None) == (agent_cmd is None):
        raise UsageError(
            "give exactly one of --agent PRESET or --agent-cmd CMD "
            f"(presets: {', '.join(known_presets(cfg))})"
        )
    if agent_cmd is not None:
        return parse_agent_cmd(agent_cmd)
    assert preset is not None
    if preset in cfg.agents:
        return tuple(cfg.agents[preset].argv)
    if preset in PRESETS:
        return PRESETS[preset]
    raise UsageError(
        f"unknown agent preset {preset!r}; known: {', '.join(known_presets(cfg))}. "
        "Add one as [agents.NAME] argv = [...] in gitfleet.toml, or use --agent-cmd"
    )


def scratch_patterns(argv: Sequence[str]) -> tuple[str, ...]:
    """The scratch-file patterns of the CLI that ``argv`` runs (none for unknown ones)."""
    return SCRATCH.get(os.path.basename(argv[0]), ()) if argv else ()


def known_presets(cfg: Config) -> list[str]:
    return sorted(set(PRESETS) | set(cfg.agents))


def argv_for(template: Sequence[str], run: RunState, agent: AgentState, prompt: str) -> list[str]:
    """An agent's argv with ``prompt`` as its ``{prompt}``: the first brief, or the brief of
    a conflict handed back to it (which must reach the agent, not its first task again)."""
    values = {
        "prompt": prompt, "task": agent.task, "id": agent.id or "", "brief": agent.brief,
        "worktree": agent.worktree, "branch": agent.branch, "run": run.run,
        "commondir": run.commondir,
    }  # fmt: skip
    if any("{gitdir}" in arg for arg in template):  # only then is a git call worth it
        found = run_git(["rev-parse", "--absolute-git-dir"], Path(agent.worktree),
                        env=no_git_env(), check=False)  # fmt: skip
        values["gitdir"] = found.stdout.strip()
    return render_argv(template, values)


def env_for(
    run: str, name: str, ident: str | None, brief: str, branch: str, worktree: str,
    ports: Mapping[str, int],
) -> dict[str, str]:  # fmt: skip
    """The environment an agent runs in: gitfleet's variables, its ports, no GIT_* leaks."""
    env = no_git_env()
    env.update(
        {
            "GITFLEET_ID": ident or "",
            "GITFLEET_BRIEF": brief,
            "GITFLEET_BRANCH": branch,
            "GITFLEET_WORKTREE": worktree,
            "GITFLEET_RUN": run,
            "GITFLEET_AGENT": name,
            # The worktree is the agent's cwd; PWD must say so too, or a CLI that trusts it
            # (opencode 1.18 does) works in the checkout spawn was started from.
            "PWD": worktree,
        }
    )
    env.update({port: str(number) for port, number in ports.items()})
    return env
