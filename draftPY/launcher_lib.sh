# Shared by the .sh launchers (run_vaegan.sh, draftPY/run_job.sh): `source` it, then call these.

is_true() { [[ "${1,,}" == "true" ]]; }

# use_project_python ROOT: unless PYTHON_EXE is set, it becomes ROOT's venv interpreter when there is one,
# else python3 (or python) on PATH. (setup.sh creates that venv with BASE_PYTHON.)
use_project_python() {
    if [[ -n "${PYTHON_EXE:-}" ]]; then
        return
    fi
    if [[ -x "$1/venv/bin/python" ]]; then
        PYTHON_EXE="$1/venv/bin/python"
    elif command -v python3 >/dev/null 2>&1; then
        PYTHON_EXE=python3
    else
        PYTHON_EXE=python
    fi
}

# print_dry_run ARG...: the command as one shell-quoted line after "DRY_RUN:" (the tests read that line)
print_dry_run() {
    printf 'DRY_RUN:'
    printf ' %q' "$@"
    printf '\n'
}

# run_and_exit WHAT NOTE ARG...: run the command, say whether WHAT finished (NOTE ends the success line),
# wait for Enter when PAUSE_AT_END is true, and exit with the command's exit code.
run_and_exit() {
    local what="$1" note="$2" code
    shift 2
    "$@"
    code=$?
    if (( code == 0 )); then
        echo "$what finished successfully.$note"
    else
        echo "$what FAILED with exit code $code (see the messages above)." >&2
    fi
    if is_true "${PAUSE_AT_END:-auto}"; then
        read -r -p "Press Enter to close..." _ || true
    fi
    exit "$code"
}
