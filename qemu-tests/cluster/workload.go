package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// Check is a task whose output can be verified: Verify gets the finished
// task and the core count of the node that ran it.
type Check struct {
	Command string
	Verify  func(t api.Task, nodeCores int) error
}

// Checks returns n tasks of three kinds, in turn: arithmetic in the shell,
// sha256sum of a known input, and the node's core count.
func Checks(n int) []Check {
	out := make([]Check, n)
	for i := range out {
		switch i % 3 {
		case 0:
			out[i] = arithmetic(i)
		case 1:
			out[i] = checksum(i)
		default:
			out[i] = cores()
		}
	}
	return out
}

func arithmetic(i int) Check {
	want := strconv.Itoa(i*i + 7)
	return Check{
		Command: fmt.Sprintf("echo $((%d * %d + 7))", i, i),
		Verify:  func(t api.Task, _ int) error { return expectStdout(t, want) },
	}
}

func checksum(i int) Check {
	input := fmt.Sprintf("ramfarm task %d", i)
	sum := sha256.Sum256([]byte(input))
	want := hex.EncodeToString(sum[:]) + "  -"
	return Check{
		Command: fmt.Sprintf("printf '%s' | sha256sum", input),
		Verify:  func(t api.Task, _ int) error { return expectStdout(t, want) },
	}
}

func cores() Check {
	return Check{
		Command: "nproc",
		Verify: func(t api.Task, nodeCores int) error {
			return expectStdout(t, strconv.Itoa(nodeCores))
		},
	}
}

func expectStdout(t api.Task, want string) error {
	if t.Result == nil {
		return fmt.Errorf("task %d (%s): no result", t.ID, t.Command)
	}
	if t.Result.ExitCode != 0 || t.Result.Error != "" {
		return fmt.Errorf("task %d (%s): exit %d, error %q, stderr %q", t.ID, t.Command, t.Result.ExitCode, t.Result.Error, t.Result.Stderr)
	}
	if got := strings.TrimSpace(t.Result.Stdout); got != want {
		return fmt.Errorf("task %d (%s) on %s: stdout %q, want %q", t.ID, t.Command, t.Node, got, want)
	}
	return nil
}
