package agent

import (
	"errors"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// taskIO reads a task's stdout and stderr and notices its exit from the
// task's own goroutine, with no goroutine or thread of its own: one epoll
// set holds the two pipes and the task's pidfd, and that set sits in Go's
// poller, so the goroutine sleeps until the task writes or exits.
//
// The usual way, a goroutine copying each pipe and a thread blocked in
// waitid, cost the agent more CPU per task than the spawn itself
// (BenchmarkRunTrue: about 120 us of a 320 us total for /bin/true): every
// wake-up of a parked goroutine or thread is a context switch, and a
// thread in a blocking system call makes the runtime hand its P over.
//
// The pipes are the task's own, not os/exec's, so that cmd.Wait returns when
// the task's first process exits even while processes it started in the
// background hold the pipes (a fork bomb does): they are killed then, and
// their end closes the pipes.
type taskIO struct {
	set     *os.File  // the epoll set, in Go's poller
	pidfd   int       // the task's first process; -1 if the kernel has none (see waitInBackground)
	streams [2]stream // stdout, stderr
	exited  bool      // the pidfd said so
}

type stream struct {
	r   int      // read end, non-blocking; -1 once at its end
	w   *os.File // the task's end
	dst *capped
}

// drainTime bounds the wait for the pipes to close once the task is
// killed: without a cgroup, a process that left the task's process group
// may hold them on.
const drainTime = 2 * time.Second

// newTaskIO makes the pipes and points cmd's stdout and stderr at them;
// cmd must have a SysProcAttr. After cmd.Start, call started.
func newTaskIO(cmd *exec.Cmd, stdout, stderr *capped) (*taskIO, error) {
	t := &taskIO{pidfd: -1, streams: [2]stream{{r: -1, dst: stdout}, {r: -1, dst: stderr}}}
	for i := range t.streams {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.close()
			return nil, os.NewSyscallError("pipe2", err)
		}
		t.streams[i].r, t.streams[i].w = p[0], os.NewFile(uintptr(p[1]), "task output")
		if err := unix.SetNonblock(p[0], true); err != nil {
			t.close()
			return nil, err
		}
	}
	cmd.Stdout, cmd.Stderr = t.streams[0].w, t.streams[1].w
	if pidfdsWanted {
		cmd.SysProcAttr.PidFD = &t.pidfd
	}
	return t, nil
}

// pidfdsWanted is false only in tests of the way kernels without pidfds go.
var pidfdsWanted = true

// started closes the parent's ends of the pipes and builds the epoll set,
// once cmd has started. Without a pidfd, waitInBackground must follow.
func (t *taskIO) started() error {
	for i := range t.streams {
		t.streams[i].w.Close()
		t.streams[i].w = nil
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil { // os.NewFile puts non-blocking files in the poller
		unix.Close(ep)
		return err
	}
	t.set = os.NewFile(uintptr(ep), "task epoll set")
	fds := []int{t.streams[0].r, t.streams[1].r}
	if t.pidfd >= 0 {
		fds = append(fds, t.pidfd)
	}
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
	}
	return nil
}

// waitInBackground stands in for the pidfd on kernels without one: a
// goroutine waits for cmd in a thread, then closes a pipe in the set.
func (t *taskIO) waitInBackground(cmd *exec.Cmd) (wait func() error, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	t.pidfd = p[0] // readable (at its end) once the writer is closed
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}
	if err := unix.EpollCtl(int(t.set.Fd()), unix.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		unix.Close(p[1])
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- cmd.Wait()
		unix.Close(p[1])
	}()
	return func() error { return <-done }, nil
}

// awaitExit reads output until the task's first process has exited.
func (t *taskIO) awaitExit() error {
	return t.poll(func() bool { return t.exited })
}

// drain takes the task's first process out of the set and reads the
// pipes to their end, or until drainTime.
func (t *taskIO) drain() {
	atEnd := func() bool { return t.streams[0].r < 0 && t.streams[1].r < 0 }
	if atEnd() {
		return // the usual case: the pipes closed with the task
	}
	unix.EpollCtl(int(t.set.Fd()), unix.EPOLL_CTL_DEL, t.pidfd, nil)
	t.set.SetReadDeadline(time.Now().Add(drainTime))
	t.poll(atEnd)
}

// poll handles what the set reports until done says so.
func (t *taskIO) poll(done func() bool) error {
	rc, err := t.set.SyscallConn()
	if err != nil {
		return err
	}
	var events [3]unix.EpollEvent
	var failed error
	err = rc.Read(func(ep uintptr) bool {
		for !done() {
			n, err := unix.EpollWait(int(ep), events[:], 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				failed = os.NewSyscallError("epoll_wait", err)
				return true
			}
			if n == 0 {
				return false // sleep in the poller until the set is ready
			}
			for _, ev := range events[:n] {
				t.handle(int(ev.Fd))
			}
		}
		return true
	})
	return errors.Join(err, failed)
}

func (t *taskIO) handle(fd int) {
	if fd == t.pidfd {
		t.exited = true
		return
	}
	for i := range t.streams {
		if s := &t.streams[i]; s.r == fd {
			if s.readAvailable() {
				unix.EpollCtl(int(t.set.Fd()), unix.EPOLL_CTL_DEL, fd, nil)
				unix.Close(s.r)
				s.r = -1
			}
		}
	}
}

// outputChunk is how much of a task's output one read takes.
const outputChunk = 32 << 10

// readAvailable reads what the pipe holds and reports whether it is at
// its end.
func (s *stream) readAvailable() (atEnd bool) {
	var buf [outputChunk]byte
	for {
		n, err := unix.Read(s.r, buf[:])
		switch {
		case n > 0:
			s.dst.Write(buf[:n])
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		default:
			return true // end of the stream, or broken: nothing more to read
		}
	}
}

// close releases everything still open; safe at any point.
func (t *taskIO) close() {
	for i := range t.streams {
		s := &t.streams[i]
		if s.r >= 0 {
			unix.Close(s.r)
			s.r = -1
		}
		if s.w != nil {
			s.w.Close()
			s.w = nil
		}
	}
	if t.set != nil {
		t.set.Close()
	}
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
		t.pidfd = -1
	}
}
