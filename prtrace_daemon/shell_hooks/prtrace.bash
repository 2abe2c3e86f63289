# Records each command typed inside a repo registered with prtrace as one line in a spool file
# of its own, named by this shell's pid and the command's start time: no file is ever written
# twice, so the drainer takes and removes each one once its line ends. Builtins only: no process
# is started per command, nothing is recorded outside registered repos, and $?, PIPESTATUS, the
# prompt and other prompt hooks are left as they were. With bash-preexec loaded first, its
# preexec/precmd arrays are used; otherwise PS0 marks a command's start and the first
# PROMPT_COMMAND entry (returning $? untouched) its end.
if [[ $- == *i* && -z ${__prtrace_loaded-} ]] && ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 404)); then
    __prtrace_loaded=1
    __prtrace_spool="$__prtrace_home/spool/shell.$$" # + ".<start, microseconds>.spool": one file per command
    __prtrace_scratch="$__prtrace_home/shell/bash.$$.out"
    __prtrace_stamp="$__prtrace_home/shell/bash.$$.stamp"
    __prtrace_repos=()
    __prtrace_nil=
    __prtrace_t0=
    __prtrace_cmd=
    __prtrace_in=
    __prtrace_cwd=$PWD
    __prtrace_next=
    __prtrace_routed=
    __prtrace_status=0
    __prtrace_lasthist=
    __prtrace_physical_of=
    __prtrace_physical=

    # A builtin's output without a subshell: written over a scratch file in place, ended with a
    # NUL (truncating a file costs ~0.2 ms on ext4), and read back into __prtrace_out.
    __prtrace_capture() {
        __prtrace_out=
        { "$@" && printf '\0'; } 2>/dev/null 1<>"$__prtrace_scratch" || return 1
        IFS= read -r -d '' __prtrace_out 2>/dev/null <"$__prtrace_scratch"
        return 0
    }

    # Re-reads the registered (unpaused) repos. The stamp is touched first, so a list rewritten
    # while it is read is newer than the stamp and read again at the next prompt.
    __prtrace_reload() {
        : 2>/dev/null >|"$__prtrace_stamp"
        __prtrace_repos=()
        mapfile -t __prtrace_repos 2>/dev/null <"$__prtrace_home/repos"
    }

    # Sets __prtrace_in to the registered repo holding the folder $1 (the current one, when it is
    # reached through a symlink: repos are listed by their real paths), or to nothing.
    __prtrace_repo() {
        __prtrace_in=
        local list="$__prtrace_home/repos" root dir
        if [[ ! -e $list ]]; then
            __prtrace_repos=()
            return
        fi
        [[ $list -nt $__prtrace_stamp ]] && __prtrace_reload
        ((${#__prtrace_repos[@]})) || return
        for dir in "$1" physical; do
            if [[ $dir == physical ]]; then
                [[ -n $__prtrace_in || $1 != "$PWD" ]] && return
                if [[ $__prtrace_physical_of != "$PWD" ]]; then
                    __prtrace_capture builtin pwd -P || return
                    __prtrace_physical=${__prtrace_out%$'\n'}
                    __prtrace_physical_of=$PWD
                fi
                [[ $__prtrace_physical == "$PWD" ]] && return
                dir=$__prtrace_physical
            fi
            for root in "${__prtrace_repos[@]}"; do
                if [[ -n $root && ($dir == "$root" || $dir == "$root"/*) ]] && ((${#root} > ${#__prtrace_in})); then
                    __prtrace_in=$root
                fi
            done
        done
    }

    # True when the command line $1 is one to leave out: typed with a leading space, matching
    # one of the user's ignore patterns, or prtrace's own (a note records itself).
    __prtrace_skip() {
        local pattern
        [[ $1 == [[:space:]]* || $1 == prtrace || $1 == "prtrace "* ]] && return 0
        for pattern in "${__prtrace_ignore[@]}"; do
            # shellcheck disable=SC2053 # the pattern is a glob on purpose
            [[ $1 == $pattern ]] && return 0
        done
        return 1
    }

    # The command just run, from the history list; sets __prtrace_cmd (empty when it cannot be
    # known). A line that did not reach the list is the same command again when the user keeps
    # repeats out (ignoredups); otherwise it may be a leading-space line, which must not be
    # guessed at: it is left out.
    __prtrace_from_history() {
        __prtrace_cmd=
        [[ -o history ]] || return
        HISTTIMEFORMAT='' __prtrace_capture builtin history 1 || return
        [[ $__prtrace_out =~ ^\ *([0-9]+)[\ *]\ (.*)$ ]] || return
        local number=${BASH_REMATCH[1]} text=${BASH_REMATCH[2]%$'\n'} control=${HISTCONTROL-}
        if [[ $number == "$__prtrace_lasthist" ]]; then
            [[ -z ${HISTIGNORE-} && ($control == *ignoredups* || $control == *erasedups*) ]] || return
            [[ $control == *ignorespace* || $control == *ignoreboth* ]] && return
        fi
        __prtrace_lasthist=$number
        __prtrace_cmd=$text
    }

    # Escapes \, tab, newline and CR so a record stays one line; the result goes to variable $2.
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
        local routed=$__prtrace_routed
        __prtrace_t0=
        __prtrace_routed=
        if [[ -n $start && -n $repo ]]; then
            [[ $3 == prompt ]] && __prtrace_from_history
            # A wrapped command that went through `prtrace run` is recorded there, with its output.
            if [[ -n $__prtrace_cmd && -z $routed ]] && ! __prtrace_skip "$__prtrace_cmd"; then
                local text at
                __prtrace_escape "${__prtrace_cmd:0:8000}" text
                __prtrace_escape "$cwd" cwd
                printf -v at '%d.%06d' $((start / 1000000)) $((start % 1000000))
                printf 'v1\tcommand\t%s\t%s\t%s\t%s\t%s\t%s\tbash\t%s\n' "$at" "$repo" "$1" \
                    $(((end - start) / 1000)) "$cwd" "$2" "$text" 2>/dev/null >>"$__prtrace_spool.$start.spool"
            fi
        elif [[ $3 == prompt && -n $start ]]; then
            __prtrace_lasthist= # outside repos the list is not read: compare afresh next time
        fi
        __prtrace_cmd=
        __prtrace_cwd=$PWD
        __prtrace_repo "$PWD"
        __prtrace_next=$__prtrace_in # where the next command starts
        if [[ $3 == prompt && -n $__prtrace_next && -z $__prtrace_lasthist ]]; then
            __prtrace_from_history # the entry the next command is compared with
            __prtrace_cmd=
        fi
    }

    __prtrace_restore() { return "$__prtrace_status"; }

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
            __prtrace_status=$status
            __prtrace_after "$status" "$pipe" prompt
            [[ ${PS0-} == *__prtrace_t0* ]] || PS0="${PS0-}$__prtrace_ps0"
            __prtrace_first
            return "$status"
        }
        # Keeps __prtrace_prompt the first PROMPT_COMMAND entry when a later rc line prepends to
        # it: what ran before it would have changed $?. Where it was, __prtrace_restore hands
        # on the status it saved.
        __prtrace_first() {
            if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)); then
                [[ ${PROMPT_COMMAND[0]-} == __prtrace_prompt ]] && return
                local entry rest=()
                for entry in "${PROMPT_COMMAND[@]}"; do
                    rest+=("${entry//__prtrace_prompt/__prtrace_restore}")
                done
                PROMPT_COMMAND=(__prtrace_prompt "${rest[@]}")
            else
                [[ ${PROMPT_COMMAND-} == __prtrace_prompt || ${PROMPT_COMMAND-} == "__prtrace_prompt;"* ]] && return
                PROMPT_COMMAND="__prtrace_prompt;${PROMPT_COMMAND//__prtrace_prompt/__prtrace_restore}"
            fi
        }
        if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)); then
            PROMPT_COMMAND=(__prtrace_prompt "${PROMPT_COMMAND[@]}")
        else
            PROMPT_COMMAND="__prtrace_prompt${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
        fi
    fi
    __prtrace_reload
    __prtrace_repo "$PWD"
    __prtrace_next=$__prtrace_in
    [[ -n $__prtrace_next && -z ${bash_preexec_imported-}${__bp_imported-} ]] && __prtrace_from_history
    __prtrace_cmd=
fi
