"""One conflicted file's three versions, and how a rung says no."""

from typing import NamedTuple

# Files past this size are never merged by value or by lines: parsing or diffing them costs
# more than a conflict report, and nobody reviews a machine merge of a 1 MiB file.
MAX_BYTES = 1024 * 1024


class Sides(NamedTuple):
    """The common base (None: both sides added the file), the target's and the branch's."""

    path: str
    base: bytes | None
    ours: bytes
    theirs: bytes


class Decline(Exception):
    """A rung cannot settle this file; the message says why, for the conflict report."""


def is_binary(data: bytes) -> bool:
    """Git's own test: a NUL byte in the first 8000 bytes."""
    return b"\0" in data[:8000]


def check_size(sides: Sides) -> None:
    """Refuse binary and huge files, which no rung below the model may touch."""
    for data in (sides.base or b"", sides.ours, sides.theirs):
        if is_binary(data):
            raise Decline("binary file")
        if len(data) > MAX_BYTES:
            raise Decline(f"over {MAX_BYTES // (1024 * 1024)} MiB")


def decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Decline(f"the {what} version is not UTF-8 text") from None
