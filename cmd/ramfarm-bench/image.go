package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/ramfarm/ramfarm/qemu-tests/bench"
)

// benchImage measures the minimal image with the custom kernel (the
// figures with targets), then with Debian's (for comparison).
func benchImage(ctx context.Context, cfg bench.ImageConfig) int {
	for _, kernel := range []initramfs.Kernel{initramfs.KernelCustom, initramfs.KernelDebian} {
		r, err := bench.Image(ctx, cfg, kernel)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench image (%s kernel): %v\n", kernel, err)
			return 1
		}
		label := "bench image:"
		if kernel != initramfs.KernelCustom {
			label = "bench image " + string(kernel) + " kernel (informational):"
		}
		fmt.Printf("%s kernel=%d initramfs-minimal=%d boot-to-ready-uptime=%.2f agent-rss=%d agent-idle-cpu=%.2f\n",
			label, r.KernelBytes, r.InitrdBytes, r.RegisteredAt, r.AgentRSS, r.AgentIdleCPU)
		fmt.Printf("bench image %s detail: idle-window=%.1fs heartbeat=%s qemu=tcg,1cpu,512MB,virtio-net cmdline=%q\n",
			kernel, r.IdleWindow, r.HeartbeatEvery, bench.ImageKernelArgs)
		fmt.Printf("bench image %s boot phases (guest uptime, s): %s\n", kernel, r.Phases)
		fmt.Printf("bench image %s boot-to-ready-icount=%.3f (another boot, guest clock counting instructions at 1 ns: host load does not move it, TCG translation is not in it)\n",
			kernel, r.RegisteredAtICount)
	}
	return 0
}
