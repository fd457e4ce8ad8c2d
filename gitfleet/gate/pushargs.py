"""What a ``git push`` is about to push, read from its command line.

A remote helper hears which refs are pushed only after it answered ``list for-push``, yet
it must hold their leases before it lists (so that git and the pre-push hook see the
remote as it is once our turn comes). So the helper reads the ``git push`` command line
of its ancestor and predicts the destination refs. A wrong or missing prediction costs
only speed: at ``push`` time the helper re-leases the refs git really sent, in sorted
order, when they differ from the prediction.
"""

from __future__ import annotations

from gitfleet.git import run

# `git push` options whose value is the next argument (builtin/push.c).
_WITH_VALUE = frozenset({"--repo", "-o", "--push-option", "--receive-pack", "--exec"})
# Options after which the refs pushed depend on the whole repository: no prediction.
_BROAD = frozenset({"--all", "--branches", "--mirror", "--tags", "--follow-tags"})


class Prediction:
    def __init__(self) -> None:
        self.refs: dict[str, str] = {}  # destination ref -> source as given
        self.forced = False  # --force, --force-with-lease, or a "+" refspec
        self.broad = False  # --all/--mirror/--tags...: the refs cannot be predicted


def predict(args: list[str], remote: str) -> Prediction:
    """Parse the arguments of ``git push`` (after ``push``) for pushes to ``remote``."""
    guess = Prediction()
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if arg in _WITH_VALUE:
            i += 1
        elif arg in _BROAD or arg.startswith("--recurse-submodules"):
            guess.broad = True
        elif arg in ("-f", "--force") or arg.startswith("--force-with-lease"):
            guess.forced = True
        elif arg in ("-d", "--delete"):
            guess.forced = True  # a deletion is never a fast-forward
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            guess.forced |= "f" in arg[1:] or "d" in arg[1:]
            if arg.endswith("o"):
                i += 1
        elif not arg.startswith("-"):
            positional.append(arg)
    if guess.broad:
        return guess
    specs = positional[1:]
    if not specs:  # `git push [REMOTE]`: what push.default and the upstream say
        specs = _default_specs(remote)
    for spec in specs:
        if spec == "tag":
            continue
        if spec.startswith("+"):
            guess.forced, spec = True, spec[1:]
        src, colon, dst = spec.partition(":")
        if not colon:
            dst = _current_branch() if src == "HEAD" else src
        if not dst:
            continue
        guess.refs[_qualify(dst, src)] = src
    return guess


def _qualify(dst: str, src: str) -> str:
    if dst.startswith("refs/"):
        return dst
    if src == "HEAD" or src.startswith("refs/heads/"):
        return f"refs/heads/{dst}"  # a branch pushed under a short name: a branch there
    if src and run(["show-ref", "-q", "--verify", f"refs/tags/{src}"], check=False).returncode == 0:
        return f"refs/tags/{dst}"
    return f"refs/heads/{dst}"


def _current_branch() -> str:
    proc = run(["symbolic-ref", "-q", "HEAD"], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else "HEAD"


def _default_specs(remote: str) -> list[str]:
    """``git push REMOTE``: the current branch, to its upstream when that is on REMOTE."""
    if run(["config", "--get-all", f"remote.{remote}.push"], check=False).stdout.strip():
        return []  # configured push refspecs: leave it to push time
    head = _current_branch()
    if not head.startswith("refs/heads/"):
        return []
    branch = head[len("refs/heads/") :]
    up_remote = run(["config", f"branch.{branch}.remote"], check=False).stdout.strip()
    merge = run(["config", f"branch.{branch}.merge"], check=False).stdout.strip()
    if up_remote == remote and merge:
        return [f"{head}:{merge}"]
    return [f"{head}:{head}"]
