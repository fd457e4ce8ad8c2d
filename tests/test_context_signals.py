"""The ranking signals issue 14 added, each on a small repository where it decides the answer:
history (past commits like the task), task verbs, kind of file, definitions the task names,
and excerpts that show the matching lines."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from conftest import commit_file, git

from gitfleet.context import build_pack, history, lexical, loop, pack, repomap, scoring
from gitfleet.context import index as index_mod
from gitfleet.context.symbols import Definition
from gitfleet.git.repo import discover


def ranked(repo: Path, task: str) -> list[str]:
    return [f.path for f in build_pack(repo, task, offline=True).files]


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return path


def head_index(repo: Path) -> index_mod.Index:
    pg = repomap.open_repo(str(repo))
    return index_mod.build(str(repo), repomap.resolve_tree(pg, "HEAD"))


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    """Two modules whose code never says what they are for; their commits do."""
    repo = new_repo(tmp_path / "gallery")
    commit_file(repo, "render/scale.py", "def resize(img, w):\n    return img.crop(w)\n")
    commit_file(repo, "store/bucket.py", "def put(key, data):\n    return key, data\n")
    commit_file(repo, "app/main.py", "def main():\n    return 0\n")
    commit_file(
        repo,
        "render/scale.py",
        "def resize(img, w):\n    return img.crop(w, sharp=True)\n",
        "Thumbnail previews are blurry on retina screens",
    )
    commit_file(
        repo,
        "store/bucket.py",
        "def put(key, data):\n    return key, bytes(data)\n",
        "Uploads to the bucket time out",
    )
    return repo


def test_past_commits_like_the_task_vote_for_their_files(gallery: Path) -> None:
    task = "thumbnail previews flicker while loading"
    assert ranked(gallery, task)[0] == "render/scale.py"
    top = build_pack(gallery, task, offline=True).files[0]
    assert "changed by past commits like this task" in top.reason
    # The code alone does not find it: the history is what does.
    without = [s.path for s in loop.run(head_index(gallery), task).files]
    assert without[:1] != ["render/scale.py"]


def test_history_is_read_once_and_then_extended(gallery: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = git(gallery, "rev-parse", "HEAD~1").stdout.strip()
    past = history.load(str(gallery), first, state)
    assert past is not None and len(past) == 4
    # A marker in the stored record survives an extension and not a rebuild.
    past.add([("f" * 40, "marker commit", ("app/main.py",))])
    (state / "context" / f"history.v{history.HISTORY_VERSION}.pkl").write_bytes(pickle.dumps(past))
    head = git(gallery, "rev-parse", "HEAD").stdout.strip()
    grown = history.load(str(gallery), head, state)
    assert grown is not None and "f" * 40 in grown.commits and len(grown) == 6
    root = git(gallery, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    again = history.load(str(gallery), root, state)  # not a descendant: read whole
    assert again is not None and again.commits == [root]


def test_task_verbs_are_no_query_terms(tmp_path: Path) -> None:
    assert lexical.task_terms("Add support for fixing the proxy updates") == ["proxy"]
    repo = new_repo(tmp_path / "verbs")
    commit_file(
        repo,
        "compat/support.py",
        "# add fix update support\ndef add_support(fix, update):\n    return fix + update\n",
    )
    commit_file(repo, "net/proxy.py", "def connect(host):\n    return host\n# proxy settings\n")
    assert ranked(repo, "Add support for a proxy")[0] == "net/proxy.py"


def test_examples_and_config_count_less_unless_named(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "kinds")
    demo = "from pkg.term import colour\n" + "colour('echo')  # colour echo demo\n" * 8
    commit_file(repo, "examples/colour_demo.py", demo)
    commit_file(repo, "settings.json", '{"colour": "echo", "echo_colour": true}\n')
    commit_file(repo, "pkg/term.py", "def colour(text):\n    return echo(text)\n")
    commit_file(repo, "pkg/other.py", "def unrelated():\n    return 1\n")
    plain = ranked(repo, "echo colour output")
    assert plain[0] == "pkg/term.py"
    assert plain.index("pkg/term.py") < plain.index("settings.json")
    assert ranked(repo, "echo colour output in the example")[0] == "examples/colour_demo.py"


def test_the_file_defining_a_word_of_the_task_ranks_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "defs")
    commit_file(
        repo,
        "pkg/commands.py",
        "from pkg.termio import echo\n\n"
        + "".join(
            f"def command_{i}(option):\n    echo(option)\n    echo('option')\n" for i in range(6)
        ),
    )
    commit_file(repo, "pkg/termio.py", "def echo(message, file=None):\n    print(message)\n")
    for i in range(4):
        commit_file(repo, f"pkg/mod{i}.py", f"def helper_{i}(option):\n    return option\n")
    task = "add an option to echo"
    assert ranked(repo, task)[0] == "pkg/termio.py"
    assert "defines a word of the task" in build_pack(repo, task, offline=True).files[0].reason
    monkeypatch.setattr(scoring, "W_DEFINES", 0.0)
    assert ranked(repo, task)[0] != "pkg/termio.py"


def test_excerpts_show_the_lines_that_match_the_task() -> None:
    body = "".join(f"    step_{i} = prepare({i})\n" for i in range(60))
    text = "def run_all(jobs):\n" + body + "    retry_budget = jobs.deadline\n    return jobs\n"
    defs = [Definition("run_all", "function", 1, 63, 0)]
    shown = pack.excerpt(text, defs, [], ["retry", "budget", "deadline"])
    assert "retry_budget = jobs.deadline" in shown
    assert "step_30" not in shown  # the rest of the body stays out
    assert "retry_budget" not in pack.excerpt(text, defs, [])


def test_the_pack_excerpt_holds_the_matching_line(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "pack")
    lines = "".join(f"    value_{i} = compute({i})\n" for i in range(120))
    source = "def big_table():\n" + lines + "    cache_eviction_window = 30\n    return 1\n"
    commit_file(repo, "pkg/table.py", source)
    result = build_pack(repo, "shorten the cache eviction window", offline=True)
    assert "cache_eviction_window = 30" in result.markdown


def test_history_needs_a_commit_not_a_tree(gallery: Path) -> None:
    pg = repomap.open_repo(str(gallery))
    assert repomap.resolve_commit(pg, "HEAD") == git(gallery, "rev-parse", "HEAD").stdout.strip()
    assert repomap.resolve_commit(pg, "HEAD^{tree}") is None
    tree = git(gallery, "rev-parse", "HEAD^{tree}").stdout.strip()
    # A bare tree has no history to consult, and nothing in its code says "thumbnail".
    assert build_pack(gallery, "thumbnail previews", offline=True, treeish=tree).files == []
    assert discover(gallery).state_dir.exists()


def test_history_follows_a_file_its_project_moved(
    gallery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (gallery / "packages").mkdir()
    git(gallery, "mv", "render", "packages/render")
    git(gallery, "commit", "-q", "-m", "Move the sources under packages")
    task = "thumbnail previews flicker while loading"
    assert ranked(gallery, task)[0] == "packages/render/scale.py"
    monkeypatch.setattr(history, "MOVED_FILES", False)
    assert ranked(gallery, task)[:1] != ["packages/render/scale.py"]


def test_files_that_change_together_come_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "cochange")
    for name in ("alpha", "beta", "gamma", "delta"):
        commit_file(repo, f"app/{name}.py", f"def {name}():\n    return '{name} webhook'\n")
    for i in range(3):  # the handler and its validation always change as a pair
        (repo / "api").mkdir(exist_ok=True)
        (repo / "api" / "handlers.py").write_text(f"def on_webhook(event):\n    return {i}\n")
        (repo / "api" / "validate.py").write_text(f"def check(payload):\n    return {i}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"Round {i} of changes")
    task = "the on_webhook handler drops events"
    assert ranked(repo, task)[:2] == ["api/handlers.py", "api/validate.py"]
    second = build_pack(repo, task, offline=True).files[1]
    assert "changes together with the top files" in second.reason
    monkeypatch.setattr(scoring, "W_COCHANGE", 0.0)
    assert ranked(repo, task)[1] != "api/validate.py"
