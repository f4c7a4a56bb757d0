# minimal: the agent alone, plus what the agent itself needs to run tasks.
#
# Every image has the agent as /init (PID 1); no profile can leave it out.
# The agent runs each task as `/bin/sh -c COMMAND`, so the image needs a
# shell: Debian's static busybox is one file of about 2 MB that brings sh
# and the usual tools (sha256sum, nproc, sleep, ...) as symlinks, with no
# shared libraries to carry. With Debian's kernel the image also carries the
# NIC drivers of initramfs/modules.go (that list is for every profile).
#
# This is the default profile: images/ramfarm-node.cpio.zst, what the
# end-to-end test, the demo and the benchmarks boot.

description the agent as /init, and busybox for the tasks' /bin/sh
busybox
