package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

// errUsage means the user was already told what was wrong; errHelp means
// the user asked for help and got it. Neither needs another message.
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

// clientFlags starts a flag set for a command that talks to the API.
func clientFlags(name, args, about string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ramfarm %s %s\n\n%s\n\nFlags:\n", name, args, about)
		fs.PrintDefaults()
	}
	socket := fs.String("api-socket", DefaultAPISocket, "dispatcher API socket `path`")
	return fs, socket
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return errUsage
	}
	return nil
}

// parseWithArgs is parse for commands that need at least one argument.
func parseWithArgs(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	return nil
}

func nodes(args []string, out io.Writer) error {
	fs, socket := clientFlags("nodes", "[--json]", "Lists every node the dispatcher knows, one line each.")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	list, err := api.NewClient(*socket).Nodes(context.Background())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, list)
	}
	return WriteNodeTable(out, list, time.Now())
}

// WriteNodeTable prints the node table as the console shows it.
func WriteNodeTable(out io.Writer, list []api.Node, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMAC\tIP\tSTATE\tPROFILE\tCORES\tLOAD\tMEM FREE\tLAST SEEN\tRUNNING")
	for _, n := range list {
		profile := n.Profile
		if profile == "" {
			profile = "-"
		}
		state := n.State
		if n.Drained {
			state += ",drained"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%.2f\t%s\t%s ago\t%s\n",
			n.Name, n.MAC, n.IP, state, profile, n.Cores, n.Load1,
			bytesIEC(n.MemAvailableBytes), now.Sub(n.LastSeen).Round(time.Second), idList(n.Running))
	}
	return tw.Flush()
}

func reboot(args []string, out io.Writer) error {
	return forEachNode(args, out, "reboot", "Asks each node's agent to reboot its machine; the node boots again over PXE\nand registers with a new boot id.",
		(*api.Client).Reboot, "reboot requested")
}

func kexec(args []string, out io.Writer) error {
	return forEachNode(args, out, "kexec", "Asks each node's agent to restart straight into the kernel and initramfs of\nits boot profile, as they are now in the boot directory: no firmware, no PXE.\nThe agent checks both files against digests sent over its TLS connection\nbefore loading them. The node registers again with a new boot id.",
		(*api.Client).Kexec, "kexec requested")
}

func drain(args []string, out io.Writer) error {
	return forEachNode(args, out, "drain", "Stops handing new tasks to each node; the tasks it runs finish. The mark\nsurvives dispatcher restarts and node reboots; \"ramfarm resume\" lifts it.",
		(*api.Client).Drain, "drained: gets no new tasks")
}

func resume(args []string, out io.Writer) error {
	return forEachNode(args, out, "resume", "Hands tasks to each drained node again.",
		(*api.Client).Resume, "resumed")
}

// forEachNode is a command that does one thing to each node named.
func forEachNode(args []string, out io.Writer, name, help string, do func(*api.Client, context.Context, string) error, done string) error {
	fs, socket := clientFlags(name, "NODE...", help)
	if err := parseWithArgs(fs, args); err != nil {
		return err
	}
	c := api.NewClient(*socket)
	for _, node := range fs.Args() {
		if err := do(c, context.Background(), node); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s\n", node, done)
	}
	return nil
}

func consoleLog(args []string, out io.Writer) error {
	fs, socket := clientFlags("log", "[-n LINES] NODE", "Prints the last lines a node forwarded of its console: kernel messages and\nits agent's log, from the boot on. Nodes have no disk; the dispatcher keeps\nthese in STATE_DIR/consoles, also for nodes that have died.")
	n := fs.Int("n", 100, "how many `lines`")
	if err := parseWithArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	lines, err := api.NewClient(*socket).ConsoleLog(context.Background(), fs.Arg(0), *n)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

func cancel(args []string, out io.Writer) error {
	return forEachTask(args, "cancel", "TASK...", "Cancels each task that has not finished: a queued task never runs, a running\none is killed on its node. Its result says \"cancelled\".",
		func(c *api.Client, id uint64) error {
			if _, err := c.Cancel(context.Background(), id); err != nil {
				return err
			}
			_, err := fmt.Fprintf(out, "%d: cancelled\n", id)
			return err
		})
}

// forEachTask is a command that does one thing to each task named, after
// reading all the ids.
func forEachTask(args []string, name, usage, help string, do func(c *api.Client, id uint64) error) error {
	fs, socket := clientFlags(name, usage, help)
	if err := parseWithArgs(fs, args); err != nil {
		return err
	}
	ids, err := parseIDs(fs.Args())
	if err != nil {
		return err
	}
	c := api.NewClient(*socket)
	for _, id := range ids {
		if err := do(c, id); err != nil {
			return err
		}
	}
	return nil
}

func submit(args []string, out io.Writer) error {
	fs, socket := clientFlags("submit", "[--timeout D] [--priority N] [--retries N] [--memory SIZE] [--cpus N] [--pids N] [--wait] [-f FILE | COMMAND...]",
		"Submits each COMMAND (or each non-empty, non-# line of FILE, - for stdin) as a\ntask run by /bin/sh -c on a node. Prints the task ids once the dispatcher has\nstored the tasks.")
	timeout := fs.Duration("timeout", 0, "kill a task that runs longer than this (0: no limit)")
	priority := fs.Int("priority", 0, fmt.Sprintf("queued tasks of higher `priority` go out first (%d..%d)", api.MinPriority, api.MaxPriority))
	retries := fs.Int("retries", 0, fmt.Sprintf("run a failed task (non-zero exit, timeout) again up to `n` times (0..%d); a lost node's tasks always run again", api.MaxRetries))
	var memory byteSize
	fs.Var(&memory, "memory", "kill a task that uses more memory than `size` (512M, 2G; 0: the node's default, a share of all tasks' memory)")
	cpus := fs.Float64("cpus", 0, "hold a task to `n` cores of CPU time (1.5 is one and a half; 0: no limit)")
	pids := fs.Int("pids", 0, "the most processes a task may have at once (0: the node's default)")
	file := fs.String("f", "", "read commands from `file`, one per line")
	wait := fs.Bool("wait", false, "wait for the tasks to finish and print their results")
	if err := parse(fs, args); err != nil {
		return err
	}
	cmds := fs.Args()
	if *file != "" {
		lines, err := readCommands(*file)
		if err != nil {
			return err
		}
		cmds = append(cmds, lines...)
	}
	if len(cmds) == 0 {
		fs.Usage()
		return errUsage
	}
	specs := make([]api.TaskSpec, len(cmds))
	for i, c := range cmds {
		specs[i] = api.TaskSpec{
			Command: c, Timeout: *timeout, Priority: *priority, Retries: *retries,
			Limits: protocol.Limits{MemoryBytes: uint64(memory), CPUs: *cpus, Pids: *pids},
		}
	}
	c := api.NewClient(*socket)
	ids, err := c.Submit(context.Background(), specs)
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintln(out, id)
	}
	if !*wait {
		return nil
	}
	done, err := WaitTasks(context.Background(), c, ids, 500*time.Millisecond)
	if err != nil {
		return err
	}
	return WriteTaskTable(out, done, true)
}

// WaitTasks polls until every task in ids has finished and returns them.
func WaitTasks(ctx context.Context, c *api.Client, ids []uint64, every time.Duration) ([]api.Task, error) {
	out := make([]api.Task, len(ids))
	pending := make(map[int]bool, len(ids))
	for i := range ids {
		pending[i] = true
	}
	for {
		for i := range pending {
			t, err := c.Task(ctx, ids[i])
			if err != nil {
				return nil, err
			}
			if t.Result != nil {
				out[i] = t
				delete(pending, i)
			}
		}
		if len(pending) == 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
	}
}

func readCommands(path string) ([]string, error) {
	r := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var cmds []string
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds, s.Err()
}

func tasks(args []string, out io.Writer) error {
	fs, socket := clientFlags("tasks", "[--from ID] [--limit N] [--json]", "Lists tasks in id order with their state, node, exit status and duration.")
	from := fs.Uint64("from", 1, "first task `id` to list")
	limit := fs.Int("limit", 1000, "list at most `n` tasks")
	asJSON := fs.Bool("json", false, "print JSON (with outputs) instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	list, err := api.NewClient(*socket).Tasks(context.Background(), *from, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, list)
	}
	return WriteTaskTable(out, list, false)
}

// WriteTaskTable prints tasks one per line; withOutput adds the first line
// of each task's output.
func WriteTaskTable(out io.Writer, list []api.Task, withOutput bool) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "ID\tSTATE\tNODE\tEXIT\tDURATION\tCOMMAND"
	if withOutput {
		header += "\tOUTPUT"
	}
	fmt.Fprintln(tw, header)
	for _, t := range list {
		exit, dur, output := "-", "-", ""
		if r := t.Result; r != nil {
			exit, dur = strconv.Itoa(r.ExitCode), r.Duration.Round(time.Millisecond).String()
			output = firstLine(r.Stdout)
			if r.Error != "" {
				output = "error: " + r.Error
			}
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", t.ID, t.State, dash(t.Node), exit, dur, clip(t.Command, 40))
		if withOutput {
			line += "\t" + clip(output, 70)
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func task(args []string, out io.Writer) error {
	return forEachTask(args, "task", "ID...", "Shows tasks in full, with their output.",
		func(c *api.Client, id uint64) error {
			t, err := c.Task(context.Background(), id)
			if err != nil {
				return err
			}
			return printJSON(out, t)
		})
}

// parseIDs reads task ids, all of them before any is acted on.
func parseIDs(args []string) ([]uint64, error) {
	ids := make([]uint64, len(args))
	for i, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("task id %q is not a number", a)
		}
		ids[i] = id
	}
	return ids, nil
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func idList(ids []uint64) string {
	if len(ids) == 0 {
		return "-"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}

func bytesIEC(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
