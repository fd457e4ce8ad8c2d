"""The daemon's lease table: FIFO queues per (remote, ref), process-owned grants.

Pure bookkeeping with no sockets or threads, so its rules can be tested directly:

- A request names its keys; they are taken one at a time in sorted order, each in FIFO
  order among the requests that want it, so two pushes of overlapping ref sets can never
  deadlock, and pushes of disjoint refs never wait for each other.
- A lease belongs to processes (pid + start time). It ends when every holder released it
  or died, or when its timeout passes. Waiting requests whose holder died are dropped.
- A request whose lineage meets a live lease's anchors (its holders and the ``git push`` it
  serves) while that lease already covers every key it wants joins that lease: the helper
  and the pre-push hook of one push, or a process holding a lease and the ``git push`` it
  runs, share one lease and one fencing token instead of waiting for themselves. The
  client sends its lineage only up to the process that ran its ``git push``, so agents
  started by a lease holder still queue.
- Every full grant gets a fencing token, strictly increasing for the life of the state
  file (the daemon persists the last one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from gitfleet.queue.procs import Proc

Key = tuple[str, str]  # (normalized remote URL, full ref name)
RESULTS_KEPT = 10


class Lease:
    """One request for keys, waiting or granted. Compared and hashed by identity."""

    def __init__(
        self,
        seq: int,
        keys: tuple[Key, ...],
        holders: dict[Proc, int],  # holder -> how many grants it holds (a join adds one)
        anchors: set[Proc],
        timeout: float,
        label: str,
        created: float,
        held: list[Key] | None = None,
        token: int | None = None,
        granted_at: float | None = None,
        state: str = "waiting",  # waiting -> granted -> ended
    ) -> None:
        self.seq, self.keys, self.holders, self.anchors = seq, keys, holders, anchors
        self.timeout, self.label, self.created = timeout, label, created
        self.held: list[Key] = held if held is not None else []
        self.token, self.granted_at, self.state = token, granted_at, state
        self.ended_why = ""

    @property
    def expires(self) -> float | None:
        return None if self.granted_at is None else self.granted_at + self.timeout

    def describe(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "label": self.label,
            "pids": sorted(p.pid for p in self.holders),
            "refs": [ref for _, ref in self.keys],
            "since": self.granted_at or self.created,
            "expires": self.expires,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "keys": [list(k) for k in self.keys],
            "holders": [p.to_json() for p in sorted(self.holders)],
            "anchors": [p.to_json() for p in sorted(self.anchors)],
            "timeout": self.timeout,
            "label": self.label,
            "created": self.created,
            "token": self.token,
            "granted_at": self.granted_at,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Lease:
        keys = tuple((str(k[0]), str(k[1])) for k in data["keys"])
        return Lease(
            seq=int(data["seq"]),
            keys=keys,
            # 0 grants: nobody holds it through *this* daemon yet. A holder that queues
            # again after the restart joins it (count 1) and one release ends it.
            holders={Proc.from_json(p): 0 for p in data["holders"]},
            anchors={Proc.from_json(p) for p in data["anchors"]},
            timeout=float(data["timeout"]),
            label=str(data["label"]),
            created=float(data["created"]),
            held=list(keys),
            token=int(data["token"]),
            granted_at=float(data["granted_at"]),
            state="granted",
        )


class Table:
    """Every lease of one daemon. Not thread-safe: the daemon holds its lock around calls."""

    def __init__(
        self,
        *,
        alive: Callable[[Proc], bool],
        clock: Callable[[], float] = time.time,
        last_token: int = 0,
    ) -> None:
        self._alive = alive
        self._clock = clock
        self.last_token = last_token
        self._seq = 0
        self.owner: dict[Key, Lease] = {}
        self.queues: dict[Key, list[Lease]] = {}
        self.results: dict[Key, list[dict[str, Any]]] = {}
        # What the last holder of a key saw the remote ref hold when it let go: a hint for
        # the next holder, who may skip reading the remote when a compare-and-swap checks
        # the value anyway. Any lease ending without saying so forgets the key's hint.
        self.tips: dict[Key, str] = {}

    # --- requests -------------------------------------------------------------------

    def request(
        self,
        keys: Iterable[Key],
        holder: Proc,
        lineage: Iterable[Proc],
        push: Proc | None,
        timeout: float,
        label: str,
    ) -> tuple[Lease, bool]:
        """Queue a request (granting at once what is free); True when it joined a lease."""
        wanted = tuple(sorted(set(keys)))
        joined = self._reentrant(wanted, set(lineage))
        if joined is not None:
            joined.holders[holder] = joined.holders.get(holder, 0) + 1
            joined.anchors.add(holder)
            return joined, True
        self._seq += 1
        anchors = {holder} | ({push} if push else set())
        lease = Lease(self._seq, wanted, {holder: 1}, anchors, timeout, label, self._clock())
        if not wanted:
            self._grant(lease)
            return lease, False
        self.queues.setdefault(wanted[0], []).append(lease)
        self.promote()
        return lease, False

    def _reentrant(self, wanted: tuple[Key, ...], lineage: set[Proc]) -> Lease | None:
        if not wanted:
            return None
        owners = {id(self.owner.get(k)): self.owner.get(k) for k in wanted}
        if len(owners) != 1:
            return None
        lease = next(iter(owners.values()))
        if lease is None or lease.state != "granted" or not (lease.anchors & lineage):
            return None
        return lease

    def release(self, token: int, holder: Proc | None, tips: dict[str, str] | None = None) -> bool:
        """``holder`` lets go of lease ``token`` (None: every holder); True when it ended.

        ``tips``: ref -> the value the holder saw the remote hold as it let go.
        """
        lease = self._by_token(token)
        if lease is None:
            return False
        if holder is None:
            lease.holders.clear()
        elif lease.holders.get(holder, 0) > 1:
            lease.holders[holder] -= 1
        else:
            lease.holders.pop(holder, None)
        if lease.holders:
            return False
        self._end(lease, "released")
        for key in lease.keys:
            if tips and key[1] in tips:
                self.tips[key] = tips[key[1]]
        self.promote()
        return True

    def tips_for(self, lease: Lease) -> dict[str, str]:
        """The hints for a lease's refs (ref -> oid), as its previous holders left them."""
        return {
            ref: self.tips[(remote, ref)]
            for remote, ref in lease.keys
            if (remote, ref) in self.tips
        }

    def cancel(self, lease: Lease, why: str) -> None:
        """Withdraw a request (its client went away) or end the lease."""
        self._end(lease, why)
        self.promote()

    def _by_token(self, token: int) -> Lease | None:
        for lease in set(self.owner.values()):
            if lease.token == token:
                return lease
        return None

    # --- time and death -------------------------------------------------------------

    def reap(self) -> list[Lease]:
        """End leases whose holders all died or whose time ran out; drop dead waiters."""
        now = self._clock()
        ended: list[Lease] = []
        for lease in self.all_leases():
            lease.holders = {p: n for p, n in lease.holders.items() if self._alive(p)}
            if not lease.holders:
                self._end(lease, "holder exited")
                ended.append(lease)
            elif lease.state == "granted" and lease.expires is not None and now > lease.expires:
                self._end(lease, f"timed out after {lease.timeout:g}s")
                ended.append(lease)
        if ended:
            self.promote()
        return ended

    def all_leases(self) -> list[Lease]:
        found: dict[int, Lease] = {}
        for lease in self.owner.values():
            found[lease.seq] = lease
        for queue in self.queues.values():
            for lease in queue:
                found[lease.seq] = lease
        return [found[s] for s in sorted(found)]

    def busy(self) -> bool:
        return bool(self.owner) or any(self.queues.values())

    # --- granting -------------------------------------------------------------------

    def promote(self) -> None:
        """Hand free keys to the first request waiting for each, until nothing changes."""
        changed = True
        while changed:
            changed = False
            for key in sorted(self.queues):
                queue = self.queues[key]
                if not queue or key in self.owner:
                    continue
                lease = queue.pop(0)
                self.owner[key] = lease
                lease.held.append(key)
                if len(lease.held) < len(lease.keys):
                    # Queue for the next key in order of arrival, not of this hand-over:
                    # an earlier request must not lose its turn for holding more refs.
                    nxt = self.queues.setdefault(lease.keys[len(lease.held)], [])
                    nxt.insert(sum(w.seq < lease.seq for w in nxt), lease)
                else:
                    self._grant(lease)
                changed = True
            for key in [k for k, q in self.queues.items() if not q]:
                del self.queues[key]

    def _grant(self, lease: Lease) -> None:
        self.last_token += 1
        lease.token = self.last_token
        lease.granted_at = self._clock()
        lease.state = "granted"

    def _end(self, lease: Lease, why: str) -> None:
        if lease.state == "granted":
            for key in lease.keys:  # its holder may have pushed: what it was told is old
                self.tips.pop(key, None)
        lease.state, lease.ended_why = "ended", why
        for key in lease.held:
            if self.owner.get(key) is lease:
                del self.owner[key]
        for queue in self.queues.values():
            if lease in queue:
                queue.remove(lease)

    # --- results and views ----------------------------------------------------------

    def record(self, key: Key, summary: dict[str, Any]) -> None:
        kept = self.results.setdefault(key, [])
        kept.append({"at": self._clock(), **summary})
        del kept[:-RESULTS_KEPT]

    def ahead_of(self, lease: Lease) -> int:
        """How many requests stand before ``lease`` for the key it waits on (holder included)."""
        if lease.state != "waiting" or len(lease.held) >= len(lease.keys):
            return 0
        key = lease.keys[len(lease.held)]
        queue = self.queues.get(key, [])
        before = queue.index(lease) if lease in queue else 0
        return before + (1 if key in self.owner else 0)

    def snapshot(self) -> list[dict[str, Any]]:
        keys = sorted(set(self.owner) | set(self.queues) | set(self.results))
        return [
            {
                "remote": remote,
                "ref": ref,
                "holder": self.owner[(remote, ref)].describe()
                if (remote, ref) in self.owner
                else None,
                "waiting": [w.describe() for w in self.queues.get((remote, ref), [])],
                "recent": list(self.results.get((remote, ref), [])),
            }
            for remote, ref in keys
        ]

    def to_json(self) -> dict[str, Any]:
        granted = {lease.seq: lease for lease in self.owner.values() if lease.state == "granted"}
        return {
            "last_token": self.last_token,
            "granted": [granted[s].to_json() for s in sorted(granted)],
            "results": [[list(k), v] for k, v in sorted(self.results.items())],
        }

    def load(self, data: dict[str, Any]) -> None:
        """Take over what a previous daemon persisted: its tokens, live grants, results."""
        self.last_token = max(self.last_token, int(data.get("last_token", 0)))
        for item in data.get("granted", []):
            lease = Lease.from_json(item)
            if any(k in self.owner for k in lease.keys):
                continue
            self._seq = max(self._seq, lease.seq)
            for key in lease.keys:
                self.owner[key] = lease
        for key, values in data.get("results", []):
            self.results[(str(key[0]), str(key[1]))] = list(values)[-RESULTS_KEPT:]
        self.reap()
