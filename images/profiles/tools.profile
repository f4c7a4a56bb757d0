# tools: minimal, plus u-root's core commands.
#
# They are built from source with the Go toolchain into one binary,
# /bbin/bb, with a link per command in /bbin (u-root's layout): /bin stays
# busybox's, so task commands behave the same in every profile, and a task
# that wants u-root's version asks for it, as in `/bbin/ls -l`. Each
# command must be a tool of our go.mod, pinned with its version:
#   go get -tool github.com/u-root/u-root/cmds/core/NAME@v0.16.0
#
# The shell is busybox's sh from minimal. u-root's own shell, gosh, is left
# out: it would add an interactive terminal stack (bubbletea, lipgloss and
# about 20 other modules) to go.mod for a shell no task needs. netcat is
# left out for the same reason (SCTP and vsock libraries).

description minimal plus u-root's core commands in /bbin
include minimal

# files
uroot cat cp dd df du find ln ls mkdir mktemp mv readlink realpath rm sync tar touch truncate
# text
uroot base64 cmp comm grep gzip head hexdump more sort strings tail tee tr uniq wc xargs
# checksums
uroot md5sum shasum
# processes and the machine
uroot date dmesg free hostname id kill lsmod ps sleep time timeout uname uptime
# network
uroot ping wget
# shell helpers
uroot basename dirname echo false printenv pwd seq true which yes
