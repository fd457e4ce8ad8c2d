"""The file graph (who references whose definitions) and personalized PageRank over it.

Plain numpy rather than networkx or scipy: the graph is one edge list, PageRank is a
few dozen sparse matrix-vector products, and neither library is otherwise needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Rank also flows backwards (definer -> referencer) at this fraction: the callers of a
# function a task names are often where the change lands.
REVERSE_WEIGHT = 0.4
# Each file keeps only its strongest references: a file that mentions hundreds of names
# defined elsewhere (a registry, an __init__ re-exporting everything) would otherwise
# spread its rank thinly over all of them, and every PageRank step pays for each edge.
MAX_OUT = 24


@dataclass
class FileGraph:
    """Weighted directed edges between file ids, stored column-normalized for PageRank."""

    n: int
    src: npt.NDArray[np.int32]
    dst: npt.NDArray[np.int32]
    weight: npt.NDArray[np.float64]  # normalized so each source's out-weights sum to 1
    dangling: npt.NDArray[np.bool_]  # files with no out-edge
    indptr: npt.NDArray[np.int64]  # edges are sorted by source: file i's are indptr[i:i+2]

    @classmethod
    def from_edges(
        cls,
        n: int,
        srcs: Sequence[int] | npt.NDArray[np.int64],
        dsts: Sequence[int] | npt.NDArray[np.int64],
        weights: Sequence[float] | npt.NDArray[np.float64],
    ) -> FileGraph:
        fwd_s = np.asarray(srcs, dtype=np.int32)
        fwd_d = np.asarray(dsts, dtype=np.int32)
        fwd_w = np.asarray(weights, dtype=np.float64)
        # strongest first within each source (ties: lower target id), then cut at MAX_OUT
        order = np.lexsort((fwd_d, -fwd_w, fwd_s))
        fwd_s, fwd_d, fwd_w = fwd_s[order], fwd_d[order], fwd_w[order]
        starts = np.searchsorted(fwd_s, fwd_s, side="left")
        keep = (np.arange(len(fwd_s)) - starts) < MAX_OUT
        fwd_s, fwd_d, fwd_w = fwd_s[keep], fwd_d[keep], fwd_w[keep]
        src = np.concatenate([fwd_s, fwd_d])
        dst = np.concatenate([fwd_d, fwd_s])
        w = np.concatenate([fwd_w, fwd_w * REVERSE_WEIGHT])
        order = np.argsort(src, kind="stable")
        src, dst, w = src[order], dst[order], w[order]
        out = np.bincount(src, weights=w, minlength=n) if n else np.zeros(0)
        norm = np.divide(w, out[src], out=np.zeros_like(w), where=out[src] > 0)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        return cls(n=n, src=src, dst=dst, weight=norm, dangling=out == 0, indptr=indptr)

    def neighbours(self, file_id: int) -> npt.NDArray[np.int32]:
        """Files this one references or is referenced by."""
        return np.unique(self.dst[self.indptr[file_id] : self.indptr[file_id + 1]])

    def pagerank(
        self,
        personalization: npt.NDArray[np.float64],
        *,
        damping: float = 0.7,
        iterations: int = 24,
        tol: float = 1e-6,
    ) -> npt.NDArray[np.float64]:
        """Personalized PageRank; restarts (and dangling mass) go to ``personalization``.

        A damping below the usual 0.85 keeps rank near the seeds: we want the
        neighbourhood of what the task names, not the globally central files.
        """
        if self.n == 0:
            return np.zeros(0)
        p = np.clip(personalization.astype(np.float64), 0.0, None)
        total = p.sum()
        p = p / total if total > 0 else np.full(self.n, 1.0 / self.n)
        rank = p.copy()
        for _ in range(iterations):
            spread = np.bincount(self.dst, weights=rank[self.src] * self.weight, minlength=self.n)
            lost = rank[self.dangling].sum()
            new = damping * (spread + lost * p) + (1.0 - damping) * p
            if np.abs(new - rank).sum() < tol:
                rank = new
                break
            rank = new
        return rank
