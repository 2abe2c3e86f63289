# Records each command typed inside a repo registered with prtrace by appending one line to
# prtrace's spool. Builtins only: no process is started per command, nothing is done outside
# registered repos, and $?, PIPESTATUS, the prompt and other prompt hooks are left as they were.
# With bash-preexec loaded first, its preexec/precmd arrays are used; otherwise PS0 marks a
# command's start and a PROMPT_COMMAND entry (run first, returning $? untouched) its end.
if [[ $- == *i* && -z ${__prtrace_loaded-} ]] && ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 404)); then
    __prtrace_loaded=1
    __prtrace_spool="$__prtrace_home/spool/shell.$$.spool"
    __prtrace_hist="$__prtrace_home/shell/bash.$$.hist"
    __prtrace_stamp="$__prtrace_home/shell/bash.$$.stamp"
    __prtrace_repos=()
    __prtrace_nil=
    __prtrace_t0=
    __prtrace_cmd=
    __prtrace_in=
    __prtrace_cwd=$PWD
    __prtrace_next=
    __prtrace_hc_user=
    __prtrace_hc_ours=

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
            mapfile -t __prtrace_repos 2>/dev/null <"$list"
            : 2>/dev/null >|"$__prtrace_stamp"
        fi
        for root in "${__prtrace_repos[@]}"; do
            if [[ -n $root && ($1 == "$root" || $1 == "$root"/*) ]] && ((${#root} > ${#__prtrace_in})); then
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
            # shellcheck disable=SC2053 # the pattern is a glob on purpose
            [[ $1 == $pattern ]] && return 0
        done
        for pattern in "${__prtrace_wrapped[@]}"; do
            [[ $1 == "$pattern" || $1 == "$pattern "* ]] && return 0
        done
        return 1
    }

    # The last history entry, without a subshell: history writes it to a file, read reads it back.
    # Sets __prtrace_cmd (empty when the command did not reach the history list).
    __prtrace_from_history() {
        __prtrace_cmd=
        local entry
        # Written over in place and ended with a NUL, not truncated: truncating a file costs
        # ~0.2 ms on ext4, more than all the rest of the hook.
        { HISTTIMEFORMAT='' builtin history 1 && printf '\0'; } 2>/dev/null 1<>"$__prtrace_hist" || return
        IFS= read -r -d '' entry 2>/dev/null <"$__prtrace_hist"
        [[ $entry =~ ^\ *([0-9]+)[\ *]\ (.*)$ ]] || return
        local number=${BASH_REMATCH[1]} text=${BASH_REMATCH[2]%$'\n'}
        if [[ $number == "${__prtrace_lasthist-}" ]]; then
            # Not added to the history list: a repeat that ignoredups/erasedups kept out is the
            # same command again; a line HISTIGNORE kept out is the user's to keep out.
            [[ -z ${HISTIGNORE-} && ($HISTCONTROL == *ignoredups* || $HISTCONTROL == *erasedups*) ]] || return
        fi
        __prtrace_lasthist=$number
        if [[ $text == [[:space:]]* && -n $__prtrace_hc_ours ]]; then
            # The user asked bash not to keep leading-space lines: it is taken out now.
            builtin history -d "$number" 2>/dev/null
            __prtrace_lasthist=$((number - 1))
        fi
        __prtrace_cmd=$text
    }

    # Inside a repo, a leading-space line must reach the history list for one prompt so the hook
    # can see it is one (it is deleted right after); everywhere else HISTCONTROL is the user's.
    __prtrace_histcontrol() {
        if [[ -n $__prtrace_hc_ours && $HISTCONTROL != "$__prtrace_hc_ours" ]]; then
            __prtrace_hc_ours= # the user set it since: theirs wins
        fi
        if [[ -n $1 && -z $__prtrace_hc_ours && ($HISTCONTROL == *ignorespace* || $HISTCONTROL == *ignoreboth*) ]]; then
            __prtrace_hc_user=$HISTCONTROL
            HISTCONTROL=${HISTCONTROL//ignorespace/}
            HISTCONTROL=${HISTCONTROL//ignoreboth/ignoredups}:
            __prtrace_hc_ours=$HISTCONTROL
        elif [[ -z $1 && -n $__prtrace_hc_ours ]]; then
            HISTCONTROL=$__prtrace_hc_user
            __prtrace_hc_ours=
        fi
    }

    # Escapes \, tab, newline and CR so a record stays one line.
    __prtrace_escape() {
        local value=${1//\\/\\\\}
        value=${value//$'\t'/\\t}
        value=${value//$'\n'/\\n}
        printf -v "$2" '%s' "${value//$'\r'/\\r}"
    }

    # After a command: one spool line when it started inside a registered repo (as worked out
    # at the prompt before it). $1 $?, $2 the pipe's statuses, $3 how the hook is attached.
    __prtrace_after() {
        local end=${EPOCHREALTIME/[.,]/} start=$__prtrace_t0 cwd=$__prtrace_cwd repo=$__prtrace_next
        __prtrace_t0=
        if [[ -n $start && -n $repo ]]; then
            [[ $3 == prompt ]] && __prtrace_from_history
            if [[ -n $__prtrace_cmd ]] && ! __prtrace_skip "$__prtrace_cmd"; then
                local text at
                __prtrace_escape "${__prtrace_cmd:0:8000}" text
                __prtrace_escape "$cwd" cwd
                printf -v at '%d.%06d' $((start / 1000000)) $((start % 1000000))
                printf 'v1\tcommand\t%s\t%s\t%s\t%s\t%s\t%s\tbash\t%s\n' "$at" "$repo" "$1" \
                    $(((end - start) / 1000)) "$cwd" "$2" "$text" 2>/dev/null >>"$__prtrace_spool"
            fi
        fi
        __prtrace_cmd=
        __prtrace_cwd=$PWD
        __prtrace_repo "$PWD"
        __prtrace_next=$__prtrace_in # where the next command starts
        if [[ $3 == prompt ]]; then
            __prtrace_histcontrol "$__prtrace_next"
            [[ $PS0 == *__prtrace_t0* ]] || PS0+=$__prtrace_ps0
        fi
    }

    __prtrace_repo "$PWD"
    __prtrace_next=$__prtrace_in
    if [[ -n ${bash_preexec_imported-}${__bp_imported-} ]]; then
        __prtrace_preexec() {
            __prtrace_t0=${EPOCHREALTIME/[.,]/}
            __prtrace_cmd=$1
        }
        __prtrace_precmd() {
            local status=$? pipe="${BP_PIPESTATUS[*]-}"
            __prtrace_after "$status" "${pipe:-$status}" preexec
        }
        preexec_functions+=(__prtrace_preexec)
        precmd_functions+=(__prtrace_precmd)
    else
        # PS0 is expanded when a command line has been read, before it runs: the arithmetic
        # notes the start time and expands to nothing.
        __prtrace_ps0='${__prtrace_nil:0:$((__prtrace_t0=${EPOCHREALTIME/[.,]/},0))}'
        PS0="${PS0-}$__prtrace_ps0"
        __prtrace_prompt() {
            local status=$? pipe="${PIPESTATUS[*]}"
            __prtrace_after "$status" "$pipe" prompt
            return "$status"
        }
        __prtrace_from_history # the current last entry, so the first command is compared with it
        __prtrace_cmd=
        if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)); then
            PROMPT_COMMAND=(__prtrace_prompt "${PROMPT_COMMAND[@]}")
        else
            PROMPT_COMMAND="__prtrace_prompt${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
        fi
        __prtrace_histcontrol "$__prtrace_next"
    fi
fi
