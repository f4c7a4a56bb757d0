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
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/qemu-tests/bench"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("ramfarm-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: ramfarm-bench [flags] benchmark...

Runs the benchmarks named, in order, and stops at the first that fails.

dhcp   perfdhcp (Kea) against "ramfarm serve" and then dnsmasq, in the same
       namespace setup with the same simulated clients and target rate, leases
       on disk for both. Prints
         bench dhcp: ramfarm=<exchanges/s> dnsmasq=<exchanges/s> ratio=<r>
       and a detail line with the drops.

boot-files
       -boot-clients simulated PXE clients at once (each its own MAC, through a
       DHCP relay) against "ramfarm serve" and then dnsmasq: DHCP as a PXE ROM,
       the iPXE binary over TFTP, DHCP as iPXE, the boot script, then kernel
       and initramfs (ramfarm: HTTP; dnsmasq: TFTP), every byte checked. Prints
         bench boot-files: ramfarm=<s> dnsmasq=<s> ratio=<r> failures=<n>
       (seconds until the last client has every byte) and a per-phase line.

boot-to-ready
       one QEMU node (SeaBIOS, iPXE ROM, virtio-net, 1 CPU, 512 MB) from power-on
       until its agent registers: booted by "ramfarm serve", then by dnsmasq
       (DHCP, TFTP, iPXE script) with a --no-pxe dispatcher; -runs times each,
       alternating. Prints
         bench boot-to-ready: ramfarm=<s> dnsmasq=<s> ratio=<r>
       (medians) and a line with every run.

image  the minimal node image with the custom kernel (images/vmlinuz-ramfarm,
       make kernel), built fresh, booted straight into QEMU (-kernel, TCG, one
       vCPU, 512 MB, virtio-net, "console=ttyS0 quiet") against the real
       dispatcher (5 s heartbeats); a task samples PID 1 and the agent child
       before and after -idle. Prints
         bench image: kernel=<bytes> initramfs-minimal=<bytes> boot-to-ready-uptime=<s> agent-rss=<bytes> agent-idle-cpu=<percent>
       (uptime: guest seconds from kernel start until the agent registered;
       RSS and CPU: both processes together) and the same for Debian's kernel.
       Run it from the repository root.

dispatch-capacity
       the dispatcher alone, its durable store on, under simulated nodes that
       speak the real protocol over loopback TCP and answer every task at once.
       Prints
         bench dispatch-capacity: ramfarm=<tasks/s> p50=<ms> p99=<ms>
       (latency from a task reaching a node until its result is recorded).

dispatch
       end to end: -dispatch-tasks tasks, each running /bin/true through
       /bin/sh -c, -workers at a time: ramfarm (dispatcher with its durable
       store, and one real agent process on loopback with -workers slots, or
       -agent-slots each), Work Queue (python3-workqueue master, -workers
       single-core work_queue_workers), Slurm (slurmctld, one slurmd with
       -workers CPUs, munge; a job array), a bare queue (beanstalkd and
       workers of ours) and the limit (spawning the task with the same
       parallelism, no queue). Peers run in a network namespace the bench creates and
       removes. Prints
         bench dispatch: ramfarm=<tasks/s> workqueue=<tasks/s> slurm=<tasks/s> ratio-vs-best=<r> bare=<tasks/s> limit=<tasks/s> of-limit=<fraction>
       and a detail line with each system's wall time and setup.

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
	// 50 tasks in flight: by Little's law a p99 under 5 ms at 20,000
	// tasks/s allows about that many (at 50 x 4, p50 alone is 10 ms at that
	// rate); fewer starve the group commit of results to share an fsync.
	nodes := fs.Int("nodes", 25, "dispatch-capacity: simulated nodes")
	slots := fs.Int("slots", 2, "dispatch-capacity: slots per simulated node")
	agent := fs.String("agent", "bin/ramfarm-agent", "dispatch: the agent `binary`")
	dispatchTasks := fs.Int("dispatch-tasks", 2000, "dispatch: tasks per system")
	workers := fs.Int("workers", 4, "dispatch: task slots per system, the parallelism")
	agentSlots := fs.Int("agent-slots", 0, "dispatch: slots per ramfarm agent; 0: all of -workers in one agent, as a node runs; 1: one agent per slot")
	prefetch := fs.Int("prefetch", 0, "dispatch: ramfarm agents' --prefetch (tasks queued beyond their slot)")
	only := fs.String("dispatch-only", "", "dispatch: run only these systems, comma-separated (ramfarm,limit,bare,workqueue,slurm); the others print 0")
	dispatchDeadline := fs.Duration("dispatch-deadline", 20*time.Minute, "dispatch: each system's deadline")
	scratch := fs.String("scratch", "/dev/shm", "dispatch: a tmpfs `directory` for the workers' per-task directories, as on a node in RAM")
	hbNodes := fs.Int("hb-nodes", 10000, "heartbeats: simulated nodes")
	interval := fs.Duration("interval", time.Second, "heartbeats: heartbeat period")
	measure := fs.Duration("measure", 20*time.Second, "heartbeats: how long CPU is measured")
	bootClients := fs.Int("boot-clients", 200, "boot-files: simulated clients booting at once")
	bootDeadline := fs.Duration("boot-deadline", 10*time.Minute, "boot-files: each client's deadline")
	kernel := fs.String("kernel", "vmlinuz", "boot-files, boot-to-ready: kernel file `name` in -images")
	initrd := fs.String("initrd", "ramfarm-node.cpio.lz4", "boot-files, boot-to-ready: initramfs file `name` in -images")
	ipxeDir := fs.String("ipxe-dir", "/usr/lib/ipxe", "boot-files, boot-to-ready: `directory` with undionly.kpxe")
	keep := fs.Bool("keep", false, "keep the work directory (logs, serial consoles) and print where it is")
	idle := fs.Duration("idle", 30*time.Second, "image: idle window over which the agent's CPU is measured")
	runs := fs.Int("runs", 3, "boot-to-ready: boots per server (the median is reported)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fs.Arg(0) == simulatorCommand {
		return runSimulator(ctx)
	}
	work, err := os.MkdirTemp("", "ramfarm-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "ramfarm-bench: work directory kept:", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin, _ := filepath.Abs(*ramfarm)
	img, _ := filepath.Abs(*images)

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	benchmarks := map[string]func() int{
		"dhcp": func() int {
			return benchDHCP(ctx, bench.DHCPConfig{
				Clients: *clients, Rate: *rate, Period: *period, Ramfarm: bin, ImagesDir: img, WorkDir: work,
			})
		},
		"boot-files": func() int {
			return benchBootFiles(ctx, bench.BootFilesConfig{
				Clients: *bootClients, Ramfarm: bin, ImagesDir: img, Kernel: *kernel, Initrd: *initrd,
				IPXEDir: *ipxeDir, WorkDir: work, Deadline: *bootDeadline, Simulator: []string{self, simulatorCommand},
			})
		},
		"boot-to-ready": func() int {
			return benchBootToReady(ctx, bench.BootToReadyConfig{
				Runs: *runs, Ramfarm: bin, ImagesDir: img, Kernel: *kernel, Initrd: *initrd, IPXEDir: *ipxeDir, WorkDir: work,
			})
		},
		"dispatch-capacity": func() int {
			return benchCapacity(ctx, bench.CapacityConfig{Ramfarm: bin, WorkDir: work, Tasks: *tasks, Nodes: *nodes, Slots: *slots})
		},
		"dispatch": func() int {
			agentBin, _ := filepath.Abs(*agent)
			return benchDispatch(ctx, bench.DispatchConfig{Ramfarm: bin, Agent: agentBin, WorkDir: work, ScratchDir: *scratch,
				Tasks: *dispatchTasks, Workers: *workers, AgentSlots: *agentSlots, Prefetch: *prefetch, Deadline: *dispatchDeadline, Only: splitList(*only)})
		},
		"heartbeats": func() int {
			return benchHeartbeats(ctx, bench.HeartbeatConfig{Ramfarm: bin, WorkDir: work, Nodes: *hbNodes, Interval: *interval, Measure: *measure})
		},
		"image": func() int {
			return benchImage(ctx, bench.ImageConfig{Ramfarm: bin, RepoDir: ".", WorkDir: work, Idle: *idle})
		},
	}
	for _, name := range fs.Args() {
		if benchmarks[name] == nil {
			fmt.Fprintf(os.Stderr, "ramfarm-bench: no benchmark %q\n", name)
			fs.Usage()
			return 2
		}
	}
	for _, name := range fs.Args() {
		if code := benchmarks[name](); code != 0 {
			return code
		}
	}
	return 0
}

// simulatorCommand runs the boot-files client simulator (BootFiles starts
// it inside the client namespace); not for people.
const simulatorCommand = "boot-files-clients"

func runSimulator(ctx context.Context) int {
	if err := bench.ServeBootClients(ctx, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "boot-files client simulator:", err)
		return 1
	}
	return 0
}

func benchBootFiles(ctx context.Context, cfg bench.BootFilesConfig) int {
	rf, dm, err := bench.BootFiles(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench boot-files:", err)
		return 1
	}
	fmt.Printf("bench boot-files: ramfarm=%.2f dnsmasq=%.2f ratio=%.2f failures=%d\n",
		rf.Wall.Seconds(), dm.Wall.Seconds(), ratio(rf.Wall, dm.Wall), rf.Failures)
	fmt.Printf("bench boot-files detail: clients=%d ramfarm[%s] dnsmasq[%s]\n", cfg.Clients, phases(rf), phases(dm))
	for _, side := range []struct {
		name string
		r    bench.BootClientsResult
	}{{"ramfarm", rf}, {"dnsmasq", dm}} {
		for _, e := range side.r.Errors {
			fmt.Fprintf(os.Stderr, "bench boot-files: %s: %s\n", side.name, e)
		}
	}
	return 0
}

// phases formats a side's per-phase medians and maxima, its failures and
// retries.
func phases(r bench.BootClientsResult) string {
	var b strings.Builder
	for p, name := range bench.PhaseNames {
		fmt.Fprintf(&b, "%s=%.2f/%.2f ", name, r.P50[p].Seconds(), r.Max[p].Seconds())
	}
	fmt.Fprintf(&b, "(p50/max s) failures=%d dhcp-resends=%d download-restarts=%d", r.Failures, r.Resends, r.Restarts)
	return b.String()
}

func benchBootToReady(ctx context.Context, cfg bench.BootToReadyConfig) int {
	rf, dm, err := bench.BootToReady(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench boot-to-ready:", err)
		return 1
	}
	rfMed, dmMed := bench.Median(rf), bench.Median(dm)
	fmt.Printf("bench boot-to-ready: ramfarm=%.2f dnsmasq=%.2f ratio=%.2f\n", rfMed.Seconds(), dmMed.Seconds(), ratio(rfMed, dmMed))
	fmt.Printf("bench boot-to-ready detail: runs=%d ramfarm=%s dnsmasq=%s (s)\n", cfg.Runs, seconds(rf), seconds(dm))
	return 0
}

func seconds(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(s, ",")
}

// ratio is ramfarm's time over dnsmasq's: below 1 means ramfarm is faster.
func ratio(ramfarm, dnsmasq time.Duration) float64 {
	if dnsmasq <= 0 {
		return 0
	}
	return ramfarm.Seconds() / dnsmasq.Seconds()
}

func benchCapacity(ctx context.Context, cfg bench.CapacityConfig) int {
	r, err := bench.Capacity(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench dispatch-capacity:", err)
		return 1
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("bench dispatch-capacity: ramfarm=%.0f p50=%.2f p99=%.2f\n", r.TasksPerSecond, ms(r.P50), ms(r.P99))
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	fmt.Printf("bench dispatch-capacity detail: tasks=%d nodes=%d slots=%d store=bbolt(fsync) cpu-per-task: dispatcher=%.1fus load-generator=%.1fus %s\n",
		cfg.Tasks, cfg.Nodes, cfg.Slots, us(r.DispatcherCPU), us(r.LoadCPU), r.CommitsDetail(cfg.Tasks))
	return 0
}

func benchDispatch(ctx context.Context, cfg bench.DispatchConfig) int {
	r, err := bench.Dispatch(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench dispatch:", err)
		return 1
	}
	n := cfg.Tasks
	rf, wq, sl, bare, limit := r.Ramfarm.Rate(n), r.WorkQueue.Rate(n), r.Slurm.Rate(n), r.Bare.Rate(n), r.Limit.Rate(n)
	fmt.Printf("bench dispatch: ramfarm=%.0f workqueue=%.0f slurm=%.1f ratio-vs-best=%.2f bare=%.0f limit=%.0f of-limit=%.2f\n",
		rf, wq, sl, bench.RatioVsBest(rf, wq, sl), bare, limit, bench.OfLimit(rf, limit))
	fmt.Printf("bench dispatch detail: tasks=%d parallelism=%d task=\"/bin/sh -c /bin/true\"", n, cfg.Workers)
	for _, s := range []bench.SystemRun{r.Ramfarm, r.WorkQueue, r.Slurm, r.Bare, r.Limit} {
		fmt.Printf(" %s[wall=%.2fs %s]", s.Name, s.Wall.Seconds(), strings.TrimSuffix(s.Setup+"; "+s.Note, "; "))
	}
	fmt.Println()
	return 0
}

func benchHeartbeats(ctx context.Context, cfg bench.HeartbeatConfig) int {
	r, err := bench.Heartbeats(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench heartbeats:", err)
		return 1
	}
	fmt.Printf("bench heartbeats: nodes=%d interval=%s dispatcher-cpu=%.1f rss=%d\n", cfg.Nodes, cfg.Interval, r.CPUPercent, r.RSSBytes)
	fmt.Printf("bench heartbeats detail: ready-at-end=%d measured=%s registrations-retried=%d\n", r.Registered, cfg.Measure, r.Retried)
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

// splitList splits a comma-separated flag value; "" gives none.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
