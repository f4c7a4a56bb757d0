// Command ramfarm-bench measures ramfarm side by side with its peers and
// prints one line per figure, in a fixed form that can be compared over
// time. It needs root: the measurements run in network namespaces.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/qemu-tests/bench"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("ramfarm-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: ramfarm-bench [flags] dhcp|dispatch-capacity|heartbeats

dhcp   perfdhcp (Kea) against "ramfarm serve" and then dnsmasq, in the same
       namespace setup with the same simulated clients and target rate, leases
       on disk for both. Prints
         bench dhcp: ramfarm=<exchanges/s> dnsmasq=<exchanges/s> ratio=<r>
       and a detail line with the drops.

dispatch-capacity
       the dispatcher alone, its durable store on, under simulated nodes that
       speak the real protocol over loopback TCP and answer every task at once.
       Prints
         bench dispatch-capacity: ramfarm=<tasks/s> p50=<ms> p99=<ms>
       (latency from a task reaching a node until its result is recorded).

heartbeats
       idle simulated nodes heartbeating over loopback TCP; measures the
       dispatcher's CPU (percent of one core) and resident memory. Prints
         bench heartbeats: nodes=<n> interval=<d> dispatcher-cpu=<percent> rss=<bytes>

Flags:
`)
		fs.PrintDefaults()
	}
	ramfarm := fs.String("ramfarm", "bin/ramfarm", "the dispatcher `binary`")
	images := fs.String("images", "images", "node image `directory`")
	clients := fs.Int("clients", 30000, "simulated DHCP clients")
	rate := fs.Int("rate", 10000, "target DHCP exchanges per second")
	period := fs.Duration("period", 30*time.Second, "how long the DHCP load runs against each server")
	tasks := fs.Int("tasks", 100000, "dispatch-capacity: tasks to push through")
	nodes := fs.Int("nodes", 50, "dispatch-capacity: simulated nodes")
	slots := fs.Int("slots", 4, "dispatch-capacity: slots per simulated node")
	hbNodes := fs.Int("hb-nodes", 10000, "heartbeats: simulated nodes")
	interval := fs.Duration("interval", time.Second, "heartbeats: heartbeat period")
	measure := fs.Duration("measure", 20*time.Second, "heartbeats: how long CPU is measured")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "ramfarm-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	bin, _ := filepath.Abs(*ramfarm)
	img, _ := filepath.Abs(*images)

	switch fs.Arg(0) {
	case "dhcp":
		return benchDHCP(ctx, bench.DHCPConfig{
			Clients: *clients, Rate: *rate, Period: *period, Ramfarm: bin, ImagesDir: img, WorkDir: work,
		})
	case "dispatch-capacity":
		return benchCapacity(ctx, bench.CapacityConfig{Ramfarm: bin, WorkDir: work, Tasks: *tasks, Nodes: *nodes, Slots: *slots})
	case "heartbeats":
		return benchHeartbeats(ctx, bench.HeartbeatConfig{Ramfarm: bin, WorkDir: work, Nodes: *hbNodes, Interval: *interval, Measure: *measure})
	}
	fs.Usage()
	return 2
}

func benchCapacity(ctx context.Context, cfg bench.CapacityConfig) int {
	r, err := bench.Capacity(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench dispatch-capacity:", err)
		return 1
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("bench dispatch-capacity: ramfarm=%.0f p50=%.2f p99=%.2f\n", r.TasksPerSecond, ms(r.P50), ms(r.P99))
	fmt.Printf("bench dispatch-capacity detail: tasks=%d nodes=%d slots=%d store=bbolt(fsync)\n", cfg.Tasks, cfg.Nodes, cfg.Slots)
	return 0
}

func benchHeartbeats(ctx context.Context, cfg bench.HeartbeatConfig) int {
	r, err := bench.Heartbeats(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench heartbeats:", err)
		return 1
	}
	fmt.Printf("bench heartbeats: nodes=%d interval=%s dispatcher-cpu=%.1f rss=%d\n", cfg.Nodes, cfg.Interval, r.CPUPercent, r.RSSBytes)
	fmt.Printf("bench heartbeats detail: ready-at-end=%d measured=%s\n", r.Registered, cfg.Measure)
	return 0
}

func benchDHCP(ctx context.Context, cfg bench.DHCPConfig) int {
	rf, dm, err := bench.DHCP(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench dhcp:", err)
		return 1
	}
	ratio := 0.0
	if dm.Rate > 0 {
		ratio = rf.Rate / dm.Rate
	}
	fmt.Printf("bench dhcp: ramfarm=%.0f dnsmasq=%.0f ratio=%.2f\n", rf.Rate, dm.Rate, ratio)
	fmt.Printf("bench dhcp detail: clients=%d target-rate=%d period=%s ramfarm-drops=%.1f%% dnsmasq-drops=%.1f%% ramfarm-acked=%d/%d dnsmasq-acked=%d/%d\n",
		cfg.Clients, cfg.Rate, cfg.Period, rf.DropsPercent, dm.DropsPercent, rf.Acked, rf.Sent, dm.Acked, dm.Sent)
	return 0
}
