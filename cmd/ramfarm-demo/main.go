// Command ramfarm-demo boots a small QEMU cluster from the ramfarm
// dispatcher, runs a batch of tasks on it, prints the results and the node
// table, and cleans up. `make demo` runs it as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
)

func main() { os.Exit(run()) }

func run() int {
	ramfarm := flag.String("ramfarm", "bin/ramfarm", "the dispatcher `binary`")
	images := flag.String("images", "images", "node image `directory` (make image)")
	nodes := flag.Int("nodes", 3, "QEMU nodes to boot")
	tasks := flag.Int("tasks", 12, "tasks to run")
	keep := flag.String("work", "", "keep the dispatcher state and logs and the nodes' serial consoles in this `directory` (default: a temporary one, removed)")
	flag.Parse()

	ramfarmAbs, _ := filepath.Abs(*ramfarm)
	imagesAbs, _ := filepath.Abs(*images)
	work, err := filepath.Abs(*keep)
	if *keep == "" {
		work, err = os.MkdirTemp("", "ramfarm-demo-")
		defer os.RemoveAll(work)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	specs := make([]cluster.NodeSpec, *nodes)
	for i := range specs {
		specs[i] = cluster.NodeSpec{CPUs: 1 + i%2, MemoryMB: 512}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = cluster.Demo(ctx, cluster.Config{
		Name: fmt.Sprintf("rfdemo%d", os.Getpid()%100000), RamfarmBin: ramfarmAbs, ImagesDir: imagesAbs,
		WorkDir: work, Nodes: specs,
	}, *tasks, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		return 1
	}
	return 0
}
