package dispatcher

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/dispatcher/sched"
	"github.com/ramfarm/ramfarm/dispatcher/store"
	"github.com/ramfarm/ramfarm/pxe"
)

// Dispatcher is a running dispatcher. Its state is guarded by mu; the store
// is the durable copy of everything that must survive a restart (tasks,
// results, node names); the rest is rebuilt as agents reconnect.
type Dispatcher struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	token string
	caPin string

	agentTLS *tls.Config // the agent listener's: a certificate signed by the cluster CA

	consoles *consoleFiles // what nodes forward of their consoles
	specs    *specCache    // queued tasks' commands, so hand-outs skip the store

	admit sync.Mutex // orders Submit and Cancel (see Cancel)

	mu     sync.Mutex
	nodes  map[string]*node  // by name
	order  []*node           // round-robin order of hand-outs
	next   int               // position in order of the next hand-out
	queue  *sched.Queue      // queued and running tasks, by priority
	leases map[uint64]*lease // running task id -> where it runs
	tries  map[uint64]int    // task id -> attempts handed out so far
	boot   *pxe.Server       // nil with no boot services (--no-pxe)
	// starved: the last hand-out left a node with credits and no free task
	starved bool

	counters counters
}

// New opens the state in cfg.StateDir and prepares the dispatcher; Run
// starts it.
func New(cfg Config) (*Dispatcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	token, err := loadOrCreateToken(filepath.Join(cfg.StateDir, "node-token"))
	if err != nil {
		return nil, err
	}
	consoles, err := newConsoleFiles(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	ca, err := loadOrCreateCA(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	agentTLS, err := ca.ServerTLS()
	if err != nil {
		return nil, fmt.Errorf("agent listener certificate: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.StateDir, "ramfarm.db"))
	if err != nil {
		return nil, err
	}
	pending, err := st.Pending()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("read pending tasks: %w", err)
	}
	d := &Dispatcher{
		cfg: cfg, log: cfg.Logger, store: st, token: token, caPin: ca.Pin(), agentTLS: agentTLS, consoles: consoles,
		specs: newSpecCache(specCacheBytes), nodes: map[string]*node{}, queue: sched.NewQueue(cfg.Window),
		leases: map[uint64]*lease{}, tries: map[uint64]int{},
	}
	for _, t := range pending {
		d.queue.Add(t.Priority, t.ID)
	}
	if len(pending) > 0 {
		d.log.Info("resuming pending tasks", "count", len(pending))
	}
	// For nodes booted by other means (another PXE server, a USB stick):
	// the arguments they need, written afresh at each start.
	if err := writeFileAtomic(filepath.Join(cfg.StateDir, nodeArgsFile), []byte(d.NodeArgs()+"\n"), 0o600); err != nil {
		st.Close()
		return nil, fmt.Errorf("node arguments: %w", err)
	}
	if cfg.PXE != nil {
		d.cfg.PXE.Leases = dhcpLeases{st}
		// Nodes learn where the dispatcher is, how to know it (the CA pin)
		// and the secret that lets them in from their kernel command line,
		// whatever their boot profile.
		d.cfg.PXE.ExtraCmdline = d.NodeArgs()
	}
	return d, nil
}

// Token returns the node enrollment secret.
func (d *Dispatcher) Token() string { return d.token }

// CAPin returns the pin of the cluster CA, which agents check the
// dispatcher against.
func (d *Dispatcher) CAPin() string { return d.caPin }

// nodeArgsFile, in the state directory, holds NodeArgs (0600: the token).
const nodeArgsFile = "node-args"

// NodeArgs returns the kernel command line arguments a node needs to join
// this dispatcher: what the boot services add for every node, and what a
// node booted by other means (another PXE server) must be given.
func (d *Dispatcher) NodeArgs() string {
	return fmt.Sprintf("ramfarm.dispatcher=%s ramfarm.ca=%s ramfarm.token=%s", d.cfg.AgentAddr, d.caPin, d.token)
}

// Run serves until ctx is cancelled: boot services, the agent listener, the
// control API and the node monitor, each in its own goroutine. An error from
// one stops them all.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.store.Close()
	tcp, err := net.Listen("tcp", d.cfg.AgentAddr)
	if err != nil {
		return fmt.Errorf("agent listener: %w", err)
	}
	// TLS only: there is no plain-text agent port to leave open by mistake.
	agents := tls.NewListener(tcp, d.agentTLS)
	apiLn, err := listenUnix(d.cfg.APISocket)
	if err != nil {
		agents.Close()
		return fmt.Errorf("API socket: %w", err)
	}
	var metrics net.Listener
	if d.cfg.MetricsAddr != "" {
		if metrics, err = net.Listen("tcp", d.cfg.MetricsAddr); err != nil {
			agents.Close()
			apiLn.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
	}
	var boot *pxe.Server
	if d.cfg.PXE != nil {
		if boot, err = pxe.New(*d.cfg.PXE); err != nil {
			agents.Close()
			apiLn.Close()
			if metrics != nil {
				metrics.Close()
			}
			return fmt.Errorf("boot services: %w", err)
		}
	}
	d.mu.Lock()
	d.boot = boot
	d.mu.Unlock()
	d.log.Info("dispatcher started", "agents", agents.Addr().String(), "api", d.cfg.APISocket, "metrics", d.cfg.MetricsAddr, "heartbeat", d.cfg.Heartbeat)

	g, ctx := errgroup.WithContext(ctx)
	if boot != nil {
		g.Go(func() error { return boot.Run(ctx) })
	}
	if metrics != nil {
		g.Go(func() error { return d.serveMetrics(ctx, metrics, boot) })
	}
	g.Go(func() error { return d.serveAgents(ctx, agents) })
	g.Go(func() error { return d.serveAPI(ctx, apiLn) })
	g.Go(func() error { d.monitor(ctx); return nil })
	return g.Wait()
}

func (d *Dispatcher) serveAPI(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: api.NewHandler(d, d.log), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("API: %w", err)
	}
	return nil
}

// listenUnix listens on a Unix socket only its owner (root) may use. A stale
// socket from a dispatcher that died is replaced; a live one is an error.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another dispatcher is serving it", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// monitor declares nodes lost when they stop heartbeating.
func (d *Dispatcher) monitor(ctx context.Context) {
	t := time.NewTicker(d.cfg.Heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.checkNodes(now)
		}
	}
}
