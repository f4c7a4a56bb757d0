package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/pxe"
)

// counters count events since the dispatcher started.
type counters struct {
	submitted  atomic.Uint64 // tasks accepted
	succeeded  atomic.Uint64 // results recorded with exit status 0
	failed     atomic.Uint64 // results recorded otherwise
	duplicates atomic.Uint64 // results dropped because the task already had one
	requeued   atomic.Uint64 // running tasks taken back from lost or rebooted nodes
	retried    atomic.Uint64 // failed attempts that used one of their task's retries
	cancelled  atomic.Uint64 // tasks cancelled through the API
	rejected   atomic.Uint64 // agents refused at hello
	violations atomic.Uint64 // agent connections closed for breaking the protocol
}

// serveMetrics serves Prometheus metrics at /metrics until ctx ends.
func (d *Dispatcher) serveMetrics(ctx context.Context, ln net.Listener, boot *pxe.Server) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		d.writeMetrics(w, boot)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// writeMetrics writes the Prometheus text exposition format.
func (d *Dispatcher) writeMetrics(w io.Writer, boot *pxe.Server) {
	m := promWriter{w}
	d.mu.Lock()
	byState := map[string]float64{api.NodeReady: 0, api.NodeRebooting: 0, api.NodeDisconnected: 0, api.NodeLost: 0}
	for _, n := range d.order {
		byState[n.info.State]++
	}
	running := float64(len(d.leases))
	queued := float64(d.queue.Len()) - running
	d.mu.Unlock()

	m.labelled("ramfarm_nodes", "Nodes known to the dispatcher, by state.", "gauge", "state", byState)
	m.one("ramfarm_tasks_running", "Tasks running on a node now.", "gauge", running)
	m.one("ramfarm_tasks_queued", "Tasks waiting for a node.", "gauge", queued)
	c := &d.counters
	m.one("ramfarm_tasks_submitted_total", "Tasks accepted since start.", "counter", float64(c.submitted.Load()))
	m.labelled("ramfarm_results_total", "Results recorded since start, by outcome.", "counter", "outcome",
		map[string]float64{"succeeded": float64(c.succeeded.Load()), "failed": float64(c.failed.Load())})
	m.one("ramfarm_results_duplicate_total", "Results dropped because their task already had one.", "counter", float64(c.duplicates.Load()))
	m.one("ramfarm_tasks_requeued_total", "Running tasks taken back from lost or rebooted nodes.", "counter", float64(c.requeued.Load()))
	m.one("ramfarm_tasks_retried_total", "Failed attempts run again because their task had retries left.", "counter", float64(c.retried.Load()))
	m.one("ramfarm_tasks_cancelled_total", "Tasks cancelled through the API.", "counter", float64(c.cancelled.Load()))
	m.one("ramfarm_agents_rejected_total", "Agents refused at hello (bad token or version).", "counter", float64(c.rejected.Load()))
	m.one("ramfarm_agent_protocol_violations_total", "Agent connections closed for breaking the protocol.", "counter", float64(c.violations.Load()))
	st := d.store.CommitStats()
	m.one("ramfarm_store_commit_groups_total", "Group commits of results, nodes and DHCP leases to the state database, each with its fsyncs.", "counter", float64(st.Groups))
	m.one("ramfarm_store_committed_writes_total", "Writes in those commits; over the groups, the mean group size.", "counter", float64(st.Writes))
	m.one("ramfarm_store_commit_seconds_total", "Time spent committing them, fsyncs included.", "counter", st.Time.Seconds())

	if boot == nil {
		return
	}
	s := boot.Stats()
	m.labelled("ramfarm_dhcp_replies_total", "DHCP replies sent, by type.", "counter", "type",
		map[string]float64{"offer": float64(s.DHCP.Offers), "ack": float64(s.DHCP.Acks), "nak": float64(s.DHCP.Naks), "inform-ack": float64(s.DHCP.Informs),
			"proxy-offer": float64(s.DHCP.ProxyOffers), "proxy-ack": float64(s.DHCP.ProxyAcks)})
	m.labelled("ramfarm_dhcp_client_notices_total", "Addresses clients gave back (release) or reported taken (decline).", "counter", "type",
		map[string]float64{"release": float64(s.DHCP.Releases), "decline": float64(s.DHCP.Declines)})
	drops := map[string]float64{}
	for reason, n := range s.DHCP.Drops {
		drops[reason] = float64(n)
	}
	m.labelled("ramfarm_dhcp_dropped_total", "DHCP packets left unanswered, by reason.", "counter", "reason", drops)
	m.one("ramfarm_tftp_transfers_total", "Files served completely over TFTP.", "counter", float64(s.TFTP.Transfers))
	m.one("ramfarm_tftp_bytes_total", "Bytes of those files.", "counter", float64(s.TFTP.Bytes))
	m.one("ramfarm_tftp_failures_total", "TFTP requests refused or transfers broken off.", "counter", float64(s.TFTP.Failures))
	m.one("ramfarm_ipv6_router_advertisements_total", "Router advertisements sent to end iPXE's IPv6 wait.", "counter", float64(s.RA.Advertisements))
}

// promWriter writes metric families in the Prometheus text format.
type promWriter struct{ w io.Writer }

func (p promWriter) header(name, help, typ string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p promWriter) one(name, help, typ string, v float64) {
	p.header(name, help, typ)
	fmt.Fprintf(p.w, "%s %g\n", name, v)
}

// labelled writes one sample per label value, in a stable order. Label
// values here are fixed words from the code, never user input, so they need
// no escaping.
func (p promWriter) labelled(name, help, typ, label string, values map[string]float64) {
	p.header(name, help, typ)
	for _, k := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(p.w, "%s{%s=%q} %g\n", name, label, k, values[k])
	}
}
