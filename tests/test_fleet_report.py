"""``gitfleet report``: the structured report, and Claude's summary from a local server
speaking the Messages API (no patching: the real SDK talks HTTP to it)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitfleet
from fleet_fixtures import write_agent

from gitfleet import config
from gitfleet.fleet import report, runstate
from gitfleet.git.repo import discover

KEY = "sk-ant-test-key-never-printed"


class FakeMessages:
    """POST /v1/messages answered like the API (or with an error status)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.text = "Two articles landed; SP-153 crashed and needs a rerun."
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                if outer.status != 200:
                    payload = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
                else:
                    payload = {
                        "id": "msg_1", "type": "message", "role": "assistant",
                        "model": body["model"], "stop_reason": "end_turn", "stop_sequence": None,
                        "content": [{"type": "text", "text": outer.text}],
                        "usage": {"input_tokens": 50, "output_tokens": 12},
                    }  # fmt: skip
                data = json.dumps(payload).encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api() -> Iterator[FakeMessages]:
    fake = FakeMessages()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def finished_run(story_repo: Path, tmp_path: Path) -> Path:
    """A run of three agents (commit, crash, commit), landing off."""
    script = write_agent(tmp_path)
    tasks = tmp_path / "tasks"
    tasks.write_text("commit\ncrash\ncommit\n")
    import shlex
    import sys

    cmd = shlex.join([sys.executable, str(script)]) + " {task}"
    gitfleet(story_repo, "spawn", "3", "--tasks", str(tasks), "--agent-cmd", cmd, "--no-land",
             check=False)  # fmt: skip
    return story_repo


def test_structured_report(finished_run: Path) -> None:
    repo = discover(finished_run)
    rep = report.build(repo, config.load(finished_run), runstate.load(repo))
    by = {a.id: a for a in rep.agents}
    assert by["SP-152"].commits == 1 and by["SP-152"].files == ["articles/SP-152.md"]
    assert by["SP-152"].insertions == 6 and by["SP-152"].ids_claimed == ["SP-152"]
    assert by["SP-153"].outcome == "failed" and by["SP-153"].commits == 0
    assert rep.ids_allocated == ["SP-152", "SP-153", "SP-154"]
    assert rep.ids_claimed == ["SP-152", "SP-154"]
    assert not rep.succeeded and rep.summary is None and rep.warnings == []


def test_report_flags_an_agent_claiming_an_id_it_was_not_given(finished_run: Path) -> None:
    repo = discover(finished_run)
    tree = next((finished_run.parent / "story.gitfleet").glob("*/SP-152"))
    (tree / "articles" / "SP-999.md").write_text("---\nticketId: SP-999\n---\n")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "--no-verify", "-m", "sneaky")
    rep = report.build(repo, config.load(finished_run), runstate.load(repo))
    agent = next(a for a in rep.agents if a.id == "SP-152")
    assert agent.id_problem == "allocated SP-152 but claims SP-152, SP-999"


def test_without_a_key_no_summary_and_no_warning(finished_run: Path) -> None:
    proc = gitfleet(finished_run, "report")
    assert proc.stdout.startswith("Run ")
    assert re.search(r"SP-153 +3 +0 +0 files \+0 -0 +failed", proc.stdout)
    assert "Ids: 3 allocated, 2 claimed" in proc.stdout
    assert proc.stderr == ""


def test_with_a_key_claude_summary_on_top(finished_run: Path, api: FakeMessages) -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.url}
    proc = gitfleet(finished_run, "report", env=env)
    assert proc.stdout.startswith("Summary (written by Claude):\n" + api.text)
    assert re.search(r"SP-153 .* failed", proc.stdout)
    (request,) = api.requests
    assert request["path"] == "/v1/messages"
    assert any(KEY in value for value in request["headers"].values())  # x-api-key or Bearer
    prompt = request["body"]["messages"][0]["content"]
    assert "SP-152" in prompt and "SP-153: outcome failed" in prompt
    as_json = json.loads(gitfleet(finished_run, "report", "--json", env=env).stdout)
    assert as_json["summary"] == api.text
    assert KEY not in proc.stdout + proc.stderr


def test_api_failure_falls_back_with_one_warning(finished_run: Path, api: FakeMessages) -> None:
    api.status = 500
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.url}
    proc = gitfleet(finished_run, "report", env=env)
    assert proc.stdout.startswith("Run ")
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no summary from Claude" in warnings[0]
    assert KEY not in proc.stdout + proc.stderr
    assert len(api.requests) >= 1


def test_unreachable_api_falls_back(finished_run: Path) -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    proc = gitfleet(finished_run, "report", "--json", env=env)
    data = json.loads(proc.stdout)
    assert data["summary"] is None and len(data["warnings"]) == 1
