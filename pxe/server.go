// Package pxe boots diskless nodes over the network: a DHCP server that hands
// out addresses and tells each node's firmware what to load, a TFTP server for
// the iPXE binaries PXE ROMs chainload, and an HTTP server for the iPXE script,
// the kernel and the initramfs. firmware.go draws the boot chain.
package pxe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
)

// Server runs DHCP, TFTP and HTTP for one network. Leases and counters live
// as long as the Server, across calls to Run.
type Server struct {
	cfg   Config
	dhcp  *dhcpHandler  // DHCPFull mode; nil in DHCPProxy mode
	proxy *proxyHandler // DHCPProxy mode; nil in DHCPFull mode
	tftp  *tftpFiles
	http  *bootHTTP

	dhcpStats dhcpCounters
	tftpStats tftpCounters
	raStats   raCounters
}

// New checks cfg (see Config.Validate), reads the iPXE binaries of
// TFTPRoot, opens BootDir, which the Server keeps open for its lifetime, and
// loads the leases of cfg.Leases.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pxe: invalid config: %w", err)
	}
	ipxe, err := loadIPXE(cfg.TFTPRoot, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("pxe: TFTPRoot: %w", err)
	}
	bootRoot, err := os.OpenRoot(cfg.BootDir)
	if err != nil {
		return nil, fmt.Errorf("pxe: BootDir: %w", err)
	}
	port, _ := cfg.httpPort() // checked by Validate
	baseURL := "http://" + netip.AddrPortFrom(cfg.ServerIP, port).String()
	boot, err := newBootHTTP(&cfg, baseURL, bootRoot, ipxe)
	if err != nil {
		bootRoot.Close()
		return nil, fmt.Errorf("pxe: %w", err)
	}

	s := &Server{cfg: cfg, http: boot}
	files := bootFiles{
		tftpServer: cfg.ServerIP,
		scriptURL:  baseURL + "/boot.ipxe",
		ipxeURL:    baseURL + "/ipxe/",
	}
	if cfg.DHCPMode == DHCPProxy {
		s.proxy = newProxyHandler(cfg, files, &s.dhcpStats)
	} else {
		s.dhcp = newDHCPHandler(cfg, files, &s.dhcpStats)
		if err := s.dhcp.loadLeases(); err != nil {
			bootRoot.Close()
			return nil, fmt.Errorf("pxe: loading leases: %w", err)
		}
	}
	s.tftp = &tftpFiles{ipxe: ipxe, stats: &s.tftpStats, log: cfg.Logger.With("service", "tftp")}
	return s, nil
}

// Run serves DHCP, TFTP and HTTP, and answers Router Solicitations if so
// configured, until ctx is cancelled, then stops them and returns nil. It
// opens every socket before serving anything, so a missing interface or a
// port in use fails Run at once; if one server fails later, Run stops the
// others and returns that error. Router Solicitations are the exception:
// without IPv6 Run warns and goes on, since nodes boot without the answer,
// only slower.
func (s *Server) Run(ctx context.Context) error {
	l, err := s.listen()
	if err != nil {
		return err
	}
	ra := s.newRAResponder()
	s.cfg.Logger.Info("PXE server running", "interface", s.cfg.Interface, "dhcp_mode", s.cfg.DHCPMode.String(),
		"tftp", l.tftp.LocalAddr().String(), "http", l.http.Addr().String(),
		"answer_router_solicitations", ra != nil)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.runDHCP(ctx, l) })
	g.Go(func() error { return s.tftp.run(ctx, l.tftp) })
	g.Go(func() error { return s.http.run(ctx, l.http) })
	if ra != nil {
		g.Go(func() error { return ra.run(ctx) })
	}
	return g.Wait()
}

// newRAResponder opens the Router Solicitation socket if the Config asks
// for it. It returns nil if not, or if IPv6 is not to be had on the
// interface, which it warns about.
func (s *Server) newRAResponder() *raResponder {
	if !s.cfg.AnswerRouterSolicitations {
		return nil
	}
	log := s.cfg.Logger.With("service", "ra")
	conn, ifi, err := listenRouterSolicitations(s.cfg.Interface)
	if err != nil {
		log.Warn("not answering IPv6 router solicitations: iPXE will wait ~15 s per boot for a router",
			"interface", s.cfg.Interface, "err", err)
		return nil
	}
	return &raResponder{
		conn:      conn,
		iface:     ifi,
		ra:        routerAdvertisement(ifi.HardwareAddr),
		limit:     newSourceLimiter(raInterval, raMaxSources),
		stats:     &s.raStats,
		log:       log,
		now:       time.Now,
		linkLocal: ourLinkLocal,
	}
}

// runDHCP serves DHCP as Config.DHCPMode says.
func (s *Server) runDHCP(ctx context.Context, l *listeners) error {
	if s.proxy != nil {
		return s.proxy.run(ctx, l.dhcp, l.bootServer)
	}
	return s.dhcp.run(ctx, l.dhcp)
}

// listeners are the sockets a Server serves on.
type listeners struct {
	dhcp       *dhcpSocket
	bootServer *dhcpSocket // port 4011, DHCPProxy mode only
	tftp       net.PacketConn
	http       net.Listener
}

// listen opens the sockets, or none.
func (s *Server) listen() (*listeners, error) {
	l := &listeners{}
	err := l.open(s)
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *listeners) open(s *Server) (err error) {
	log := s.cfg.Logger.With("service", "dhcp")
	if l.dhcp, err = listenDHCP(s.cfg.Interface, s.cfg.ServerIP, log); err != nil {
		return err
	}
	if s.proxy != nil {
		if l.bootServer, err = listenBootServer(s.cfg.Interface, s.cfg.ServerIP, log); err != nil {
			return err
		}
	}
	if l.tftp, err = net.ListenPacket("udp", s.cfg.TFTPAddr); err != nil {
		return fmt.Errorf("tftp: %w", err)
	}
	if l.http, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// close closes what open opened.
func (l *listeners) close() {
	if l.dhcp != nil {
		l.dhcp.Close()
	}
	if l.bootServer != nil {
		l.bootServer.Close()
	}
	if l.tftp != nil {
		l.tftp.Close()
	}
	if l.http != nil {
		l.http.Close()
	}
}

// serveUntil runs serve until ctx is done, then calls shutdown and waits for
// serve to return; what serve returns then is the expected fallout of
// shutting down. An error serve returns before that is a real failure.
func serveUntil(ctx context.Context, serve func() error, shutdown func()) error {
	served := make(chan error, 1)
	go func() { served <- serve() }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		shutdown()
		<-served
		return nil
	}
}
