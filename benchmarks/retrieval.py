"""Git-history localization benchmark for `gitfleet context` (offline scorer).

    python benchmarks/retrieval.py REPO_PATH [--max-cases N] [--no-timing] [--runs N]

From REPO_PATH's history take non-merge commits whose non-test changes are modifications
of 1-3 existing source files; the query is the commit message, the corpus is the tree of
the parent commit, the gold answer is the modified files. For each case it ranks files
with gitfleet's offline loop and with plain BM25 over whole files (bm25s's own tokenizer,
contents only) and prints Acc@1/3/5/10 (every gold file within the top k) and MRR (first
gold file) for both. It then times index + query on REPO_PATH's HEAD: cold (no cache) and
warm (index loaded from the on-disk cache), each in a fresh process, --runs times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitfleet import git
from gitfleet.context import index as index_mod
from gitfleet.context import loop, repomap

ROOT = Path(__file__).resolve().parent.parent

KS = (1, 3, 5, 10)
_SOURCE = ".py .pyi .js .jsx .mjs .cjs .ts .tsx .go .rs .c .h .cc .cpp .hpp .java .kt .rb .php"
SOURCE_SUFFIXES = frozenset((_SOURCE + " .cs .swift .scala .sh .bash .lua .pl .ex .hs").split())


@dataclass(frozen=True)
class Case:
    commit: str
    parent: str
    message: str
    gold: tuple[str, ...]


def is_source(path: str) -> bool:
    return Path(path).suffix.lower() in SOURCE_SUFFIXES and not repomap.is_test(path)


def cases(repo: Path, limit: int) -> list[Case]:
    """Qualifying commits, newest first."""
    log = git.run(
        [
            "log",
            "--no-merges",
            "--no-renames",
            "-z",
            "--format=%x1e%H %P%x1f%B%x1f",
            "--name-status",
        ],
        repo,
    ).stdout
    found: list[Case] = []
    for record in log.split("\x1e")[1:]:
        head, message, changes = record.split("\x1f", 2)
        ids = head.split()
        if len(ids) != 2:  # root commits have no parent tree to search
            continue
        fields = [f for f in changes.strip("\0\n").split("\0") if f]
        pairs = list(zip(fields[0::2], fields[1::2], strict=False))
        # Docs and configs may change alongside; tests are not gold; every source change
        # must modify a file that already existed (an added file cannot be retrieved).
        code = [(s, p) for s, p in pairs if is_source(p)]
        if not code or len(code) > 3 or any(s != "M" for s, _ in code):
            continue
        found.append(Case(ids[0], ids[1], message.strip(), tuple(p for _, p in code)))
        if len(found) >= limit:
            break
    return found


def plain_bm25_ranking(repo_path: str, idx: index_mod.Index, query: str) -> list[str]:
    import bm25s

    pg = repomap.open_repo(repo_path)
    texts = [pg[oid].data.decode("utf-8", "replace") for oid in idx.oids]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    q = bm25s.tokenize([query], stopwords="en", show_progress=False)
    if not q.vocab:
        return []
    docs, _ = retriever.retrieve(q, k=min(len(texts), 50), show_progress=False)
    return [idx.paths[int(i)] for i in docs[0]]


def metrics(rankings: list[tuple[list[str], tuple[str, ...]]]) -> dict[str, float]:
    n = len(rankings) or 1
    out: dict[str, float] = {}
    for k in KS:
        hits = sum(1 for ranked, gold in rankings if set(gold) <= set(ranked[:k]))
        out[f"acc@{k}"] = 100.0 * hits / n
    rr = 0.0
    for ranked, gold in rankings:
        ranks = [ranked.index(g) + 1 for g in gold if g in ranked]
        rr += 1.0 / min(ranks) if ranks else 0.0
    out["mrr"] = rr / n
    return out


def evaluate(repo: Path, limit: int) -> None:
    chosen = cases(repo, limit)
    ours: list[tuple[list[str], tuple[str, ...]]] = []
    plain: list[tuple[list[str], tuple[str, ...]]] = []
    pg = repomap.open_repo(str(repo))
    cycles = 0
    with tempfile.TemporaryDirectory() as state:
        for case in chosen:
            tree = repomap.resolve_tree(pg, case.parent)
            idx = index_mod.load_or_build(str(repo), tree, Path(state))
            if not set(case.gold) <= set(idx.by_path):
                continue  # a gold file too big or binary to index: not a fair case
            result = loop.run(idx, case.message)
            cycles += result.cycles
            ours.append(([s.path for s in result.files], case.gold))
            plain.append((plain_bm25_ranking(str(repo), idx, case.message), case.gold))
    print(f"repository: {repo}  cases: {len(ours)} (of {len(chosen)} qualifying commits)")
    if not ours:
        return
    print(f"mean cycles: {cycles / len(ours):.2f}")
    header = "method        " + "  ".join(f"Acc@{k:<3}" for k in KS) + "  MRR"
    print(header)
    for name, rankings in (("gitfleet", ours), ("plain BM25", plain)):
        m = metrics(rankings)
        row = "  ".join(f"{m[f'acc@{k}']:6.1f}" for k in KS)
        print(f"{name:<14}{row}  {m['mrr']:.3f}")
    a, b = metrics(ours)["acc@5"], metrics(plain)["acc@5"]
    print(f"Acc@5 difference: {a - b:+.1f} points")


_TIMER = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from gitfleet.context import index as index_mod, loop, repomap
repo, state, task = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
pg = repomap.open_repo(repo)
tree = repomap.resolve_tree(pg, "HEAD")
idx = index_mod.load_or_build(repo, tree, state)
t1 = time.perf_counter()
loop.run(idx, task)
t2 = time.perf_counter()
print(json.dumps({"files": len(idx), "index": t1 - t0, "query": t2 - t1, "total": t2 - t0}))
"""


def _timed_run(repo: Path, state: str, task: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _TIMER, str(repo), state, task],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def timing(repo: Path, runs: int) -> None:
    """Cold (empty cache) and warm (cached index) runs, each in a fresh process.

    Other work on the machine skews single runs, so each is repeated and the minimum and
    median printed.
    """
    task = "fix the error message when the configuration file is missing a required key"
    cold: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as state:
            cold.append(_timed_run(repo, state, task))
            warm.append(_timed_run(repo, state, task))
    for label, rows in (("cold", cold), ("warm", warm)):
        totals = sorted(r["total"] for r in rows)
        best = min(rows, key=lambda r: r["total"])
        print(
            f"{label}: {int(best['files'])} files  total min {totals[0]:.2f}s"
            f"  median {totals[len(totals) // 2]:.2f}s  (best run: index {best['index']:.2f}s"
            f" + query {best['query']:.2f}s; fresh process, imports included)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--max-cases", type=int, default=300)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="timing repetitions")
    args = parser.parse_args()
    repo = git.discover(args.repo).toplevel
    evaluate(repo, args.max_cases)
    if not args.no_timing:
        timing(repo, args.runs)


if __name__ == "__main__":
    main()
