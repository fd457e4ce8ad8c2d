"""The claude rung through the real anthropic client, against a local Messages API server:
a good answer lands; an answer with markers, one that drops a side, one that does not
parse, or one that fails the check is refused, and the conflict is reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from messages_fixtures import MessagesServer, serve
from synthesis_fixtures import commit_files, seed_remote

from gitfleet import config
from gitfleet.git.repo import discover
from gitfleet.land import landing
from gitfleet.land.result import LandResult

BASE = 'PLUGINS = [\n    "a",\n]\n'
OURS = 'PLUGINS = [\n    "a",\n    "b",\n]\n'
THEIRS = 'PLUGINS = [\n    "a",\n    "c",\n]\n'
GOOD = 'PLUGINS = [\n    "a",\n    "b",\n    "c",\n]\n'


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    yield from serve(monkeypatch)


def land_second(tmp_path: Path, check: str = "") -> tuple[Path, LandResult]:
    """Two branches insert an item into one Python list: the lines rung must refuse (a
    comma-separated container), so the conflict reaches Claude."""
    remote, work = seed_remote(tmp_path)
    commit_files(work, "base", {"plugins.py": BASE})
    repo = discover(work)
    landing.land(repo, config.load(work), ["base"], check="")
    git(work, "fetch", "-q", "origin")
    commit_files(work, "one", {"plugins.py": OURS}, base="origin/main")
    commit_files(work, "two", {"plugins.py": THEIRS}, base="origin/main")
    first, second = landing.land(repo, config.load(work), ["one", "two"], check=check)
    assert first.status == "landed"
    return remote, second


def test_a_good_answer_lands_and_says_claude_resolved_it(
    api: MessagesServer, tmp_path: Path
) -> None:
    api.reply_text(f"<merged>\n{GOOD}</merged>")
    remote, result = land_second(tmp_path)
    assert result.status == "landed", result.message
    diffstat = "1 file changed, 1 insertion(+)"  # what Claude's answer adds to the target
    assert list(result.resolved) == [{"path": "plugins.py", "rung": "claude", "diffstat": diffstat}]
    assert git(remote, "show", "main:plugins.py").stdout == GOOD
    (request,) = api.requests
    prompt = request["messages"][0]["content"]
    assert request["path"] == "/v1/messages"
    assert f"<base>\n{BASE}</base>" in prompt and f"<target>\n{OURS}</target>" in prompt
    assert f"<branch>\n{THEIRS}</branch>" in prompt
    assert "one: write it up" in prompt and "two: write it up" in prompt


@pytest.mark.parametrize(
    ("answer", "finding"),
    [
        (
            '<merged>\nPLUGINS = [\n<<<<<<< ours\n    "b",\n=======\n    "c",\n>>>>>>> theirs\n]\n'
            "</merged>",
            "conflict markers were added",
        ),
        ('<merged>\nPLUGINS = [\n    "a",\n    "c",\n]\n</merged>', "is missing: '\"b\"'"),
        ('<merged>\nPLUGINS = [\n    "a",\n    "b",\n    "c",\n</merged>', "no longer parses"),
        ("I could not decide.", "held no <merged> file"),
    ],
    ids=["markers", "drops-a-side", "unparseable", "no-file"],
)
def test_bad_answers_are_refused_and_reported(
    api: MessagesServer, tmp_path: Path, answer: str, finding: str
) -> None:
    api.reply_text(answer)
    remote, result = land_second(tmp_path)
    assert result.status == "conflict"
    reasons = [d["reason"] for d in result.declined]
    assert any(r.startswith("claude: ") and finding in r for r in reasons), reasons
    assert any(r.startswith("lines: ") for r in reasons)
    assert git(remote, "show", "main:plugins.py").stdout == OURS


def test_an_answer_that_fails_the_check_is_refused(api: MessagesServer, tmp_path: Path) -> None:
    api.reply_text('<merged>\nPLUGINS = [\n    "a",\n    "b",\n    "c",\n    "zzz",\n]\n</merged>')
    check = "python3 -c 'import plugins, sys; sys.exit(\"zzz\" in plugins.PLUGINS)'"
    remote, result = land_second(tmp_path, check=check)
    assert result.status == "conflict" and list(result.paths) == ["plugins.py"]
    assert "fails the check" in result.declined[0]["reason"]
    assert git(remote, "show", "main:plugins.py").stdout == OURS


def test_without_a_key_the_rung_is_skipped(tmp_path: Path) -> None:
    _, result = land_second(tmp_path)
    assert result.status == "conflict"
    assert not any(d["reason"].startswith("claude") for d in result.declined)
