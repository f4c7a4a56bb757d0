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
	cfg  Config
	dhcp *dhcpHandler
	tftp *tftpFiles
	http *bootHTTP

	dhcpStats dhcpCounters
	tftpStats tftpCounters
	raStats   raCounters
}

// New checks cfg (see Config.Validate), opens TFTPRoot and BootDir, which
// the Server keeps open for its lifetime, and loads the leases of
// cfg.Leases.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pxe: invalid config: %w", err)
	}
	tftpRoot, err := os.OpenRoot(cfg.TFTPRoot)
	if err != nil {
		return nil, fmt.Errorf("pxe: TFTPRoot: %w", err)
	}
	bootRoot, err := os.OpenRoot(cfg.BootDir)
	if err != nil {
		tftpRoot.Close()
		return nil, fmt.Errorf("pxe: BootDir: %w", err)
	}
	port, _ := cfg.httpPort() // checked by Validate
	baseURL := "http://" + netip.AddrPortFrom(cfg.ServerIP, port).String()
	boot, err := newBootHTTP(&cfg, baseURL, bootRoot, tftpRoot)
	if err != nil {
		tftpRoot.Close()
		bootRoot.Close()
		return nil, fmt.Errorf("pxe: %w", err)
	}

	s := &Server{cfg: cfg, http: boot}
	s.dhcp = newDHCPHandler(cfg, bootFiles{
		tftpServer: cfg.ServerIP,
		scriptURL:  baseURL + "/boot.ipxe",
		ipxeURL:    baseURL + "/ipxe/",
	}, &s.dhcpStats)
	if err := s.dhcp.loadLeases(); err != nil {
		tftpRoot.Close()
		bootRoot.Close()
		return nil, fmt.Errorf("pxe: loading leases: %w", err)
	}
	s.tftp = &tftpFiles{root: tftpRoot, stats: &s.tftpStats, log: cfg.Logger.With("component", "tftp")}
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
	dhcpConn, tftpConn, httpListener, err := s.listen()
	if err != nil {
		return err
	}
	ra := s.newRAResponder()
	s.cfg.Logger.Info("PXE server running", "interface", s.cfg.Interface,
		"tftp", tftpConn.LocalAddr().String(), "http", httpListener.Addr().String(),
		"answer_router_solicitations", ra != nil)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.dhcp.run(ctx, dhcpConn) })
	g.Go(func() error { return s.tftp.run(ctx, tftpConn) })
	g.Go(func() error { return s.http.run(ctx, httpListener) })
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
	log := s.cfg.Logger.With("component", "ra")
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

// listen opens the three sockets, or none.
func (s *Server) listen() (dhcpConn *dhcpSocket, tftpConn net.PacketConn, httpListener net.Listener, err error) {
	dhcpConn, err = listenDHCP(s.cfg.Interface, s.cfg.ServerIP, s.dhcp.log)
	if err != nil {
		return nil, nil, nil, err
	}
	tftpConn, err = net.ListenPacket("udp", s.cfg.TFTPAddr)
	if err != nil {
		dhcpConn.Close()
		return nil, nil, nil, fmt.Errorf("tftp: %w", err)
	}
	httpListener, err = net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		dhcpConn.Close()
		tftpConn.Close()
		return nil, nil, nil, fmt.Errorf("http: %w", err)
	}
	return dhcpConn, tftpConn, httpListener, nil
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
