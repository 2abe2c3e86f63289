# Records each command typed inside a repo registered with prtrace by appending one line to
# prtrace's spool. Builtins and zsh modules only: no process is started per command, nothing
# is done outside registered repos, and $?, pipestatus, the prompt and other hooks are left
# as they were. Added with add-zsh-hook beside whatever preexec/precmd hooks are there.
if [[ -o interactive && -z ${__prtrace_loaded-} ]] && zmodload zsh/datetime zsh/mapfile 2>/dev/null \
    && autoload -Uz add-zsh-hook 2>/dev/null; then
    typeset -g __prtrace_loaded=1
    typeset -g __prtrace_spool="$__prtrace_home/spool/shell.$$.spool"
    typeset -g __prtrace_stamp="$__prtrace_home/shell/zsh.$$.stamp"
    typeset -ga __prtrace_repos
    typeset -g __prtrace_t0= __prtrace_cmd= __prtrace_in= __prtrace_cwd=$PWD

    # Sets __prtrace_in to the registered (unpaused) repo holding the folder $1, or to nothing.
    # The list is re-read only when prtrace has rewritten it since this shell last did.
    __prtrace_repo() {
        __prtrace_in=
        local list="$__prtrace_home/repos" root
        if [[ ! -e $list ]]; then
            __prtrace_repos=()
            return
        fi
        if [[ ! -e $__prtrace_stamp || $list -nt $__prtrace_stamp ]]; then
            __prtrace_repos=("${(@f)mapfile[$list]}")
            : 2>/dev/null >|"$__prtrace_stamp"
        fi
        for root in "${__prtrace_repos[@]}"; do
            if [[ -n $root && ($1 == "$root" || $1 == "$root"/*) ]] && (( ${#root} > ${#__prtrace_in} )); then
                __prtrace_in=$root
            fi
        done
    }

    # True when the command line $1 is one to leave out: typed with a leading space, matching
    # one of the user's ignore patterns, or a wrapped command (`prtrace run` records that one).
    __prtrace_skip() {
        local pattern
        [[ $1 == [[:space:]]* ]] && return 0
        for pattern in "${__prtrace_ignore[@]}"; do
            [[ $1 == ${~pattern} ]] && return 0
        done
        for pattern in "${__prtrace_wrapped[@]}"; do
            [[ $1 == "$pattern" || $1 == "$pattern "* ]] && return 0
        done
        return 1
    }

    __prtrace_escape() {
        local value=${1//\\/\\\\}
        value=${value//$'\t'/\\t}
        value=${value//$'\n'/\\n}
        typeset -g "$2=${value//$'\r'/\\r}"
    }

    __prtrace_preexec() {
        __prtrace_t0=$EPOCHREALTIME
        __prtrace_cmd=$1
    }

    __prtrace_precmd() {
        local exit_status=$? pipe="${pipestatus[*]}" end=$EPOCHREALTIME
        local start=$__prtrace_t0 cwd=$__prtrace_cwd command=$__prtrace_cmd
        __prtrace_t0= __prtrace_cmd= __prtrace_cwd=$PWD
        if [[ -n $start && -n $command ]]; then
            __prtrace_repo "$cwd"
            if [[ -n $__prtrace_in ]] && ! __prtrace_skip "$command"; then
                local -i ms=$(( (end - start) * 1000 ))
                __prtrace_escape "${command[1,8000]}" __prtrace_text
                __prtrace_escape "$cwd" __prtrace_where
                printf 'v1\tcommand\t%s\t%s\t%s\t%s\t%s\t%s\tzsh\t%s\n' "$start" "$__prtrace_in" "$exit_status" \
                    "$ms" "$__prtrace_where" "$pipe" "$__prtrace_text" 2>/dev/null >>|"$__prtrace_spool"
            fi
        fi
        return $exit_status
    }

    add-zsh-hook preexec __prtrace_preexec
    add-zsh-hook precmd __prtrace_precmd
fi
