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
		fmt.Fprint(fs.Output(), `Usage: ramfarm-bench [flags] dhcp

dhcp   perfdhcp (Kea) against "ramfarm serve" and then dnsmasq, in the same
       namespace setup with the same simulated clients and target rate, leases
       on disk for both. Prints
         bench dhcp: ramfarm=<exchanges/s> dnsmasq=<exchanges/s> ratio=<r>
       and a detail line with the drops.

Flags:
`)
		fs.PrintDefaults()
	}
	ramfarm := fs.String("ramfarm", "bin/ramfarm", "the dispatcher `binary`")
	images := fs.String("images", "images", "node image `directory`")
	clients := fs.Int("clients", 30000, "simulated DHCP clients")
	rate := fs.Int("rate", 10000, "target DHCP exchanges per second")
	period := fs.Duration("period", 30*time.Second, "how long the DHCP load runs against each server")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 || fs.Arg(0) != "dhcp" {
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

	rf, dm, err := bench.DHCP(ctx, bench.DHCPConfig{
		Clients: *clients, Rate: *rate, Period: *period, Ramfarm: bin, ImagesDir: img, WorkDir: work,
	})
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
		*clients, *rate, *period, rf.DropsPercent, dm.DropsPercent, rf.Acked, rf.Sent, dm.Acked, dm.Sent)
	return 0
}
