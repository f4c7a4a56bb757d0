// Package console is the ramfarm command line: `ramfarm serve` runs the
// dispatcher, the other commands steer it through its API socket.
package console

import (
	"fmt"
	"io"
	"os"
)

// DefaultAPISocket is where `ramfarm serve` listens and the other commands
// connect unless told otherwise.
const DefaultAPISocket = "/run/ramfarm/api.sock"

type command struct {
	name, args, summary string
	run                 func(args []string, out io.Writer) error
}

var commands = []command{
	{"serve", "[flags]", "run the dispatcher: boot services, node registry, task queue, API", serve},
	{"nodes", "[--json]", "list nodes: name, MAC, IP, state, cores, load, last seen, running tasks", nodes},
	{"reboot", "NODE...", "reboot nodes through their agents (they boot again over PXE)", reboot},
	{"kexec", "NODE...", "restart nodes straight into their boot profile's kernel, skipping firmware and PXE", kexec},
	{"drain", "NODE...", "hand no new tasks to nodes; their running tasks finish", drain},
	{"resume", "NODE...", "hand tasks to drained nodes again", resume},
	{"log", "[-n LINES] NODE", "show a node's console: kernel messages and agent log, kept by the dispatcher", consoleLog},
	{"submit", "[--timeout D] [--priority N] [--retries N] [--memory SIZE] [--cpus N] [--pids N] [--wait] [-f FILE | COMMAND...]", "submit shell commands as tasks", submit},
	{"tasks", "[--from ID] [--limit N] [--json]", "list tasks with their state and exit status", tasks},
	{"task", "ID...", "show tasks in full, output included", task},
	{"cancel", "TASK...", "cancel tasks: queued ones never run, running ones are killed", cancel},
}

// Main runs the ramfarm command with args (without the program name) and
// returns the exit status.
func Main(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			switch err := c.run(args[1:], os.Stdout); err {
			case nil, errHelp:
				return 0
			case errUsage:
				return 2
			default:
				fmt.Fprintf(os.Stderr, "ramfarm %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(os.Stderr, "ramfarm: unknown command %q\n\n", args[0])
	usage(os.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `ramfarm boots a rack of machines into RAM over the network and runs work on them.

Usage: ramfarm COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-46s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprint(w, `
Every command takes --help. The steering commands talk to a running
dispatcher over its Unix socket (--api-socket, default `+DefaultAPISocket+`),
which only root can open.

Example: a dispatcher on br0 booting nodes from ./images
  ramfarm serve --interface br0 --boot-dir images
  ramfarm nodes
  ramfarm submit --wait 'echo $((6*7))' 'nproc'
`)
}
