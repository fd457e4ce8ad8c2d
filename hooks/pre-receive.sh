#!/bin/sh
# gitfleet server hook shim (installed by `gitfleet server install`; `gitfleet server
# uninstall` puts back what was here). It finds gitfleet and hands over; the logic lives in
# `gitfleet hook pre-receive`.
GITFLEET_PYTHON='@PYTHON@'
CHAINED="$0.gitfleet-orig"
run_gitfleet() {
    if [ -x "$GITFLEET_PYTHON" ]; then
        "$GITFLEET_PYTHON" -m gitfleet hook pre-receive "$@"
    elif command -v gitfleet >/dev/null 2>&1; then
        gitfleet hook pre-receive "$@"
    else
        # Fail closed: a guard that cannot run must not wave pushes through.
        echo "gitfleet: '$GITFLEET_PYTHON' is gone and gitfleet is not on PATH on this" \
            "server; reinstall gitfleet, then run \`gitfleet server install\` again" >&2
        return 1
    fi
}
if [ ! -e "$CHAINED" ]; then
    run_gitfleet "$@"
    exit $?
fi
# Another pre-receive hook was here first: run ours, then it, each with the same stdin (both
# read the updated refs there); either one refuses the push.
stdin_copy=$(mktemp "${TMPDIR:-/tmp}/gitfleet-hook.XXXXXX") || exit 1
trap 'rm -f "$stdin_copy"' EXIT
cat >"$stdin_copy"
run_gitfleet "$@" <"$stdin_copy" || exit $?
"$CHAINED" "$@" <"$stdin_copy"
