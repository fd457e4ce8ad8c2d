"""The resolution ladder: rungs tried per conflicted file, in ``[land] resolve`` order.

Each rung either settles the file or declines with a reason; the first that settles wins,
and what it proposes must pass the gate (:mod:`.gate`) for that file before it is taken.
The reasons of every rung that declined are kept for the conflict report.

Rungs run here: ``attributes`` (the target's ``.gitattributes``: ``binary``/``-merge``
stops the ladder, ``merge=union`` is git's union, ``merge=gitfleet-json|yaml|toml`` the
structured rung for that format), ``structured`` (by extension), ``lines`` and, when a
key is set, ``claude``. ``agent`` (handing the conflict back to its agent) is not built.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitfleet.config import RESOLVE_RUNGS
from gitfleet.synthesis import attributes, gate, lines, structured
from gitfleet.synthesis.attributes import NEVER, ReadFile
from gitfleet.synthesis.claude import Claude, Unavailable
from gitfleet.synthesis.sides import Decline, Sides, check_size

if TYPE_CHECKING:
    import pygit2

RUNGS = RESOLVE_RUNGS
ATTRIBUTES, STRUCTURED, LINES, CLAUDE, AGENT = RUNGS
IN_MEMORY = (ATTRIBUTES, STRUCTURED, LINES)
REGENERATE = "regenerate"  # not a rung: a generated file, rebuilt by its command
_REGULAR = (0o100644, 0o100755)
_STRUCTURED_DRIVERS = {"gitfleet-json": "json", "gitfleet-yaml": "yaml", "gitfleet-toml": "toml"}


class _Stop(Decline):
    """Declined, and no later rung may try (the owner said never)."""


Pairs = list[tuple[str, str]]


class Ladder:
    """Rungs ``rungs`` (names from RUNGS, in order). ``read_target``: the target tree's
    files, for its ``.gitattributes`` (None: no attributes, as in a merge driver, where git
    has applied them already)."""

    def __init__(
        self,
        rungs: Sequence[str],
        read_target: ReadFile | None = None,
        claude: Claude | Unavailable | None = None,
        regenerate: Sequence[str] = (),
    ) -> None:
        self.rungs = [r for r in rungs if r in RUNGS]
        self.read_target = read_target
        self.claude = claude  # None: no key, the claude rung is skipped
        self.regenerate = regenerate  # globs of generated files: rebuilt, never merged

    def settle(self, sides: Sides, driver: str | None = None) -> tuple[bytes, str] | list[str]:
        """(merged text, rung) for the first rung that settles ``sides``, else the reasons.

        ``driver``: the merge driver the attributes name, when the caller read them.
        """
        if any(attributes.matches(glob, sides.path) for glob in self.regenerate):
            # the target's version for now: landing rebuilds it with [land.regenerate]
            return sides.ours, REGENERATE
        reasons: list[str] = []
        for rung in self.rungs:
            if rung not in IN_MEMORY and (rung != CLAUDE or self.claude is None):
                continue
            try:
                if rung == ATTRIBUTES:
                    found = self._attributes(sides)
                    if found is None:
                        continue
                    driver, merged = found
                    if merged is None:
                        continue
                elif rung == STRUCTURED:
                    merged = self._structured(sides, driver)
                elif rung == LINES:
                    merged = lines.merge(sides)
                else:
                    assert self.claude is not None
                    merged = self.claude.merge(sides)
                problems = gate.check_file(sides.path, sides.base, sides.ours, sides.theirs, merged)
                if problems:
                    raise Decline(
                        "its result fails the gate: " + "; ".join(p.problem for p in problems)
                    )
                return merged, rung
            except _Stop as exc:
                reasons.append(f"{rung}: {exc}")
                break
            except Decline as exc:
                reasons.append(f"{rung}: {exc}")
        return reasons or ["no rung applies"]

    def _attributes(self, sides: Sides) -> tuple[str, bytes | None] | None:
        """(driver, merged text or None to let later rungs try); None: no attribute set."""
        if self.read_target is None:
            return None
        found = attributes.intent(self.read_target, sides.path)
        if found.driver is None or found.driver == "text":
            return None
        if found.driver == NEVER:
            raise _Stop(f"the owner says never merge it by machine ({found.source})")
        if found.driver == "union":
            check_size(sides)
            return found.driver, lines.merge(sides, union=True)
        if found.driver in _STRUCTURED_DRIVERS:
            return found.driver, structured.merge(sides, _STRUCTURED_DRIVERS[found.driver])
        if found.driver == "gitfleet":
            return found.driver, None  # opted in to gitfleet's own rungs, which follow
        raise _Stop(f"merge={found.driver} is a driver gitfleet cannot run ({found.source})")

    def _structured(self, sides: Sides, driver: str | None) -> bytes:
        kind = _STRUCTURED_DRIVERS.get(driver or "") or structured.kind_of(sides.path)
        if kind is None:
            raise Decline("not JSON, YAML or TOML")
        return structured.merge(sides, kind)

    # --- over a libgit2 merge index -----------------------------------------------------

    def __call__(
        self, repo: "pygit2.Repository", index: "pygit2.Index", target: "pygit2.Tree"
    ) -> tuple[Pairs, Pairs]:
        """Settle what it can of ``index``'s conflicts in place, attributes read from
        ``target``: ((path, rung) settled, (path, "rung: reason") left)."""
        import pygit2

        ladder = Ladder(self.rungs, tree_reader(repo, target), self.claude, self.regenerate)
        settled: Pairs = []
        declined: Pairs = []
        for ancestor, ours, theirs in list(index.conflicts or ()):
            path = next(e.path for e in (ours, theirs, ancestor) if e is not None)
            outcome = ladder._settle_entries(repo, ancestor, ours, theirs)
            if isinstance(outcome, list):
                declined.extend((path, reason) for reason in outcome)
                continue
            merged, rung = outcome
            del index.conflicts[path]
            index.add(pygit2.IndexEntry(path, repo.create_blob(merged), ours.mode))
            settled.append((path, rung))
        return settled, declined

    def _settle_entries(
        self,
        repo: "pygit2.Repository",
        ancestor: "pygit2.IndexEntry | None",
        ours: "pygit2.IndexEntry | None",
        theirs: "pygit2.IndexEntry | None",
    ) -> tuple[bytes, str] | list[str]:
        if ours is None or theirs is None:
            return ["deleted on one side and changed on the other"]
        if ours.mode not in _REGULAR or theirs.mode not in _REGULAR:
            return ["not a regular file on both sides (a link or a submodule)"]
        base = _data(repo, ancestor.id) if ancestor is not None else None
        mine, other = _data(repo, ours.id), _data(repo, theirs.id)
        if mine is None or other is None:
            return ["not a file on both sides"]
        return self.settle(Sides(str(ours.path), base, mine, other))


def tree_reader(repo: "pygit2.Repository", tree: "pygit2.Tree") -> ReadFile:
    """Files of ``tree`` by path (None when absent): how the target's attributes are read."""

    def read(path: str) -> bytes | None:
        try:
            entry = tree[path]
        except KeyError:
            return None
        return _data(repo, entry.id)

    return read


def _data(repo: "pygit2.Repository", oid: "pygit2.Oid") -> bytes | None:
    import pygit2

    obj = repo[oid]
    return bytes(obj.data) if isinstance(obj, pygit2.Blob) else None
