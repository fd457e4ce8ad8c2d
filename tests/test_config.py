"""gitfleet.toml: every mistake is a clear error naming file and key; nothing is overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SP_CONFIG, git, gitfleet

from gitfleet import config
from gitfleet.errors import ConfigError


def test_story_config_parses() -> None:
    cfg = config.parse(Path("gitfleet.toml"), SP_CONFIG)
    sp = cfg.series["SP"]
    assert (sp.prefix, sp.width, sp.paths, sp.front_matter) == (
        "SP",
        3,
        ("articles/*.md",),
        "ticketId",
    )
    assert sp.format(152) == "SP-152"
    assert cfg.guarded == ("scripts/article-counter.json",)
    assert cfg.series_of_id("SP-007") == (sp, 7)


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    cfg = config.load(tmp_path)
    assert cfg.series == {} and cfg.remote == "origin" and cfg.ledger_backend == "local"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[series.SP\n", "not valid TOML"),
        ('[series.SP]\nwidth = "three"\npaths = ["a/*"]\n', "[series.SP.width]"),
        ('[series.SP]\nwidth = 0\npaths = ["a/*"]\n', "[series.SP.width] is 0"),
        ('[series.SP]\nprefix = "S P"\npaths = ["a/*"]\n', "[series.SP.prefix]"),
        ("[series.SP]\nwidth = 3\n", "needs `paths`"),
        ('[series.SP]\npaths = ["a/*"]\ncolour = "red"\n', "unknown key 'colour' in [series.SP]"),
        ("[fleet]\nremote = 3\n", "[fleet.remote] is 3"),
        ('[ledger]\nbackend = "cloud"\n', '"local" or "remote"'),
        ('[push]\nrebase = "yes"\n', "[push.rebase]"),
        ("[wat]\n", "unknown key 'wat' in the top level"),
        ("[agents.x]\nargv = []\n", "[agents.x.argv] must not be empty"),
        ('[agents.x]\nargv = "my-agent {prompt}"\n', "argv is one string"),
        (
            '[series.A]\nprefix = "X"\npaths = ["a"]\n[series.B]\nprefix = "X"\npaths = ["b"]\n',
            "share a prefix",
        ),
    ],
)
def test_bad_config_names_file_and_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse(Path("/r/gitfleet.toml"), text)
    assert "/r/gitfleet.toml" in str(err.value)
    assert expected in str(err.value)


def test_cli_reports_bad_config_and_leaves_it_alone(story_repo: Path) -> None:
    bad = '[series.SP]\nprefix = "SP"\nwidth = "x"\npaths = ["articles/*.md"]\n'
    (story_repo / "gitfleet.toml").write_text(bad)
    proc = gitfleet(story_repo, "ids", "allocate", "SP", check=False)
    assert proc.returncode == 2
    assert "gitfleet.toml: [series.SP.width] is 'x'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = gitfleet(story_repo, "init", "--series", "SP", check=False)
    assert proc.returncode == 2
    assert (story_repo / "gitfleet.toml").read_text() == bad
    assert not (story_repo / ".git" / "gitfleet" / "ledger.jsonl").exists()


def test_unknown_series_says_how_to_add_it(story_repo: Path) -> None:
    proc = gitfleet(story_repo, "ids", "allocate", "XX", check=False)
    assert proc.returncode == 2
    assert "unknown series 'XX'" in proc.stderr and "gitfleet init --series XX" in proc.stderr


def test_not_a_repo_bare_and_empty(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = gitfleet(plain, "init", check=False)
    assert proc.returncode == 2 and "not inside a git repository" in proc.stderr
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    proc = gitfleet(bare, "init", check=False)
    assert proc.returncode == 2 and "bare repository" in proc.stderr
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    proc = gitfleet(empty, "init", check=False)
    assert proc.returncode == 2 and "no commits yet" in proc.stderr


def test_a_folder_guard_means_everything_under_it_and_additions_extend_a_series() -> None:
    from gitfleet.config import Series, repo_path, with_additions

    assert repo_path("scripts/", "--guard") == "scripts/**"
    base = config.Config(path=None, series={"SP": Series("SP", "SP", 3, ("articles/*.md",))})
    pushed = config.Config(path=None, series={"SP": Series("SP", "SP", 3, ("notes/*.md",), "id")})
    merged = with_additions(base, pushed).series["SP"]
    assert merged.paths == ("articles/*.md", "notes/*.md") and merged.front_matter == "id"
