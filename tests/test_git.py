"""The git layer: one runner, discovery by asking git, exact bytes from cat-file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git, gitfleet

from gitfleet.errors import NotARepoError
from gitfleet.git import run
from gitfleet.git.blobs import batch_blobs
from gitfleet.git.repo import discover


def test_git_runner_streams_both_ways_and_reports_failure(repo: Path) -> None:
    # Far more than a pipe holds in both directions at once: a runner that wrote all input
    # before reading would deadlock here.
    asked = "HEAD\n" * 20000
    got = run(["cat-file", "--batch-check"], repo, input=asked)
    assert got.stdout.count(" commit ") == 20000
    failed = run(["rev-parse", "--verify", "nope"], repo, check=False)
    assert failed.returncode == 128 and "single revision" in failed.stderr
    assert run(["rev-parse", "--show-prefix"], repo / ".git" / "..").stdout == "\n"


def test_git_runner_finds_git_on_the_path_it_is_given(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "fake git $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": str(fake.parent)}
    assert run(["version"], env=env).stdout == "fake git version\n"
    assert run(["version"]).stdout.startswith("git version")


def test_batch_blobs_reads_exact_bytes_and_skips_the_rest(repo: Path) -> None:
    (repo / "crlf.txt").write_bytes(b"a\r\nb\r\n\n")
    crlf = git(repo, "hash-object", "-w", "crlf.txt").stdout.strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    missing = "1" * 40
    oids = [crlf, missing, tree, crlf]
    out = run(["cat-file", "--batch"], repo, input="".join(f"{o}\n" for o in oids)).stdout
    got = batch_blobs(out.encode("utf-8", "surrogateescape"), oids)
    assert got == {crlf: b"a\r\nb\r\n\n"}


def test_discovery_agrees_with_git_from_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    found = discover(linked / ".")
    assert found.toplevel == linked.resolve()
    assert found.common_dir == (repo / ".git").resolve()
    assert found.branch == "side"


def test_core_bare_in_a_checkout_is_refused_as_git_refuses_it(repo: Path) -> None:
    git(repo, "config", "core.bare", "true")
    status = git(repo, "status", check=False)
    assert status.returncode != 0  # git itself refuses to treat it as a worktree
    with pytest.raises(NotARepoError, match="bare repository"):
        discover(repo)
    listed = gitfleet(repo, "ids", "list", check=False)
    assert listed.returncode == 2 and "bare repository" in listed.stderr
