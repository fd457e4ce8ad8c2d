#!/bin/sh
# gitfleet hook shim (installed by `gitfleet init`; `gitfleet uninstall` restores what was here).
# It only finds gitfleet and hands over; the logic lives in `gitfleet hook @HOOK@`.
GITFLEET_PYTHON='@PYTHON@'
CHAINED="$0.gitfleet-orig"
run_gitfleet() {
    # A push routed through git-remote-gitfleet is checked by the helper, under its lease.
    case "@HOOK@ $2" in
        "pre-push gitfleet::"*) cat >/dev/null; return 0 ;;
    esac
    if [ -x "$GITFLEET_PYTHON" ]; then
        "$GITFLEET_PYTHON" -m gitfleet hook @HOOK@ "$@"
    elif command -v gitfleet >/dev/null 2>&1; then
        gitfleet hook @HOOK@ "$@"
    else
        echo "gitfleet: '$GITFLEET_PYTHON' is gone and gitfleet is not on PATH;" \
            "reinstall gitfleet, then run \`gitfleet init\` again" >&2
        return 1
    fi
}
if [ ! -e "$CHAINED" ]; then
    run_gitfleet "$@"
    exit $?
fi
# Another hook was here first: run ours, then it, each with the same stdin (pre-push reads
# the refs being pushed from stdin, and both must see every line).
stdin_copy=$(mktemp "${TMPDIR:-/tmp}/gitfleet-hook.XXXXXX") || exit 1
trap 'rm -f "$stdin_copy"' EXIT
cat >"$stdin_copy"
run_gitfleet "$@" <"$stdin_copy" || exit $?
"$CHAINED" "$@" <"$stdin_copy"
