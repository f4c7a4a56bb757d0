package qemutests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/ramfarm/ramfarm/qemu-tests/bench"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
	"github.com/u-root/uio/llog"
)

// imageProfiles are the built-in image profiles, each with a task that
// needs what the profile adds and the output that proves it ran there.
var imageProfiles = []struct {
	name, task, want string
}{
	{"minimal", `sh -c 'echo ok'`, "ok\n"},
	{"tools", `/bbin/echo uroot && /bbin/ls /bbin/ls && /bbin/grep -c profile /etc/ramfarm/image.json`, "uroot\nls\n1\n"},
	{"runtimes", `python3 -c 'print(6*7)' && ` +
		`printf '#include <stdio.h>\nint main(void) { printf("%%d\\n", 6 * 7); return 0; }\n' > hello.c && ` +
		`gcc -o hello hello.c && ./hello`, "42\n42\n"},
}

var imageKernels = []initramfs.Kernel{initramfs.KernelCustom, initramfs.KernelDebian}

// TestImageMatrix builds every built-in image profile for both kernels and
// boots each, one node at a time (TCG, one vCPU, 1 GiB: the runtimes image
// unpacks to about 110 MB, held twice while the kernel unpacks it), against
// the real dispatcher:
//
//   - direct: QEMU loads the kernel and initramfs itself (-kernel), on a
//     virtio NIC: the image under test without the boot path. With Debian's
//     kernel the NIC driver is a module the agent loads by modalias, so the
//     minimal image also boots on an e1000e NIC;
//   - over PXE: SeaBIOS and iPXE, with the dispatcher's boot profiles giving
//     each node's MAC its kernel and initramfs.
//
// Each node must register and run its profile's task, and say (from
// /etc/ramfarm/image.json) that it runs that profile.
func TestImageMatrix(t *testing.T) {
	env := prepare(t)
	start := time.Now()
	built := buildImageMatrix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("rfimg%d", os.Getpid()%100000)
	var summary []string

	type directCase struct {
		kernel  initramfs.Kernel
		profile int // in imageProfiles
		nic     string
	}
	var direct []directCase
	for _, kernel := range imageKernels {
		for i := range imageProfiles {
			direct = append(direct, directCase{kernel, i, "virtio-net-pci"})
		}
	}
	direct = append(direct, directCase{initramfs.KernelDebian, 0, "e1000e"})
	for n, dc := range direct {
		p := imageProfiles[dc.profile]
		t.Run(fmt.Sprintf("direct/%s/%s/%s", dc.kernel, p.name, dc.nic), func(t *testing.T) {
			begin := time.Now()
			dir := built[dc.kernel]
			b, err := bench.BootImage(ctx, bench.ImageBootConfig{
				Name: fmt.Sprintf("%sd%d", prefix, n), Ramfarm: env.ramfarm, ImagesDir: dir, WorkDir: t.TempDir(),
				Kernel: filepath.Join(dir, initramfs.KernelName), Initrd: filepath.Join(dir, initramfs.InitrdFileName(p.name)),
				NIC: dc.nic, MemoryMB: 1024, Heartbeat: time.Second,
			})
			if b != nil {
				defer b.Close()
			}
			if err != nil {
				if b != nil {
					t.Logf("serial console:\n%s", tail(b.Serial(), 60))
				}
				t.Fatalf("node never registered: %v", err)
			}
			up, err := b.RegisteredUptime()
			if err != nil {
				t.Error(err)
			}
			checkDriversLoaded(t, b.Serial(), dc.kernel, dc.nic)
			took := checkProfileTasks(t, ctx, b.Cluster.Client(), b.Node, dc.profile)
			summary = append(summary, fmt.Sprintf("direct %s %s %s: registered at uptime %.2f s, task %.1f s, %.0f s wall",
				dc.kernel, p.name, dc.nic, up, took.Seconds(), time.Since(begin).Seconds()))
		})
	}

	summary = append(summary, bootImagesOverPXE(t, ctx, env, built, prefix+"p")...)

	if left := vm.Leftovers(prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, s := range summary {
		fmt.Println("images:", s)
	}
	fmt.Printf("images: the whole matrix took %.0f s\n", time.Since(start).Seconds())
}

// buildImageMatrix builds every profile for each kernel, into a directory
// per kernel, and prints the sizes.
func buildImageMatrix(t *testing.T) map[initramfs.Kernel]string {
	customKernel, err := filepath.Abs(filepath.Join("..", initramfs.CustomKernelPath))
	if err != nil {
		t.Fatal(err)
	}
	var profiles []string
	for _, p := range imageProfiles {
		profiles = append(profiles, p.name)
	}
	built := map[initramfs.Kernel]string{}
	for _, kernel := range imageKernels {
		start := time.Now()
		dir := t.TempDir()
		m, err := initramfs.Build(initramfs.Config{
			OutDir: dir, RepoDir: "..", Kernel: kernel, CustomKernel: customKernel, Profiles: profiles, Log: llog.Test(t),
		})
		if err != nil {
			t.Fatalf("building the %s kernel's images: %v", kernel, err)
		}
		built[kernel] = dir
		for _, a := range m.Artifacts {
			fmt.Printf("images: %s kernel: %-30s %9d bytes, %9d unpacked\n", kernel, a.Name, a.Size, a.Unpacked)
		}
		fmt.Printf("images: %s kernel: built in %.0f s\n", kernel, time.Since(start).Seconds())
	}
	return built
}

// bootImagesOverPXE boots every kernel and profile over PXE, one node at a
// time, in one cluster whose boot profiles (named KERNEL-PROFILE) give each
// node's MAC its files, and returns a summary line per boot.
func bootImagesOverPXE(t *testing.T, ctx context.Context, env env, built map[initramfs.Kernel]string, name string) []string {
	// One boot directory: the Debian kernel's files under their own names
	// (the dispatcher's defaults), and every kernel's files under
	// KERNEL-NAME. Hard links: the runtimes images are 40 MB each.
	bootDir := t.TempDir()
	var conf strings.Builder
	type pxeCase struct{ profile, kernel, bootProfile string }
	var cases []pxeCase
	link := func(from, to string) {
		if err := os.Link(from, filepath.Join(bootDir, to)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{initramfs.KernelName, initramfs.InitrdName} {
		link(filepath.Join(built[initramfs.KernelDebian], f), f)
	}
	for _, kernel := range imageKernels {
		kfile := kernelFile(string(kernel))
		link(filepath.Join(built[kernel], initramfs.KernelName), kfile)
		for _, p := range imageProfiles {
			ifile := initrdFile(string(kernel), p.name)
			link(filepath.Join(built[kernel], initramfs.InitrdFileName(p.name)), ifile)
			bp := string(kernel) + "-" + p.name
			fmt.Fprintf(&conf, "[profile %s]\nkernel = %s\ninitrd = %s\ncmdline = console=ttyS0\n\n[node %s]\nprofile = %s\n\n",
				bp, kfile, ifile, cluster.MAC(len(cases)), bp)
			cases = append(cases, pxeCase{p.name, string(kernel), bp})
		}
	}
	profilesFile := filepath.Join(t.TempDir(), "boot-profiles.conf")
	if err := os.WriteFile(profilesFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	specs := make([]cluster.NodeSpec, len(cases))
	for i := range specs {
		specs[i] = cluster.NodeSpec{CPUs: 1, MemoryMB: 1024, NIC: "virtio-net-pci"}
	}
	c, err := cluster.Start(ctx, cluster.Config{
		Name: name, RamfarmBin: env.ramfarm, ImagesDir: bootDir, WorkDir: t.TempDir(),
		Nodes: specs, Heartbeat: time.Second, BootProfiles: profilesFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var summary []string
	for i, pc := range cases {
		t.Run(fmt.Sprintf("pxe/%s/%s", pc.kernel, pc.profile), func(t *testing.T) {
			begin := time.Now()
			m, err := c.PowerOn(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Stop()
			wctx, cancel := context.WithTimeout(ctx, bootTimeout)
			node, err := c.WaitReady(wctx, i, "")
			cancel()
			if err != nil {
				t.Fatalf("node never registered: %v\nserial console:\n%s", err, tail(m.Log(), 60))
			}
			// The dispatcher served this node its own boot profile.
			if node.Profile != pc.bootProfile {
				t.Errorf("node reports boot profile %q, want %q", node.Profile, pc.bootProfile)
			}
			took := checkProfileTasks(t, ctx, c.Client(), node, profileIndex(pc.profile))
			if pc.profile == "minimal" { // kexec with each kernel's own configuration
				kexecAndCheck(t, ctx, c, i, node, kernelFile(pc.kernel), initrdFile(pc.kernel, pc.profile))
			}
			// The next node must get the next tasks: no task goes to a
			// drained node, and this one is about to be switched off.
			if err := c.Client().Drain(ctx, node.Name); err != nil {
				t.Error(err)
			}
			summary = append(summary, fmt.Sprintf("pxe %s %s: registered %.1f s after power-on, task %.1f s, %.0f s wall",
				pc.kernel, pc.profile, node.Registered.Sub(m.StartedAt()).Seconds(), took.Seconds(), time.Since(begin).Seconds()))
		})
	}
	return summary
}

// kernelFile and initrdFile name a kernel's files in the matrix's boot
// directory.
func kernelFile(kernel string) string { return kernel + "-" + initramfs.KernelName }
func initrdFile(kernel, profile string) string {
	return kernel + "-" + initramfs.InitrdFileName(profile)
}

func profileIndex(name string) int {
	for i, p := range imageProfiles {
		if p.name == name {
			return i
		}
	}
	panic("no image profile " + name)
}

// checkProfileTasks runs profile i's task and a task reading the image's
// description on node, and returns how long the profile's task took.
func checkProfileTasks(t *testing.T, ctx context.Context, c *api.Client, node api.Node, i int) time.Duration {
	t.Helper()
	p := imageProfiles[i]
	task, err := bench.RunTask(ctx, c, p.task, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if task.Node != node.Name || task.Result == nil || task.Result.ExitCode != 0 || task.Result.Stdout != p.want {
		t.Fatalf("task %q on %s: %+v, want exit 0 and stdout %q on %s", p.task, task.Node, task.Result, p.want, node.Name)
	}
	info, err := bench.RunTask(ctx, c, "cat /etc/ramfarm/image.json", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if info.Result == nil || !strings.Contains(info.Result.Stdout, `"profile": "`+p.name+`"`) {
		t.Errorf("the node's /etc/ramfarm/image.json does not name profile %s: %+v", p.name, info.Result)
	}
	return task.Result.Duration
}

// checkDriversLoaded checks the agent's driver loading: with Debian's
// kernel it must have loaded the NIC's driver (by modalias, dependencies
// first), with the custom kernel nothing (all built in).
func checkDriversLoaded(t *testing.T, serial string, kernel initramfs.Kernel, nic string) {
	t.Helper()
	if kernel == initramfs.KernelCustom {
		if !logHasLine(serial, `msg="drivers loaded"`, `modules=""`) {
			t.Errorf("custom kernel: the agent loaded modules, or did not say:\n%s", tail(serial, 40))
		}
		return
	}
	want := map[string][]string{
		"virtio-net-pci": {"virtio_pci", "net_failover", "virtio_net"},
		"e1000e":         {"e1000e"},
	}[nic]
	for _, m := range want {
		if !logHasLine(serial, `msg="loaded kernel module"`, "module="+m+" ") {
			t.Errorf("Debian kernel, %s: the agent did not load %s:\n%s", nic, m, tail(serial, 40))
		}
	}
}
