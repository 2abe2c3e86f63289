# Records each command typed inside a repo registered with prtrace as one line in a spool file
# of its own, named by fish's pid and the command's end time: no file is ever written twice, so
# the drainer takes and removes each one once its line ends. It hooks fish's own
# fish_preexec/fish_postexec events (beside any others).
# Builtins only, except one `date` per recorded command (fish has no clock variable): nothing
# is done outside registered repos, and $status, $pipestatus and the prompt are left alone.
if status is-interactive; and not set -q __prtrace_loaded
    set -g __prtrace_loaded 1
    set -g __prtrace_spool "$__prtrace_home/spool/shell.$fish_pid" # + ".<end>.spool": one file per command
    set -g __prtrace_in ''
    set -g __prtrace_cwd $PWD

    # Succeeds, with __prtrace_in set, when one of the folders given (a path as typed, and as
    # `pwd -P` has it: repos are listed by their real paths) is inside a registered repo.
    function __prtrace_repo
        set -g __prtrace_in ''
        set -l list "$__prtrace_home/repos"
        test -r $list; or return 1
        while read -l root
            test -n "$root"; or continue
            for dir in $argv
                if test "$dir" = "$root"; or test (string sub -l (math (string length -- $root) + 1) -- "$dir") = "$root/"
                    if test (string length -- $root) -gt (string length -- "$__prtrace_in")
                        set -g __prtrace_in $root
                    end
                end
            end
        end <$list
        test -n "$__prtrace_in"
    end

    # Succeeds when the command line is one to leave out: typed with a leading space, matching
    # one of the user's ignore patterns, or prtrace's own (a note records itself).
    function __prtrace_skip
        string match -qr '^\s' -- $argv[1]; and return 0
        test "$argv[1]" = prtrace; and return 0
        string match -q -- 'prtrace *' $argv[1]; and return 0
        for pattern in $__prtrace_ignore
            string match -q -- $pattern $argv[1]; and return 0
        end
        return 1
    end

    function __prtrace_escape
        string replace -a -- \\ \\\\ $argv[1] | string replace -a -- \t \\t | string replace -a -- \r \\r | string join \\n
    end

    function __prtrace_preexec --on-event fish_preexec
        set -g __prtrace_cwd $PWD
        set -g __prtrace_real (builtin pwd -P 2>/dev/null)
        set -g __prtrace_armed 1
    end

    function __prtrace_postexec --on-event fish_postexec
        set -l exit_status $status
        set -l pipe $pipestatus
        set -q __prtrace_armed; or return
        set -e __prtrace_armed
        # A wrapped command that went through `prtrace run` is recorded there, with its output.
        if set -q __prtrace_routed
            set -e __prtrace_routed
            return
        end
        set -l command $argv[1]
        test -n "$command"; or return
        __prtrace_repo $__prtrace_cwd $__prtrace_real; or return
        __prtrace_skip $command; and return
        test -d "$__prtrace_home/spool"; or return
        set -l end (date +%s.%N 2>/dev/null); or return
        set -l text (string sub -l 8000 -- (__prtrace_escape $command))
        set -l cwd (__prtrace_escape $__prtrace_cwd)
        # "@": the time the command ended; it started $CMD_DURATION ms before.
        set -l stamp (string replace -a -r '[.,]' '' -- $end)
        printf 'v1\tcommand\t@%s\t%s\t%s\t%s\t%s\t%s\tfish\t%s\n' $end $__prtrace_in $exit_status \
            $CMD_DURATION "$cwd" "$pipe" "$text" 2>/dev/null >>$__prtrace_spool.$stamp.spool
    end
end
