// Command ramfarm is the dispatcher side of ramfarm: `ramfarm serve` runs
// the dispatcher; nodes, reboot, submit and tasks steer it.
package main

import (
	"os"

	"github.com/ramfarm/ramfarm/dispatcher/console"
)

func main() { os.Exit(console.Main(os.Args[1:])) }
