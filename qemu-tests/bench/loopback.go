package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

// loopbackDispatcher is a dispatcher without boot services, serving agents
// on a loopback port: the setup of the dispatcher-only benchmarks.
type loopbackDispatcher struct {
	cmd     *exec.Cmd
	dir     string      // state directory (node-token, ca.crt)
	addr    string      // agent address
	metrics string      // metrics address (loopback)
	token   string      // node enrollment token
	tls     *tls.Config // how agents know the dispatcher: its CA pin
	client  *api.Client
}

// startLoopbackDispatcher starts `ramfarm serve --no-pxe` with its state in
// a new directory under workDir; extra flags are appended. Stop it with stop.
func startLoopbackDispatcher(ctx context.Context, bin, workDir string, extra ...string) (*loopbackDispatcher, error) {
	dir, err := os.MkdirTemp(workDir, "dispatcher-")
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	metrics, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, "api.sock")
	args := append([]string{"serve", "--no-pxe", "--agent-addr", addr, "--state-dir", dir,
		"--api-socket", socket, "--metrics-addr", metrics, "--log-level", "error"}, extra...)
	d := &loopbackDispatcher{cmd: exec.CommandContext(ctx, bin, args...), dir: dir, addr: addr, metrics: metrics, client: api.NewClient(socket)}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitAPI(ctx, d.client); err != nil {
		d.stop()
		return nil, err
	}
	token, err := os.ReadFile(filepath.Join(dir, "node-token"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.token = strings.TrimSpace(string(token))
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err == nil {
		var pin string
		if pin, err = protocol.PinOfPEM(ca); err == nil {
			d.tls, err = protocol.AgentTLS(pin)
		}
	}
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("dispatcher CA: %w", err)
	}
	return d, nil
}

// dialAgent opens an agent connection to the dispatcher, TLS handshake done.
func (d *loopbackDispatcher) dialAgent(ctx context.Context) (net.Conn, error) {
	td := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second}, Config: d.tls}
	return td.DialContext(ctx, "tcp", d.addr)
}

func (d *loopbackDispatcher) pid() int { return d.cmd.Process.Pid }

func (d *loopbackDispatcher) stop() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
}

func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitAPI(ctx context.Context, c *api.Client) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Nodes(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dispatcher API not up: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
