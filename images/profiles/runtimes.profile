# runtimes: tools, plus host programs for code jobs: Python 3 with its
# standard library, and gcc that compiles and links C (`gcc hello.c`).
#
# Each program comes from the build host with its shared libraries (found
# the way ldd finds them) and the dynamic loader, at the paths the host has
# them. Needs the Debian packages python3 and gcc (libc6-dev comes with it),
# which scripts/install-deps.sh installs.
#
# No JVM: Debian's openjdk-17-jre-headless is about 260 MB on disk (its
# lib/modules alone 123 MB), several times the rest of the image, and every
# node would hold it in RAM, twice while the kernel unpacks it. A job that
# needs Java is better served by a profile of its own, with a runtime cut
# down by jlink.

description tools plus python3 and gcc from the host, for code jobs
include tools

# Python 3: the interpreter and its standard library. Left out: the
# test suite, GUI and packaging tools, and the static libpython (25 MB, only
# for embedding). Also every __pycache__: the image's files all have mtime
# 0, so Python would find the cached bytecode stale anyway, and it writes
# fresh caches to the (RAM) root file system on first import.
program /usr/bin/python3
file /usr/lib/python3.11
exclude /usr/lib/python3.11/config-*
exclude /usr/lib/python3.11/test
exclude /usr/lib/python3.11/idlelib
exclude /usr/lib/python3.11/tkinter
exclude /usr/lib/python3.11/turtledemo
exclude /usr/lib/python3.11/ensurepip
exclude /usr/lib/python3.11/lib2to3
exclude /usr/lib/python3.11/pydoc_data
exclude __pycache__

# gcc for C: the driver, the compiler proper (cc1), the assembler and
# linker (binutils), gcc's own headers and runtime objects, and libc's
# headers, start files and link-time libraries (libc6-dev, linux-libc-dev).
# cc1plus, lto1 and the sanitizer runtimes stay out (about 70 MB).
program /usr/bin/gcc
program /usr/bin/cc
program /usr/lib/gcc/x86_64-linux-gnu/12/cc1
program /usr/lib/gcc/x86_64-linux-gnu/12/collect2
program /usr/lib/gcc/x86_64-linux-gnu/12/lto-wrapper
file /usr/lib/gcc/x86_64-linux-gnu/12/liblto_plugin.so
file /usr/lib/gcc/x86_64-linux-gnu/12/include
file /usr/lib/gcc/x86_64-linux-gnu/12/crt*.o
file /usr/lib/gcc/x86_64-linux-gnu/12/libgcc.a
file /usr/lib/gcc/x86_64-linux-gnu/12/libgcc_eh.a
file /usr/lib/gcc/x86_64-linux-gnu/12/libgcc_s.so
file /usr/lib/x86_64-linux-gnu/libgcc_s.so.1
program /usr/bin/as
program /usr/bin/ld
file /usr/lib/x86_64-linux-gnu/*crt*.o
file /usr/lib/x86_64-linux-gnu/libc.so
file /usr/lib/x86_64-linux-gnu/libc_nonshared.a
file /usr/lib/x86_64-linux-gnu/libm.so
file /usr/lib/x86_64-linux-gnu/libmvec.so
file /usr/include/*.h
file /usr/include/x86_64-linux-gnu/bits
file /usr/include/x86_64-linux-gnu/sys
file /usr/include/x86_64-linux-gnu/gnu
file /usr/include/x86_64-linux-gnu/asm
file /usr/include/linux
file /usr/include/asm-generic
file /usr/include/arpa
file /usr/include/net
file /usr/include/netinet
file /usr/include/netpacket
file /usr/include/rpc
file /usr/include/scsi
