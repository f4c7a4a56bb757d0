package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Leftovers lists what is left on the host whose name starts with prefix:
// network namespaces, and QEMU and dnsmasq processes with an argument that
// mentions it (a node's -name is "<namespace>/<node>"; a test's dnsmasq
// must name its lease file after the namespace). Tests use it to check
// their teardown; an empty list means clean.
func Leftovers(prefix string) []string {
	var left []string
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		// Unknown is not clean.
		left = append(left, "cannot list network namespaces: "+err.Error())
	}
	for line := range strings.Lines(string(out)) {
		// Lines read "name" or "name (id: 3)".
		if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); name != "" && strings.HasPrefix(name, prefix) {
			left = append(left, "network namespace "+name)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || len(cmdline) == 0 {
			continue // gone meanwhile, or a zombie
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		program := filepath.Base(args[0])
		if !strings.HasPrefix(program, "qemu-system") && program != "dnsmasq" {
			continue
		}
		for _, arg := range args[1:] {
			if strings.Contains(arg, prefix) {
				pid := filepath.Base(filepath.Dir(p))
				left = append(left, program+" pid "+pid+": "+strings.Join(args, " "))
				break
			}
		}
	}
	return left
}
