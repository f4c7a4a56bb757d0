package agent

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Version is the agent's version, reported at registration.
const Version = "0.1.0"

// loadAndMemory reads the 1-minute load average and the available memory.
// Zeroes where /proc does not say.
func loadAndMemory() (load1 float64, memAvailable uint64) {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	memAvailable = meminfo("MemAvailable")
	return load1, memAvailable
}

// meminfo returns a /proc/meminfo field in bytes.
func meminfo(field string) uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		return kb * 1024
	}
	return 0
}

// bootID returns the kernel's id for this boot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
