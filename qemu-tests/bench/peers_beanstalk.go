package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runBeanstalk measures a bare queue: beanstalkd on loopback (in memory, no
// write-ahead log) and Workers workers of ours, goroutines of the bench
// with a connection each, that reserve a job, run it and delete it. It is
// the floor of what any queue between a submitter and workers costs.
func runBeanstalk(ctx context.Context, cfg DispatchConfig, dirs systemDirs) (SystemRun, error) {
	run := SystemRun{Name: "bare", Setup: fmt.Sprintf(
		"beanstalkd -l 127.0.0.1 (in memory) + %d worker goroutines (reserve, sh -c, delete), puts pipelined on one connection", cfg.Workers)}
	addr, err := freeLoopbackPort()
	if err != nil {
		return run, err
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, "beanstalkd", "-l", host, "-p", port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	d, err := startDaemon(cmd, filepath.Join(dirs.state, "beanstalkd.log"))
	if err != nil {
		return run, err
	}
	defer d.stop()
	var conns []*beanstalkConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() (*beanstalkConn, error) {
		var c *beanstalkConn
		err := pollUntil(ctx, "beanstalkd", 20*time.Millisecond, 10*time.Second, func() (bool, error) {
			nc, err := net.Dial("tcp", addr)
			if err == nil {
				c = newBeanstalkConn(nc)
				conns = append(conns, c)
			}
			return err == nil, nil
		})
		return c, err
	}
	producer, err := dial()
	if err != nil {
		return run, err
	}
	workers := make([]*beanstalkConn, cfg.Workers)
	for i := range workers {
		if workers[i], err = dial(); err != nil {
			return run, err
		}
	}

	var done atomic.Int64
	allDone := make(chan struct{})
	errs := make(chan error, cfg.Workers+1)
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := beanstalkWorker(ctx, w, func() {
				if done.Add(1) == int64(cfg.Tasks) {
					close(allDone)
				}
			}); err != nil && done.Load() < int64(cfg.Tasks) {
				errs <- err
			}
		}()
	}
	go func() { errs <- producer.putAll(taskCommand, cfg.Tasks) }()
	for {
		select {
		case <-allDone:
			run.Wall = time.Since(start)
			for _, c := range conns {
				c.Close() // ends the workers' reserve
			}
			wg.Wait()
			return run, nil
		case err := <-errs:
			if err != nil {
				return run, fmt.Errorf("bare queue: %w", err)
			}
		case <-ctx.Done():
			return run, fmt.Errorf("bare queue: %d of %d done: %w", done.Load(), cfg.Tasks, ctx.Err())
		}
	}
}

// beanstalkWorker reserves jobs, runs each one's body through /bin/sh -c
// and deletes it once it exited 0, until its connection fails.
func beanstalkWorker(ctx context.Context, c *beanstalkConn, finished func()) error {
	for {
		id, body, err := c.reserve()
		if err != nil {
			return err
		}
		if body != taskCommand {
			return fmt.Errorf("job %d is %q, not the benchmark's", id, body)
		}
		if err := exec.CommandContext(ctx, taskArgv[0], taskArgv[1:]...).Run(); err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		if err := c.delete(id); err != nil {
			return err
		}
		finished()
	}
}

// beanstalkConn speaks the beanstalkd text protocol (see its protocol.txt):
// a command line, for put a body, and a reply line, for reserve a body.
type beanstalkConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

func newBeanstalkConn(nc net.Conn) *beanstalkConn {
	return &beanstalkConn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
}

func (c *beanstalkConn) Close() error { return c.nc.Close() }

// putAll puts n jobs with the same body. The puts are written in one stream
// while a goroutine reads the replies (writing all before reading any
// could fill both socket buffers and stall both sides).
func (c *beanstalkConn) putAll(body string, n int) error {
	replies := make(chan error, 1)
	go func() {
		for range n {
			line, err := c.readLine()
			if err == nil {
				_, err = parseInserted(line)
			}
			if err != nil {
				replies <- err
				return
			}
		}
		replies <- nil
	}()
	// priority 0, no delay, 60 s to run before beanstalkd hands it out again
	put := fmt.Sprintf("put 0 0 60 %d\r\n%s\r\n", len(body), body)
	for range n {
		if _, err := c.w.WriteString(put); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return <-replies
}

func (c *beanstalkConn) reserve() (id uint64, body string, err error) {
	if err := c.send("reserve"); err != nil {
		return 0, "", err
	}
	line, err := c.readLine()
	if err != nil {
		return 0, "", err
	}
	id, size, err := parseReserved(line)
	if err != nil {
		return 0, "", err
	}
	buf := make([]byte, size+2) // the body and its CRLF
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return 0, "", err
	}
	return id, string(buf[:size]), nil
}

func (c *beanstalkConn) delete(id uint64) error {
	if err := c.send(fmt.Sprintf("delete %d", id)); err != nil {
		return err
	}
	line, err := c.readLine()
	if err != nil {
		return err
	}
	if line != "DELETED" {
		return fmt.Errorf("delete %d: %q", id, line)
	}
	return nil
}

func (c *beanstalkConn) send(command string) error {
	c.w.WriteString(command + "\r\n")
	return c.w.Flush()
}

func (c *beanstalkConn) readLine() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(line, "\r\n"), nil
}

// parseInserted reads put's reply, "INSERTED <id>".
func parseInserted(line string) (uint64, error) {
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "INSERTED" {
		return 0, fmt.Errorf("put: %q", line)
	}
	return strconv.ParseUint(f[1], 10, 64)
}

// maxBeanstalkBody bounds what a reply may make us allocate (beanstalkd's
// own default job size limit).
const maxBeanstalkBody = 65535

// parseReserved reads reserve's reply, "RESERVED <id> <bytes>".
func parseReserved(line string) (id uint64, size int, err error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "RESERVED" {
		return 0, 0, fmt.Errorf("reserve: %q", line)
	}
	if id, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("reserve: %q: %w", line, err)
	}
	if size, err = strconv.Atoi(f[2]); err != nil || size < 0 || size > maxBeanstalkBody {
		return 0, 0, fmt.Errorf("reserve: %q: bad size", line)
	}
	return id, size, nil
}
