"""The offline retrieval: symbols, scoring on a repository with known answers, the loop,
budgeted packs, determinism, the per-tree cache and the command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import commit_file, git, gitfleet
from context_fixtures import digest, make_shop

from gitfleet.context import build_pack, loop, needs, pack, repomap, symbols
from gitfleet.context import index as index_mod
from gitfleet.context.graph import FileGraph
from gitfleet.git.repo import discover


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_shop(tmp_path / "shop")


def ranked(repo: Path, task: str, **kw: object) -> list[str]:
    return [f.path for f in build_pack(repo, task, offline=True, **kw).files]  # type: ignore[arg-type]


SNIPPETS = [
    (
        "python",
        b"class A:\n    def m(self):\n        pass\n\ndef f():\n    pass\nX = 1\n",
        {"A", "m", "f", "X"},
    ),
    (
        "javascript",
        b"class B { go() {} }\nfunction g() {}\nconst h = () => 1;\n",
        {"B", "go", "g", "h"},
    ),
    (
        "typescript",
        b"interface I { x: number }\ntype T = string;\nexport function k(): void {}\n",
        {"I", "T", "k"},
    ),
    ("tsx", b"export const View = () => <div/>;\n", {"View"}),
    ("go", b"package p\ntype S struct{}\nfunc (s S) M() {}\nfunc F() {}\n", {"S", "M", "F"}),
    (
        "rust",
        b"struct R;\nimpl R { fn r(&self) {} }\nfn free() {}\ntrait Tr {}\n",
        {"R", "r", "free", "Tr"},
    ),
]


@pytest.mark.parametrize(("lang", "source", "expected"), SNIPPETS)
def test_definitions_from_each_grammar_wheel(lang: str, source: bytes, expected: set[str]) -> None:
    assert {d.name for d in symbols.definitions(source, lang)} == expected


def test_member_depth_and_spans() -> None:
    defs = {
        d.name: d
        for d in symbols.definitions(b"class A:\n    def m(self):\n        pass\n", "python")
    }
    assert (defs["A"].depth, defs["m"].depth) == (0, 1)
    assert (defs["m"].line, defs["m"].end_line) == (2, 3)


def test_big_files_fall_back_to_the_line_tagger() -> None:
    big = b"def first():\n    pass\n" + b"# filler\n" * 8000 + b"class Last:\n    pass\n"
    assert len(big) > symbols.MAX_PARSE_BYTES
    assert [d.name for d in symbols.definitions(big, "python")] == ["first", "Last"]


def test_offline_needs_read_the_task() -> None:
    n = needs.offline(
        "Make `send_receipt` retry; see notify/email.py and SessionStore. Why does it fail?"
    )
    assert "send_receipt" in n.identifiers and "SessionStore" in n.identifiers
    assert any(needs.glob_matches(g, "notify/email.py") for g in n.path_globs)
    assert "retry" in n.keywords
    assert n.questions == ["Why does it fail?"]


def test_known_answers(shop: Path) -> None:
    assert set(ranked(shop, "apply a discount code at checkout")[:2]) == {
        "shop/checkout.py",
        "shop/pricing.py",
    }
    assert ranked(shop, "send_receipt should retry when SMTP fails")[0] == "notify/email.py"
    assert ranked(shop, "reserve stock in the inventory when an order is placed")[0] == (
        "engine/inventory.rs"
    )
    assert ranked(shop, "the search box should highlight matched words")[0] == "web/search.js"
    assert ranked(shop, "fetchCart must send the session token")[0] == "web/api.ts"
    assert ranked(shop, "HandleOrder should reject an Order without ID")[0] == "server/orders.go"


def test_tests_are_down_weighted_unless_asked_for(shop: Path) -> None:
    plain = ranked(shop, "a discount code lowers the price")
    assert plain.index("shop/pricing.py") < plain.index("tests/test_pricing.py")
    asked = ranked(shop, "add tests for removing items from the cart")
    assert "tests/test_cart.py" in asked[:2]


def test_graph_brings_in_the_callers(shop: Path) -> None:
    # checkout.py never says "tax" but calls price_with_tax: the graph links it.
    paths = ranked(shop, "price_with_tax rounds the wrong way")
    assert paths[0] == "shop/pricing.py"
    assert "shop/checkout.py" in paths[:3]


def test_pagerank_flows_from_seed_to_definitions() -> None:
    g = FileGraph.from_edges(4, [0, 1], [1, 2], [1.0, 1.0])
    seeds = np.array([1.0, 0.0, 0.0, 0.0])
    rank = g.pagerank(seeds)
    assert rank[1] > rank[2] > rank[3] == 0.0  # 3 is unreachable from the seed
    assert rank[0] > rank[2]
    assert abs(rank.sum() - 1.0) < 1e-6


def test_json_ranks_best_first_with_scores_and_reasons(shop: Path) -> None:
    data = build_pack(shop, "apply a discount code at checkout", offline=True).to_json()
    scores = [f["score"] for f in data["files"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(f["reason"] for f in data["files"])
    assert 1 <= data["cycles"] <= loop.MAX_CYCLES
    assert data["tokens"]["pack"] <= data["tokens"]["budget"]
    assert data["mode"] == "offline" and data["warnings"] == []


@pytest.mark.parametrize("budget", [100, 120, 200, 400, 800, 1500, 6000])
def test_pack_never_exceeds_the_budget(shop: Path, budget: int) -> None:
    result = build_pack(
        shop, "apply a discount code at checkout and email the receipt", budget=budget, offline=True
    )
    assert pack.estimate_tokens(result.markdown) <= budget
    assert result.pack_tokens <= budget
    assert result.markdown.startswith("# Context pack")


def test_a_big_budget_carries_code_and_the_matching_bodies(shop: Path) -> None:
    md = build_pack(shop, "apply_discount ignores lower-case codes", offline=True).markdown
    assert "## Files, most relevant first" in md
    assert "### `shop/pricing.py`" in md
    assert "rate = DISCOUNT_CODES.get(code.upper(), 0.0)" in md  # the body, not just the signature


def test_long_tasks_are_cut_to_fit(shop: Path) -> None:
    task = "make the cart faster " * 300
    result = build_pack(shop, task, budget=150, offline=True)
    assert pack.estimate_tokens(result.markdown) <= 150


def test_same_input_same_ranking(shop: Path) -> None:
    task = "the cart subtotal should include tax"
    first = build_pack(shop, task, offline=True)
    # drop the cache so the second run rebuilds the index from scratch
    for cached in (discover(shop).state_dir / "context").iterdir():
        cached.unlink()
    second = build_pack(shop, task, offline=True)
    assert first.to_json() == second.to_json()
    assert first.markdown == second.markdown


def test_index_is_cached_per_tree_id(shop: Path) -> None:
    repo = discover(shop)
    build_pack(shop, "cart", offline=True)
    tree1 = repomap.resolve_tree(repomap.open_repo(str(shop)), "HEAD")
    cache1 = index_mod.cache_path(repo.state_dir, tree1)
    assert cache1.exists()
    inode = cache1.stat().st_ino  # a rebuild writes a new file (temp + rename)
    build_pack(shop, "pricing", offline=True)
    assert cache1.stat().st_ino == inode  # reused, not rebuilt
    commit_file(shop, "shop/refunds.py", "def refund_order(order_id):\n    return order_id\n")
    paths = ranked(shop, "refund_order should log the refund")
    assert paths[0] == "shop/refunds.py"
    tree2 = repomap.resolve_tree(repomap.open_repo(str(shop)), "HEAD")
    assert tree2 != tree1 and index_mod.cache_path(repo.state_dir, tree2).exists()


def test_a_torn_cache_is_rebuilt(shop: Path) -> None:
    build_pack(shop, "cart", offline=True)
    tree = repomap.resolve_tree(repomap.open_repo(str(shop)), "HEAD")
    cache = index_mod.cache_path(discover(shop).state_dir, tree)
    cache.write_bytes(b"not a pickle")
    assert ranked(shop, "reserve_stock")[0] == "engine/inventory.rs"


def shop_index(shop: Path) -> index_mod.Index:
    tree = repomap.resolve_tree(repomap.open_repo(str(shop)), "HEAD")
    return index_mod.load_or_build(str(shop), tree, None)


def test_each_file_keeps_its_best_score_across_cycles(shop: Path) -> None:
    result = loop.run(shop_index(shop), "zebra quantum: tidy whatever the cart does")
    assert result.cycles == loop.MAX_CYCLES  # nothing scores high: every cycle runs
    for f in result.files:
        seen = [c.scores[f.path] for c in result.history if f.path in c.scores]
        assert f.score == max(seen)
    scores = [f.score for f in result.files]
    assert scores == sorted(scores, reverse=True)


def test_stops_early_at_three_high_files_without_gaps(shop: Path) -> None:
    task = "move `apply_discount` from shop/pricing.py into shop/checkout.py; use `Cart`"
    result = loop.run(shop_index(shop), task)
    assert result.cycles == 1
    assert result.history[0].high >= loop.ENOUGH_HIGH and result.history[0].gaps == []


def test_a_gap_keeps_the_loop_going(shop: Path) -> None:
    # `send_sms` exists (notify/sms.py) but the task's words pull elsewhere; the loop must
    # not stop while the named identifier is uncovered, and later cycles find its definer.
    result = loop.run(shop_index(shop), "checkout cart discount pricing tax, and `send_sms`")
    assert "notify/sms.py" in [f.path for f in result.files[: loop.SELECTED]]
    assert result.gaps == []


def test_same_ranking_in_another_process(shop: Path, tmp_path: Path) -> None:
    # hash() differs between processes (identifiers are numbered by it); rankings must not.
    outs = []
    for n in (1, 2):
        env = {"GITFLEET_STATE_DIR": str(tmp_path / f"state{n}"), "PYTHONHASHSEED": str(n)}
        proc = gitfleet(shop, "context", "cart subtotal with tax", "--offline", "--json", env=env)
        outs.append(json.loads(proc.stdout))
    assert outs[0] == outs[1]


def test_unknown_identifiers_are_not_blocking_gaps(shop: Path) -> None:
    result = build_pack(shop, "add a `refund_everything` helper to the cart", offline=True)
    assert "refund_everything" not in result.gaps


def test_errors_name_the_next_step(shop: Path, tmp_path: Path) -> None:
    from gitfleet.errors import NotARepoError, UsageError

    with pytest.raises(UsageError, match="at least"):
        build_pack(shop, "cart", budget=10, offline=True)
    with pytest.raises(UsageError, match="task is empty"):
        build_pack(shop, "  ", offline=True)
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    with pytest.raises(NotARepoError, match="git init"):
        build_pack(outside, "x", offline=True)


def test_cli_json_and_out_file(shop: Path) -> None:
    proc = gitfleet(shop, "context", "apply a discount code at checkout", "--offline", "--json")
    data = json.loads(proc.stdout)
    assert data["files"][0]["path"] in {"shop/checkout.py", "shop/pricing.py"}
    assert set(data) >= {"files", "cycles", "tokens"}
    out = shop.parent / "pack.md"
    gitfleet(shop, "context", "reserve stock", "--offline", "--budget", "500", "--out", str(out))
    text = out.read_text()
    assert text.startswith("# Context pack") and "engine/inventory.rs" in text
    assert pack.estimate_tokens(text) <= 500


def test_cli_without_a_key_warns_once_and_still_answers(shop: Path) -> None:
    proc = gitfleet(shop, "context", "reserve stock", "--json")
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "API key" in warnings[0]
    assert json.loads(proc.stdout)["files"][0]["path"] == "engine/inventory.rs"


def test_bm25_weights_are_bm25s_lucene() -> None:
    import bm25s

    from gitfleet.context.lexical import Bm25Index

    docs = [
        ["apple", "banana", "apple"],
        ["banana", "cherry"],
        ["cherry", "cherry", "date"],
        ["egg"],
    ]
    vocab = {t: i for i, t in enumerate(["apple", "banana", "cherry", "date", "egg"])}
    ours = Bm25Index.build([Counter(d) for d in docs])
    ref = bm25s.BM25(method="lucene")
    ref.index(([[vocab[t] for t in d] for d in docs], vocab), show_progress=False)
    for query in (["apple"], ["cherry", "date"], ["banana", "egg", "apple"]):
        expected = ref.get_scores(query)
        assert np.allclose(ours.score(dict.fromkeys(query, 1.0)), expected)
        assert np.allclose(ours.to_bm25s().get_scores(query), expected)


def test_old_indexes_are_pruned(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "KEEP_CACHED", 2)
    for n in range(4):
        commit_file(shop, f"shop/extra{n}.py", f"def extra_{n}():\n    return {n}\n")
        build_pack(shop, "cart", offline=True)
    folder = discover(shop).state_dir / "context"
    assert len(list(folder.glob("*.pkl"))) == 2
    tree = repomap.resolve_tree(repomap.open_repo(str(shop)), "HEAD")
    assert index_mod.cache_path(discover(shop).state_dir, tree).exists()


# The index tags definitions by line patterns; tree-sitter parses only what a pack shows.
# On the fixture (idiomatic code in five languages) both must find the same definitions.
def test_line_tags_agree_with_tree_sitter_on_the_fixture() -> None:
    from context_fixtures import FILES

    for path, text in FILES.items():
        lang = repomap.language(path)
        if not symbols.supported(lang):
            continue
        tagged = [(d.name, d.kind, d.line, d.depth) for d in symbols.tags(text.encode(), lang)]
        parsed = [
            (d.name, d.kind, d.line, d.depth)
            for d in symbols.definitions(text.encode(), lang, max_parse=symbols.FULL_PARSE_BYTES)
        ]
        assert tagged == parsed, path


TAGGED = [
    (
        "python",
        b"LIMIT: int = 3\n\n@cache\nasync def fetch(url):\n    x = 1\n    def inner():\n"
        b'        pass\n\nclass Store(Base):\n    """A store.\n\nx = 2\n"""\n',
        {("LIMIT", 0), ("fetch", 0), ("inner", 1), ("Store", 0), ("x", 0)},
    ),
    (
        "javascript",
        b"export default class Widget extends Base {\n  static create(opts) {\n"
        b"    if (opts) {\n      render(opts);\n    }\n  }\n  async #load() {\n  }\n}\n"
        b"export const handler = async (event) => {\n};\nlet counter = 0;\n"
        b"function* ids() {}\n",
        {("Widget", 0), ("create", 1), ("load", 1), ("handler", 0), ("counter", 0), ("ids", 0)},
    ),
    (
        "typescript",
        b"export interface Shape {\n  area(): number;\n}\nexport type Id = string;\n"
        b"enum Color { Red }\nexport abstract class Base {\n"
        b"  protected abstract draw(ctx: Ctx): void;\n}\n",
        {("Shape", 0), ("area", 1), ("Id", 0), ("Color", 0), ("Base", 0), ("draw", 1)},
    ),
    (
        "go",
        b"package p\n\nconst (\n\tA = iota\n\tB\n)\n\nvar Debug = false\n\n"
        b"type Server struct{}\n\nfunc (s *Server) Serve() error {\n\treturn nil\n}\n",
        {("A", 0), ("B", 0), ("Debug", 0), ("Server", 0), ("Serve", 0)},
    ),
    (
        "rust",
        b"pub(crate) const fn limit() -> u32 { 3 }\nmacro_rules! check { () => {} }\n"
        b"pub struct Pool;\nimpl Pool {\n    pub async fn get(&self) {}\n}\n"
        b"static mut COUNT: u32 = 0;\n",
        {("limit", 0), ("check", 0), ("Pool", 0), ("get", 1), ("COUNT", 0)},
    ),
]


@pytest.mark.parametrize(("lang", "source", "expected"), TAGGED)
def test_line_tags_find_each_language_s_definitions(
    lang: str, source: bytes, expected: set[tuple[str, int]]
) -> None:
    # (The Python docstring's "x = 2" at column 0 is a known false hit: cheap beats exact.)
    assert {(d.name, d.depth) for d in symbols.tags(source, lang)} == expected


def test_names_split_in_bulk_as_one_by_one() -> None:
    from gitfleet.context import lexical

    package = Path(symbols.__file__).resolve().parent.parent
    names = sorted(
        {n for f in package.rglob("*.py") for n in lexical.IDENT_STR.findall(f.read_text())}
    )
    names += ["parseHTTPHeader", "utf8Decode", "__init__", "_", "foo__bar_", "IOError", "X"]
    vocab, ptr, ids = lexical.split_many(names)
    term = {i: t for t, i in vocab.items()}
    for k, name in enumerate(names):
        bulk = tuple(term[int(i)] for i in ids[ptr[k] : ptr[k + 1]])
        assert bulk == lexical.split_uncached(name), name
    assert lexical.split_uncached("parseHTTPHeader") == (
        "parse",
        "http",
        "header",
        "parsehttpheader",
    )


def test_blobs_come_back_exactly_and_a_missing_one_is_named(shop: Path) -> None:
    from gitfleet.errors import GitError
    from gitfleet.git.blobs import stream_blobs

    raw = [b"crlf\r\nline\r\n", bytes(range(256)) * 40, b""]
    pg = repomap.open_repo(str(shop))
    oids = [str(pg.create_blob(data)) for data in raw]
    assert list(stream_blobs(str(shop), oids * 3)) == raw * 3
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(GitError, match="missing"):
        list(stream_blobs(str(shop), [oids[0], missing]))


_DIGEST = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from context_fixtures import digest
from gitfleet.context import index as index_mod, repomap, scan
scan.PARALLEL_FROM = 0
assert scan._workers(2) == 2, "no second core or a thread alive: not the parallel path"
if sys.argv[3] == "kill-worker":
    parent, real = os.getpid(), scan._scan_part
    def _scan_part(*args):
        if os.getpid() != parent:
            os._exit(9)  # the worker dies as if killed
        return real(*args)
    scan._scan_part = _scan_part
tree = repomap.resolve_tree(repomap.open_repo(sys.argv[2]), "HEAD")
print(json.dumps(digest(index_mod.build(sys.argv[2], tree), sys.argv[4:])))
"""


def test_two_processes_index_exactly_as_one(shop: Path) -> None:
    import os
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the index is never built in two processes here")
    for n in range(40):  # enough files that both halves hold every language
        body = f"from shop.cart import Cart\n\ndef f{n}(c: Cart):\n    return c.subtotal() * {n}\n"
        (shop / "more").mkdir(exist_ok=True)
        (shop / "more" / f"mod{n}.py").write_text(body)
    git(shop, "add", "-A")
    git(shop, "commit", "-q", "-m", "more")
    tasks = ["apply a discount code at checkout", "cart subtotal with tax", "reserve stock"]
    tree = repomap.resolve_tree(repomap.open_repo(str(shop)), "HEAD")
    serial = digest(index_mod.build(str(shop), tree), tasks)
    for how in ("fork", "kill-worker"):  # a dead worker's half is scanned by the parent
        proc = subprocess.run(
            [sys.executable, "-c", _DIGEST, str(Path(__file__).parent), str(shop), how, *tasks],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == json.loads(json.dumps(serial)), how


def test_words_run_together_in_code_are_found(shop: Path) -> None:
    # "token store" is tokenstore.py; sessions.py says token, store and session outright.
    body = (
        "def drop_old(tokenstore, entries, now):\n    return [e for e in entries if e.end > now]\n"
    )
    commit_file(shop, "auth/tokenstore.py", body)
    assert ranked(shop, "the token store forgets entries too early")[0] == "auth/tokenstore.py"


def test_a_named_file_s_extension_is_not_a_topic() -> None:
    from gitfleet.context import lexical

    assert lexical.terms_of_text("fix fleet/status.py and README.md") == [
        "fix",
        "fleet",
        "status",
        "readme",
    ]
    assert "py" in lexical.terms_of_text("port the .py files")  # about Python files: kept
    assert "item" in lexical.terms_of_text("empty self.items first")  # attributes stay


def test_a_named_file_is_a_glob_not_a_dotted_name() -> None:
    # "idcheck.py" once became the identifier `py` too, naming every file defining `py`.
    n = needs.offline("the id check (idcheck.py) and README.md; e.g. `cart.total`")
    assert n.path_globs == ["*idcheck.py", "*README.md"]
    assert "cart.total" in n.identifiers and not any("py" in i for i in n.identifiers)
