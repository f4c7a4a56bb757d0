// Command ramfarm-agent is the init of a ramfarm node image: it brings the
// node up, registers with the dispatcher and runs the tasks it is given.
package main

import "github.com/ramfarm/ramfarm/agent"

func main() { agent.Main() }
