"""The definitions of a whole tree, stored as a few arrays and read back lazily.

A 5,000-file tree has ~75,000 definitions and ~75,000 defined names. As Python objects
(a list of NamedTuples per file, a dict of lists) they took a third of a second to unpickle
on every warm query (0.3-0.45 s in all), which then looks at a few dozen files. Stored as
columns they unpickle in milliseconds, and a file's definitions are rebuilt when looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from gitfleet.context.symbols import Definition, Tagged

_KINDS = ("function", "method", "class", "type", "constant", "module", "macro")
_KIND_CODE = {k: i for i, k in enumerate(_KINDS)}


def _split(joined: str, count: int) -> list[str]:
    return joined.split("\0") if count else []


class DefTable:
    """``table[file_id]`` is that file's definitions, in file order."""

    def __init__(self, per_file: Sequence[Tagged]) -> None:
        n = sum(len(t.names) for t in per_file)
        self.ptr = np.zeros(len(per_file) + 1, dtype=np.int64)
        np.cumsum([len(t.names) for t in per_file], out=self.ptr[1:])
        # one string pickles in one go; the columns are chained in C
        self.joined = "\0".join(chain.from_iterable(t.names for t in per_file))
        kinds = map(_KIND_CODE.__getitem__, chain.from_iterable(t.kinds for t in per_file))
        self.kinds = np.fromiter(kinds, np.uint8, n)
        self.lines = np.fromiter(chain.from_iterable(t.lines for t in per_file), np.int32, n)
        self.ends = np.fromiter(chain.from_iterable(t.ends for t in per_file), np.int32, n)
        self.depths = np.fromiter(chain.from_iterable(t.depths for t in per_file), np.int16, n)
        self._names: list[str] | None = None
        self._built: dict[int, list[Definition]] = {}

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def __getitem__(self, file_id: int) -> list[Definition]:
        if file_id not in self._built:  # each cycle of a query looks at the same files
            self._built[file_id] = self._build(file_id)
        return list(self._built[file_id])

    def _build(self, file_id: int) -> list[Definition]:
        if self._names is None:
            self._names = _split(self.joined, len(self.lines))
        lo, hi = int(self.ptr[file_id]), int(self.ptr[file_id + 1])
        return [
            Definition(self._names[i], _KINDS[k], line, end, depth)
            for i, k, line, end, depth in zip(
                range(lo, hi),
                self.kinds[lo:hi].tolist(),
                self.lines[lo:hi].tolist(),
                self.ends[lo:hi].tolist(),
                self.depths[lo:hi].tolist(),
                strict=True,
            )
        ]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DefTable) and [self[i] for i in range(len(self))] == [
            other[i] for i in range(len(other))
        ]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_names", "_built")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._names = None
        self._built = {}


class Definers:
    """Which files define each name: ``definers.get(name)`` -> sorted file ids."""

    def __init__(
        self, names: list[str], ptr: npt.NDArray[np.int64], files: npt.NDArray[np.int32]
    ) -> None:
        """Name ``names[i]`` is defined in ``files[ptr[i]:ptr[i + 1]]`` (ascending)."""
        self.joined = "\0".join(names)
        self.count = len(names)
        self.ptr = ptr
        self.files = files
        self._rows: dict[str, int] | None = None
        self._names: list[str] | None = names

    @classmethod
    def of(cls, files_defining: Sequence[Sequence[str]]) -> Definers:
        """From the names each file defines (file ids are positions; repeats are fine)."""
        numbering: dict[str, int] = {}
        flat = list(chain.from_iterable(files_defining))
        ids = np.fromiter(
            (numbering.setdefault(n, len(numbering)) for n in flat), np.int64, len(flat)
        )
        n_files = max(len(files_defining), 1)
        owner = np.repeat(
            np.arange(len(files_defining), dtype=np.int64), [len(f) for f in files_defining]
        )
        pairs = np.unique(ids * n_files + owner)  # one per (name, file), by name then file
        ptr = np.zeros(len(numbering) + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // n_files, minlength=len(numbering)), out=ptr[1:])
        return cls(list(numbering), ptr, (pairs % n_files).astype(np.int32))

    def sizes(self) -> npt.NDArray[np.int64]:
        """How many files define each name, in ``names()`` order."""
        return np.diff(self.ptr)

    def _row(self, name: str) -> int | None:
        if self._rows is None:
            self._rows = {n: i for i, n in enumerate(self.names())}
        return self._rows.get(name)

    def names(self) -> list[str]:
        if self._names is None:
            self._names = _split(self.joined, self.count)
        return self._names

    def get(self, name: str, default: Sequence[int] = ()) -> list[int]:
        row = self._row(name)
        if row is None:
            return list(default)
        files: list[int] = self.files[self.ptr[row] : self.ptr[row + 1]].tolist()
        return files

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._row(name) is not None

    def __len__(self) -> int:
        return self.count

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Definers)
            and self.joined == other.joined
            and np.array_equal(self.ptr, other.ptr)
            and np.array_equal(self.files, other.files)
        )

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_rows", "_names")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rows = None
        self._names = None
