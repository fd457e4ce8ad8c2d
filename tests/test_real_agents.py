"""The real agent CLIs under ``gitfleet spawn --agent PRESET``, offline.

Claude Code and Aider run for real (installed by ``.ci/install-agents``) against the scripted
model server: the model's side is scripted, everything else is theirs (their tool loop,
their permission checks under the preset's flags, their file edits, their git commits).
The fleet then lands what they committed on a bare remote.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_clis import aider_env, bin_dir, claude_env, codex_env, gemini_env, opencode_env
from conftest import git, gitfleet
from model_server import ModelServer, Reply, ToolCall, Turn

IDENTS = ["SP-152", "SP-153", "SP-154"]


@pytest.fixture
def evening(story_repo: Path) -> Path:
    """The story repo with `gitfleet init --series SP` run and its config pushed."""
    gitfleet(story_repo, "init", "--series", "SP")
    git(story_repo, "add", "gitfleet.toml")
    if git(story_repo, "diff", "--cached", "--quiet", check=False).returncode != 0:
        git(story_repo, "commit", "-q", "-m", "gitfleet init --series SP")
    git(story_repo, "push", "-q", "origin", "main")
    return story_repo


def brief_fact(prompt: str, pattern: str) -> str:
    """A fact the brief states (the id, the worktree), as a model would read it."""
    found = re.search(pattern, prompt)
    assert found, f"the brief does not say {pattern!r}:\n{prompt}"
    return found.group(1)


def article_text(ident: str) -> str:
    return f"---\nticketId: {ident}\ntitle: Article {ident}\n---\n\nWritten by a real agent.\n"


def next_step(turn: Turn, steps: list[ToolCall], last_words: str) -> Reply:
    """One tool call per model turn, in order (the conversation's tool results so far say
    how far it got), then the closing text."""
    done = len(turn.tool_results)
    if done < len(steps):
        return Reply(text=f"Step {done + 1}.", tool_calls=[steps[done]])
    return Reply(text=last_words)


def claude_writes_article(turn: Turn) -> Reply:
    """Claude Code's side of one agent: Write the article, `git add`, `git commit`, done.

    Requests without tools (Claude Code's own side questions) get a plain answer."""
    if not turn.tools:
        return Reply(text="ok")
    ident = brief_fact(turn.prompt, r"Your id is \*\*([A-Z]+-\d+)\*\*")
    tree = brief_fact(turn.prompt, r"Your own checkout: `([^`]+)`")
    rel = f"articles/{ident}.md"
    steps = [
        ToolCall("Write", {"file_path": f"{tree}/{rel}", "content": article_text(ident)}),
        ToolCall("Bash", {"command": f"git add {rel}", "description": "Stage the article"}),
        ToolCall("Bash", {"command": f"git commit -m 'Add article {ident}'",
                          "description": "Commit the article"}),
    ]  # fmt: skip
    return next_step(turn, steps, f"Article {ident} is committed.")


def aider_writes_article(turn: Turn) -> Reply:
    """Aider's side: one SEARCH/REPLACE block creating the article (an empty SEARCH creates
    the file), and the one-line message aider asks for before it commits by itself."""
    ident = brief_fact(turn.last_user, r"Your id is \*\*([A-Z]+-\d+)\*\*") if (
        "Your id is" in turn.last_user) else None  # fmt: skip
    if "commit message" in turn.system.lower():
        named = re.search(r"articles/([A-Z]+-\d+)\.md", turn.last_user)
        return Reply(text=f"Add article {named.group(1) if named else 'article'}")
    assert ident, f"aider's request holds no brief:\n{turn.last_user[:500]}"
    body = article_text(ident)
    return Reply(text=f"Creating it.\n\narticles/{ident}.md\n```\n<<<<<<< SEARCH\n=======\n"
                 f"{body}>>>>>>> REPLACE\n```\n")  # fmt: skip


def spawn_real(
    repo: Path,
    tmp_path: Path,
    preset: str,
    script: Callable[[Turn], Reply],
    env: Callable[[str], dict[str, str]],
) -> tuple[dict[str, Any], ModelServer]:
    with ModelServer(script) as server:
        path = f"{bin_dir(tmp_path, preset)}{os.pathsep}{os.environ['PATH']}"
        proc = gitfleet(
            repo, "spawn", "3", "--agent", preset, "--task", "Write article {id}", "--json",
            env={**env(server.url), "PATH": path}, check=False, timeout=900,
        )  # fmt: skip
    assert server.errors == [], server.errors
    assert proc.returncode == 0, proc.stdout + proc.stderr + _logs(repo)
    return json.loads(proc.stdout), server


def _logs(repo: Path) -> str:
    runs = repo / ".git" / "gitfleet" / "runs"
    return "".join(
        f"\n--- {p}\n{p.read_text()[-3000:]}" for p in sorted(runs.glob("*/*/agent.log"))
    )


def _landed_articles(remote: Path) -> list[str]:
    names = git(remote, "ls-tree", "--name-only", "main", "articles/").stdout.split()
    return sorted(n.split("/")[-1][:-3] for n in names if n > "articles/SP-151.md")


def test_three_claude_code_agents_commit_and_land(
    evening: Path, remote: Path, tmp_path: Path
) -> None:
    report, server = spawn_real(evening, tmp_path, "claude", claude_writes_article, claude_env)
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 3
    assert _landed_articles(remote) == IDENTS
    assert report["ids_claimed"] == IDENTS
    subjects = git(remote, "log", "--format=%s", "main").stdout.splitlines()
    assert sorted(s for s in subjects if s.startswith("Add article")) == [
        f"Add article {i}" for i in IDENTS
    ]
    # Claude Code really ran its loop: it offered its tools and sent back each tool's result.
    tooled = [t for t in server.turns if t.tools]
    assert {"Write", "Bash"} <= set(tooled[0].tools)
    assert max(len(t.tool_results) for t in tooled) == 3
    assert all(r.path.startswith("/v1/messages") for r in server.requests if r.method == "POST")
    # Usage, as Claude Code reported it at the end of its stream-json log.
    for agent in report["agents"]:
        assert agent["usage"]["turns"] == 4 and agent["usage"]["cost_usd"] > 0, agent["usage"]
        assert agent["usage"]["output_tokens"] >= 4 * 20  # the scripted replies' usage
    assert report["usage"]["turns"] == 12


def test_three_aider_agents_commit_and_land(evening: Path, remote: Path, tmp_path: Path) -> None:
    report, server = spawn_real(evening, tmp_path, "aider", aider_writes_article, aider_env)
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 3
    assert _landed_articles(remote) == IDENTS
    assert report["ids_claimed"] == IDENTS
    for ident in IDENTS:
        shown = git(remote, "show", f"main:articles/{ident}.md").stdout
        assert shown == article_text(ident)
    # Aider committed by itself, with the message it asked the model for.
    subjects = git(remote, "log", "--format=%s", "main").stdout.splitlines()
    assert sorted(s for s in subjects if s.startswith("Add article")) == [
        f"Add article {i}" for i in IDENTS
    ]
    assert any("commit message" in t.system.lower() for t in server.turns)
    # Usage, from aider's "Tokens: ... Cost: ..." line.
    for agent in report["agents"]:
        used = agent["usage"]
        assert used["turns"] == 1 and used["input_tokens"] > 0 and used["output_tokens"] > 0
        assert used["cost_usd"] > 0  # aider prices gpt-4o from the table it ships
    # Aider's own files (.aider.chat.history.md, caches) are no reason to keep a worktree.
    cleaned = json.loads(gitfleet(evening, "clean", "--json").stdout)
    assert cleaned["removed"] == [f"fleet/{i}" for i in IDENTS]
    assert not (evening.parent / f"{evening.name}.gitfleet").exists()


def claude_writes_then_resolves(turn: Turn) -> Reply:
    """Claude Code's side of an agent that also edits the shared ``notes.txt``, and, when
    its conflict is handed back (the resolve brief is its prompt), keeps both lines and
    finishes the rebase with plain git."""
    if not turn.tools:
        return Reply(text="ok")
    if "# Resolve the conflict on" in turn.prompt:
        own = brief_fact(turn.prompt, r"Resolve the conflict on `fleet/([A-Z]+-\d+)`")
        other = brief_fact(turn.prompt, r"- ([A-Z]+-\d+) \(fleet/")
        tree = brief_fact(turn.prompt, r"In your worktree \(([^)]+)\)")
        both = "".join(f"two by {i}\n" for i in sorted([own, other]))
        steps = [
            ToolCall("Read", {"file_path": f"{tree}/notes.txt"}),
            ToolCall("Write", {"file_path": f"{tree}/notes.txt",
                               "content": f"one\n{both}three\n"}),
            ToolCall("Bash", {"command": "git add notes.txt", "description": "Mark resolved"}),
            ToolCall("Bash", {"command": "git rebase --continue", "description": "Finish"}),
        ]  # fmt: skip
    else:
        ident = brief_fact(turn.prompt, r"Your id is \*\*([A-Z]+-\d+)\*\*")
        tree = brief_fact(turn.prompt, r"Your own checkout: `([^`]+)`")
        steps = [
            ToolCall("Write", {"file_path": f"{tree}/articles/{ident}.md",
                               "content": article_text(ident)}),
            ToolCall("Read", {"file_path": f"{tree}/notes.txt"}),
            ToolCall("Write", {"file_path": f"{tree}/notes.txt",
                               "content": f"one\ntwo by {ident}\nthree\n"}),
            ToolCall("Bash", {"command": f"git add articles/{ident}.md notes.txt",
                              "description": "Stage"}),
            ToolCall("Bash", {"command": f"git commit -m 'Add article {ident}'",
                              "description": "Commit"}),
        ]  # fmt: skip
    return next_step(turn, steps, "Done.")


def test_claude_code_resolves_a_conflict_handed_back_to_it(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    (story_repo / "notes.txt").write_text("one\ntwo\nthree\n")
    # No claude rung: the scripted server stands in for Claude Code's model only.
    config = story_repo / "gitfleet.toml"
    config.write_text(config.read_text() + '\n[land]\nresolve = ["lines", "agent"]\n')
    gitfleet(story_repo, "init", "--series", "SP")
    git(story_repo, "add", "-A")
    git(story_repo, "commit", "-q", "-m", "notes; gitfleet init")
    git(story_repo, "push", "-q", "origin", "main")
    with ModelServer(claude_writes_then_resolves) as server:
        path = f"{bin_dir(tmp_path, 'claude')}{os.pathsep}{os.environ['PATH']}"
        proc = gitfleet(
            story_repo, "spawn", "2", "--agent", "claude", "--task", "Write article {id}",
            "--json", env={**claude_env(server.url), "PATH": path}, check=False, timeout=900,
        )  # fmt: skip
    assert server.errors == [], server.errors
    assert proc.returncode == 0, proc.stdout + proc.stderr + _logs(story_repo)
    report = json.loads(proc.stdout)
    assert [a["outcome"] for a in report["agents"]] == ["landed", "landed"]
    notes = git(remote, "show", "main:notes.txt").stdout
    assert notes == "one\ntwo by SP-152\ntwo by SP-153\nthree\n"
    resolved = [r for a in report["agents"] for r in a["resolved"]]
    assert resolved == [{"path": "notes.txt", "rung": "agent"}]
    # The resolve brief reached Claude Code as its prompt, not the first task again.
    assert any("# Resolve the conflict on" in t.prompt for t in server.turns)


def codex_writes_article(turn: Turn) -> Reply:
    """Codex's side: one ``exec_command`` writing and committing the article, in its
    sandbox (workspace-write, with the repository's git dir writable by the preset)."""
    ident = brief_fact(turn.prompt, r"Your id is \*\*([A-Z]+-\d+)\*\*")
    body = article_text(ident).replace("\n", "\\n")
    path = f"articles/{ident}.md"
    command = (f"mkdir -p articles && printf -- '{body}' > {path} && git add {path} && "
               f"git commit -q -m 'Add article {ident}'")  # fmt: skip
    return next_step(turn, [ToolCall("exec_command", {"cmd": command})], "Committed.")


def test_three_codex_agents_commit_and_land(evening: Path, remote: Path, tmp_path: Path) -> None:
    report, server = spawn_real(
        evening, tmp_path, "codex", codex_writes_article,
        lambda url: codex_env(url, tmp_path / "codex-home"),
    )  # fmt: skip
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 3
    assert _landed_articles(remote) == IDENTS
    for ident in IDENTS:
        assert git(remote, "show", f"main:articles/{ident}.md").stdout == article_text(ident)
    assert {t.api for t in server.turns} == {"responses"}
    results = [t.tool_results[-1] for t in server.turns if t.tool_results]
    assert all("exited with code 0" in r for r in results), results


def gemini_writes_article(turn: Turn) -> Reply:
    """Gemini CLI's side: ``write_file``, then git through ``run_shell_command`` (offered
    only for the commands the preset allows). Its model router's side question (no tools)
    gets the JSON it asks for."""
    if not turn.tools:
        return Reply(text='{"complexity_reasoning": "simple", "complexity_score": 1}')
    ident = brief_fact(turn.prompt, r"Your id is \*\*([A-Z]+-\d+)\*\*")
    tree = brief_fact(turn.prompt, r"Your own checkout: `([^`]+)`")
    path = f"articles/{ident}.md"
    steps = [
        ToolCall("write_file", {"file_path": f"{tree}/{path}", "content": article_text(ident)}),
        ToolCall("run_shell_command", {"command": f"git add {path}", "description": "Stage"}),
        ToolCall("run_shell_command", {"command": f"git commit -q -m 'Add article {ident}'",
                                       "description": "Commit"}),
    ]  # fmt: skip
    return next_step(turn, steps, "Committed.")


def test_three_gemini_agents_commit_and_land(evening: Path, remote: Path, tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    report, server = spawn_real(
        evening, tmp_path, "gemini", gemini_writes_article, lambda url: gemini_env(url, home)
    )
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 3
    assert _landed_articles(remote) == IDENTS
    for ident in IDENTS:
        assert git(remote, "show", f"main:articles/{ident}.md").stdout == article_text(ident)
    assert "run_shell_command" in next(t for t in server.turns if t.tools).tools
    # Usage, from the result line of the preset's stream-json output.
    assert all(a["usage"]["input_tokens"] > 0 for a in report["agents"]), report["agents"]


def opencode_writes_article(turn: Turn) -> Reply:
    """opencode's side: its ``write`` tool, then git through its ``bash`` tool; its title
    question (no tools) gets a title."""
    if not turn.tools:
        return Reply(text="Write an article")
    ident = brief_fact(turn.prompt, r"Your id is \*\*([A-Z]+-\d+)\*\*")
    tree = brief_fact(turn.prompt, r"Your own checkout: `([^`]+)`")
    path = f"articles/{ident}.md"
    steps = [
        ToolCall("write", {"filePath": f"{tree}/{path}", "content": article_text(ident)}),
        ToolCall("bash", {"command": f"git add {path}", "description": "Stage"}),
        ToolCall("bash", {"command": f"git commit -q -m 'Add article {ident}'",
                          "description": "Commit"}),
    ]  # fmt: skip
    return next_step(turn, steps, "Committed.")


def test_three_opencode_agents_commit_and_land(evening: Path, remote: Path, tmp_path: Path) -> None:
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    report, server = spawn_real(
        evening, tmp_path, "opencode", opencode_writes_article,
        lambda url: opencode_env(url, config_home),
    )  # fmt: skip
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 3
    assert _landed_articles(remote) == IDENTS
    for ident in IDENTS:
        assert git(remote, "show", f"main:articles/{ident}.md").stdout == article_text(ident)
    assert git(evening, "status", "--porcelain").stdout == "", "nothing written in the checkout"
    assert {"write", "bash"} <= set(next(t for t in server.turns if t.tools).tools)
