"""Synthesis where landing does it: the nine-agent shared-files story through
``gitfleet land``, the conflicts it must leave, and the gate on every landing."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git, gitfleet
from gate_fixtures import install_prepush, make_fleet, race, route, stop_daemon
from synthesis_fixtures import (
    agent_files,
    agent_ids,
    assert_all_present,
    commit_files,
    seed_files,
    seed_remote,
)

from gitfleet import config
from gitfleet.git.repo import discover
from gitfleet.land import landing
from gitfleet.land.result import LandResult


def land(work: Path, *branches: str) -> list[LandResult]:
    repo = discover(work)
    return landing.land(repo, config.load(repo.toplevel), branches, check="")


def test_nine_agents_editing_the_shared_files_all_land(tmp_path: Path) -> None:
    remote, work = seed_remote(tmp_path)
    seed = seed_files()
    idents = agent_ids(9)
    for ident in idents:
        commit_files(work, f"agent/{ident}", agent_files(seed, ident))
    proc = gitfleet(work, "land", "--json", *[f"agent/{i}" for i in idents])
    results = json.loads(proc.stdout)
    assert [r["status"] for r in results] == ["landed"] * 9, proc.stdout
    assert_all_present(remote, "main", idents)
    # the first landed as it was; each later one needed the ladder, and says which rung
    assert results[0]["resolved"] == []
    rungs = {r["path"]: r["rung"] for r in results[-1]["resolved"]}
    assert rungs == {
        "articles/index.md": "lines",
        "sidebar.json": "structured",
        "mkdocs.yml": "structured",
        "data/articles.toml": "structured",
    }
    assert "resolved articles/index.md (lines)" in results[-1]["message"]
    # target's first: the index lists the agents in landing order
    index = git(remote, "show", "main:articles/index.md").stdout
    assert [i for i in idents if i in index] == sorted(idents, key=index.index)


def test_a_true_conflict_stays_and_says_why_each_rung_declined(tmp_path: Path) -> None:
    remote, work = seed_remote(tmp_path)
    seed = seed_files()
    changed = seed["sidebar.json"].replace('"Articles"', '"Our articles"')
    commit_files(work, "one", {"sidebar.json": changed})
    commit_files(work, "two", {"sidebar.json": changed.replace("Our", "All")})
    first, second = land(work, "one", "two")
    assert first.status == "landed" and second.status == "conflict"
    assert second.paths == ["sidebar.json"]
    reasons = [d["reason"] for d in second.declined]
    assert "structured: both sides changed title differently" in reasons
    assert any(r.startswith("lines: ") for r in reasons)
    assert "Why synthesis left it:" in second.message and "title differently" in second.message
    assert "All articles" not in git(remote, "show", "main:sidebar.json").stdout


def test_resolve_in_config_chooses_the_rungs(tmp_path: Path) -> None:
    _, work = seed_remote(tmp_path)
    (work / "gitfleet.toml").write_text('[land]\nresolve = ["lines"]\n')
    git(work, "add", "gitfleet.toml")
    git(work, "commit", "-q", "-m", "config")
    git(work, "push", "-q", "origin", "main")
    seed = seed_files()
    for ident in agent_ids(2):
        commit_files(work, ident, agent_files(seed, ident))
    first, second = land(work, *agent_ids(2))
    assert first.status == "landed" and second.status == "conflict"
    assert "articles/index.md" not in second.paths  # the lines rung settled it
    assert "sidebar.json" in second.paths


def test_gate_refuses_a_fast_forward_that_adds_conflict_markers(tmp_path: Path) -> None:
    remote, work = seed_remote(tmp_path)
    marked = "# Articles\n<<<<<<< HEAD\n- a\n=======\n- b\n>>>>>>> other\n"
    commit_files(work, "marked", {"articles/index.md": marked})
    (result,) = land(work, "marked")
    assert result.status == "gate-refused"
    assert result.findings == ["articles/index.md: conflict markers were added"]
    assert git(remote, "rev-parse", "main").stdout == git(work, "rev-parse", "origin/main").stdout


def test_gate_refuses_two_case_3_arms_from_two_clean_branches(tmp_path: Path) -> None:
    remote, work = seed_remote(tmp_path)
    base = "function f(x) {\n  switch (x) {\n    case 1:\n      return 'one';\n  }\n}\n"
    commit_files(work, "base", {"f.js": base})
    (landed,) = land(work, "base")
    assert landed.status == "landed"
    git(work, "fetch", "-q", "origin")
    top = base.replace("    case 1:", "    case 3:\n      return 'three';\n    case 1:")
    bottom = base.replace("  }\n}", "    case 3:\n      return 'drei';\n  }\n}")
    commit_files(work, "top", {"f.js": top}, base="origin/main")
    commit_files(work, "bottom", {"f.js": bottom}, base="origin/main")
    first, second = land(work, "top", "bottom")
    assert first.status == "landed"
    assert second.status == "gate-refused"
    assert any("duplicate case label `3`" in f for f in second.findings)
    assert "drei" not in git(remote, "show", "main:f.js").stdout


def test_nine_racing_plain_pushes_of_the_shared_files_all_land(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path, 9)
    try:
        route(fleet.root)
        install_prepush(fleet.root)
        seed = seed_files()
        for rel, text in seed.items():
            (fleet.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (fleet.root / rel).write_text(text)
        git(fleet.root, "add", "-A")
        git(fleet.root, "commit", "-q", "-m", "two articles")
        git(fleet.root, "push", "-q", "origin", "main")
        idents = agent_ids(9)
        for tree, ident in zip(fleet.trees, idents, strict=True):
            git(tree, "rebase", "-q", "main")
            for rel, text in agent_files(seed, ident).items():
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                (tree / rel).write_text(text)
            git(tree, "add", "-A")
            git(tree, "commit", "-q", "-m", f"write {ident}")
        outcomes = race(fleet.trees, ["git", "push", "origin", "HEAD:main"], tmp_path / "go")
        for i, out in enumerate(outcomes):
            assert out.returncode == 0, f"agent {i}: {out.stderr}"
        assert_all_present(fleet.remote, "main", idents)
    finally:
        stop_daemon(fleet.root)


def test_attributes_come_from_the_target_tree_not_the_working_tree(tmp_path: Path) -> None:
    _, work = seed_remote(tmp_path)
    commit_files(work, "attrs", {".gitattributes": "sidebar.json binary\n"})
    (landed,) = land(work, "attrs")
    assert landed.status == "landed"
    git(work, "fetch", "-q", "origin")
    # the landing clone's own working tree says the opposite: it must not count
    (work / ".gitattributes").write_text("sidebar.json merge=gitfleet-json\n")
    seed = seed_files()
    for ident in agent_ids(2):
        commit_files(work, ident, agent_files(seed, ident), base="origin/main")
    first, second = land(work, *agent_ids(2))
    assert first.status == "landed" and second.status == "conflict"
    assert second.paths == ["sidebar.json"]
    (reason,) = [d["reason"] for d in second.declined]
    assert reason == (
        "attributes: the owner says never merge it by machine (.gitattributes: sidebar.json binary)"
    )
