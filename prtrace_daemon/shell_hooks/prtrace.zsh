# Records each command typed inside a repo registered with prtrace as one line in a spool file
# of its own, named by this shell's pid and the command's start time: no file is ever written
# twice, so the drainer takes and removes each one once its line ends. Builtins and zsh modules
# only: no process is started per command, nothing is recorded outside registered repos, and
# $?, pipestatus, the prompt and other hooks are left as they were. Added with add-zsh-hook
# beside whatever preexec/precmd hooks are there; each function runs with zsh's own options
# (emulate -L), whatever the user's are.
if [[ -o interactive && -z ${__prtrace_loaded-} ]] && zmodload zsh/datetime zsh/mapfile 2>/dev/null \
    && autoload -Uz add-zsh-hook 2>/dev/null; then
    typeset -g __prtrace_loaded=1
    typeset -g __prtrace_spool="$__prtrace_home/spool/shell.$$" # + ".<start>.spool": one file per command
    typeset -g __prtrace_stamp="$__prtrace_home/shell/zsh.$$.stamp"
    typeset -ga __prtrace_repos
    typeset -g __prtrace_t0= __prtrace_cmd= __prtrace_in= __prtrace_cwd=$PWD __prtrace_routed=

    # Re-reads the registered (unpaused) repos. The stamp is touched first, so a list rewritten
    # while it is read is newer than the stamp and read again at the next prompt.
    __prtrace_reload() {
        emulate -L zsh
        : 2>/dev/null >|"$__prtrace_stamp"
        __prtrace_repos=("${(@f)mapfile[$__prtrace_home/repos]}")
    }

    # Sets __prtrace_in to the registered repo holding the folder $1 (by its real path too:
    # repos are listed by theirs), or to nothing.
    __prtrace_repo() {
        emulate -L zsh
        __prtrace_in=
        local list="$__prtrace_home/repos" root dir
        if [[ ! -e $list ]]; then
            __prtrace_repos=()
            return
        fi
        [[ $list -nt $__prtrace_stamp ]] && __prtrace_reload
        for dir in "$1" "${1:A}"; do
            for root in "${__prtrace_repos[@]}"; do
                if [[ -n $root && ($dir == "$root" || $dir == "$root"/*) ]] && (( ${#root} > ${#__prtrace_in} )); then
                    __prtrace_in=$root
                fi
            done
            [[ -n $__prtrace_in ]] && return
        done
    }

    # True when the command line $1 is one to leave out: typed with a leading space, matching
    # one of the user's ignore patterns, or prtrace's own (a note records itself).
    __prtrace_skip() {
        emulate -L zsh
        setopt no_bad_pattern
        local pattern
        [[ $1 == [[:space:]]* || $1 == prtrace || $1 == "prtrace "* ]] && return 0
        for pattern in "${__prtrace_ignore[@]}"; do
            [[ $1 == ${~pattern} ]] && return 0
        done
        return 1
    }

    __prtrace_escape() {
        emulate -L zsh
        local value=${1//\\/\\\\}
        value=${value//$'\t'/\\t}
        value=${value//$'\n'/\\n}
        typeset -g "$2=${value//$'\r'/\\r}"
    }

    __prtrace_preexec() {
        emulate -L zsh
        __prtrace_t0=$EPOCHREALTIME
        __prtrace_cmd=$1
    }

    __prtrace_precmd() {
        local exit_status=$? pipe="${pipestatus[*]}"
        emulate -L zsh
        local end=$EPOCHREALTIME start=$__prtrace_t0 cwd=$__prtrace_cwd command=$__prtrace_cmd routed=$__prtrace_routed
        __prtrace_t0= __prtrace_cmd= __prtrace_cwd=$PWD __prtrace_routed=
        # A wrapped command that went through `prtrace run` is recorded there, with its output.
        if [[ -n $start && -n $command && -z $routed ]]; then
            __prtrace_repo "$cwd"
            if [[ -n $__prtrace_in ]] && ! __prtrace_skip "$command"; then
                local -i ms=$(( (end - start) * 1000 ))
                __prtrace_escape "${command[1,8000]}" __prtrace_text
                __prtrace_escape "$cwd" __prtrace_where
                printf 'v1\tcommand\t%s\t%s\t%s\t%s\t%s\t%s\tzsh\t%s\n' "$start" "$__prtrace_in" "$exit_status" \
                    "$ms" "$__prtrace_where" "$pipe" "$__prtrace_text" 2>/dev/null >>|"$__prtrace_spool.${start//[.,]/}.spool"
            fi
        fi
        return $exit_status
    }

    __prtrace_reload
    add-zsh-hook preexec __prtrace_preexec
    add-zsh-hook precmd __prtrace_precmd
fi
