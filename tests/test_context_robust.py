"""The index on clones that lack blobs (partial, shallow) and on binary or huge files: it
skips them with one warning line and never fails, and never fetches a missing blob."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_file, git

from gitfleet.context import build_pack, history, readable, repomap

BIG_SOURCE = "def render_invoice(order):\n" + "    line = order.total  # invoice\n" * 80


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A repository serving partial clones: small files, one big one, two commits."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "uploadpack.allowFilter", "true")
    git(repo, "config", "uploadpack.allowAnySHA1InWant", "true")
    commit_file(repo, "billing/invoice.py", BIG_SOURCE, "Render invoices")
    commit_file(repo, "billing/tax.py", "def tax_rate(country):\n    return 0.2\n", "Tax rates")
    commit_file(repo, "README.md", "# billing\n", "Readme")
    return repo


def missing(clone: Path) -> set[str]:
    tree = git(clone, "rev-parse", "HEAD^{tree}").stdout.strip()
    return readable.missing_objects(str(clone), tree)


def test_a_partial_clone_is_indexed_without_its_missing_blobs(origin: Path, tmp_path: Path) -> None:
    clone = tmp_path / "partial"
    git(
        tmp_path,
        "clone",
        "-q",
        "--no-checkout",
        "--filter=blob:limit=1k",
        f"file://{origin}",
        str(clone),
    )
    absent = missing(clone)
    assert len(absent) == 1  # billing/invoice.py is over the 1k filter
    result = build_pack(clone, "tax rate for a country", offline=True)
    assert [f.path for f in result.files][:1] == ["billing/tax.py"]
    assert "billing/invoice.py" not in [f.path for f in result.files]
    assert len(result.warnings) == 1 and "1 missing from this clone" in result.warnings[0]
    assert missing(clone) == absent  # nothing was fetched to build the index


def test_a_shallow_clone_is_indexed_with_the_history_it_has(origin: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    result = build_pack(clone, "render the invoice lines", offline=True)
    assert result.files[0].path == "billing/invoice.py" and result.warnings == []


def test_binary_and_huge_files_are_skipped_with_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "mixed"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_file(repo, "src/codec.py", "def decode_frame(data):\n    return data\n")
    (repo / "assets").mkdir()
    (repo / "assets" / "frame.dat").write_bytes(b"decode frame\0\1\2" * 50)
    huge = "def decode_frame_table():\n" + "    pass  # decode frame\n" * 30_000
    (repo / "src" / "table.py").write_text(huge)
    assert len(huge) > repomap.MAX_INDEX_BYTES
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "frames")
    result = build_pack(repo, "decode a frame", offline=True)
    assert result.files[0].path == "src/codec.py"
    assert {f.path for f in result.files} == {"src/codec.py"}
    assert result.warnings == [
        "the index skipped 2 file(s): 1 over 512 KB, 1 binary; they are not searched"
    ]


def test_sizes_come_from_batch_check_without_reading(origin: Path) -> None:
    oids = git(origin, "ls-tree", "-r", "--format=%(objectname)", "HEAD").stdout.split()
    sizes = readable.blob_sizes(str(origin), [*oids, "0" * 40])
    assert sorted(sizes.values()) == sorted(
        int(git(origin, "cat-file", "-s", oid).stdout) for oid in oids
    )


def test_a_clone_without_trees_has_no_history_and_fetches_none(
    origin: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "treeless"
    git(tmp_path, "clone", "-q", "--filter=tree:0", f"file://{origin}", str(clone))
    packs = sorted((clone / ".git" / "objects" / "pack").glob("*.pack"))
    result = build_pack(clone, "tax rate for a country", offline=True)
    assert result.files[0].path == "billing/tax.py"
    # Reading the log with file names would have fetched each old commit's trees.
    assert sorted((clone / ".git" / "objects" / "pack").glob("*.pack")) == packs
    head = git(clone, "rev-parse", "HEAD").stdout.strip()
    assert history.load(str(clone), head, None) is None
