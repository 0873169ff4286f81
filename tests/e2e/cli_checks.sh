# cli_checks.sh: the checks the CLI test scripts share (sourced; the script sets
# $oneword, the binary, and $work, a scratch folder). Each check prints one "ok" or
# "FAIL" line and counts it in $passed / $failed.
passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# expect_fail NAME PATTERN ARGS...: `oneword ARGS` exits 1 or 2 (not a signal, not 0)
# and its stderr contains PATTERN (a fixed string).
expect_fail() {
    local name=$1 pattern=$2
    shift 2
    "$oneword" "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then
        fail "$name: exit status $rc (want 1 or 2); stderr: $(tail -c 400 "$work/err")"
    elif ! grep -qF -- "$pattern" "$work/err"; then
        fail "$name: stderr lacks '$pattern': $(tail -c 400 "$work/err")"
    else
        pass "$name (exit $rc): $(tr '\r' '\n' <"$work/err" | grep -v '^$' | tail -1)"
    fi
}

# expect_ok NAME ARGS...: `oneword ARGS` exits 0.
expect_ok() {
    local name=$1
    shift
    if "$oneword" "$@" >"$work/out" 2>"$work/err"; then
        pass "$name"
    else
        fail "$name: exit $?; stderr: $(tail -c 400 "$work/err")"
    fi
}
