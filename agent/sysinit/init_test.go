package sysinit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// roleEnv makes the test binary play a part in a new PID namespace: PID 1
// running RunInit, or PID 1 calling Reboot or PowerOff.
const roleEnv = "SYSINIT_TEST_ROLE"

// agentEnv says how the fake agent behaves: "" exits after a while, "stays"
// runs until SIGTERM, "ignores" runs on despite SIGTERM.
const agentEnv = "SYSINIT_TEST_AGENT"

func TestMain(m *testing.M) {
	if IsChild() {
		fakeAgent()
	}
	if role := os.Getenv(roleEnv); role != "" {
		playRole(role)
	}
	os.Exit(m.Run())
}

// playRole never returns. Being PID 1 proves this is a fresh PID namespace,
// where reboot(2) only ends the namespace, never the host.
func playRole(role string) {
	if os.Getpid() != 1 {
		fmt.Fprintf(os.Stderr, "role %s refused: not PID 1 of a new PID namespace\n", role)
		os.Exit(2)
	}
	switch role {
	case "init":
		// Keep RunInit's mounts inside this namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fmt.Fprintln(os.Stderr, "making / private:", err)
			os.Exit(2)
		}
		RunInit()
	case "reboot":
		fmt.Println(Reboot())
	case "poweroff":
		fmt.Println(PowerOff())
	}
	os.Exit(2)
}

// fakeAgent plays the agent: it reports what it sees, leaves an orphan for
// PID 1 to reap, and exits with status 7 to be restarted; or, as agentEnv
// says, waits for SIGTERM.
func fakeAgent() {
	switch os.Getenv(agentEnv) {
	case "stays":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Println("agent up")
		<-term
		fmt.Println("agent stopping on SIGTERM")
		os.Exit(0)
	case "ignores":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("agent up")
		select {}
	}
	lo, err := net.InterfaceByName("lo")
	fmt.Printf("agent ppid=%d lo_up=%v\n", os.Getppid(), err == nil && lo.Flags&net.FlagUp != 0)
	// sh exits at once; the background sleep is reparented to PID 1.
	if err := exec.Command("sh", "-c", "sleep 0.2 &").Run(); err != nil {
		fmt.Println("agent cannot run sh:", err)
	}
	time.Sleep(500 * time.Millisecond)
	os.Exit(7)
}

// startInNewNamespaces starts the test binary in the given role as PID 1
// of new PID, mount, network, UTS and IPC namespaces. Its stdout and stderr
// come back as lines.
func startInNewNamespaces(t *testing.T, role string, env ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	requireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stdin = strings.NewReader("") // a pipe, not /dev/null: no console to attach
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		Pdeathsig:  unix.SIGKILL,
	}
	err = cmd.Start()
	w.Close() // the namespace's processes hold the only write ends now
	if err != nil {
		t.Fatalf("starting %s in new namespaces: %v", role, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // ends the PID namespace and everything in it
		cmd.Wait()
	})
	// lines is closed when the whole namespace is gone.
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		defer out.Close()
		s := bufio.NewScanner(out)
		for s.Scan() {
			t.Logf("%s: %s", role, s.Text())
			lines <- s.Text()
		}
	}()
	return cmd, lines
}

func TestRunInitRestartsAgentAndReapsOrphans(t *testing.T) {
	cmd, lines := startInNewNamespaces(t, "init")
	restartIn := regexp.MustCompile(`agent ended.*status="exit status 7" restart_in=(\S+)`)

	var agents int
	var delays []string
	deadline := time.After(20 * time.Second)
	for agents < 3 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("PID 1 exited: %v", cmd.Wait())
			}
			if strings.HasPrefix(line, "agent ") {
				agents++
				if line != "agent ppid=1 lo_up=true" {
					t.Errorf("agent saw %q, want ppid=1 and lo up", line)
				}
			}
			if m := restartIn.FindStringSubmatch(line); m != nil {
				delays = append(delays, m[1])
			}
		case <-deadline:
			t.Fatalf("only %d agent runs in 20 s, want 3", agents)
		}
	}
	if strings.Join(delays, " ") != "1s 2s" {
		t.Errorf("restart delays %v, want [1s 2s]", delays)
	}
	// The first two agents' orphans exited long ago.
	if zombies := zombieChildren(t, cmd.Process.Pid); len(zombies) > 0 {
		t.Errorf("PID 1 left zombies: %v", zombies)
	}
}

// zombieChildren lists the unreaped children of pid, as seen from the host.
func zombieChildren(t *testing.T, pid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var zombies []string
	for _, file := range stats {
		b, err := os.ReadFile(file)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && ppid == pid && state == "Z" {
			zombies = append(zombies, file)
		}
	}
	return zombies
}

func TestRebootAndPowerOffEndThePIDNamespace(t *testing.T) {
	// In a PID namespace, reboot(2) kills the namespace's PID 1 with
	// SIGHUP for a restart and SIGINT for a power-off.
	for role, want := range map[string]syscall.Signal{"reboot": unix.SIGHUP, "poweroff": unix.SIGINT} {
		t.Run(role, func(t *testing.T) {
			cmd, lines := startInNewNamespaces(t, role)
			for range lines {
			}
			err := cmd.Wait()
			status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !status.Signaled() || status.Signal() != want {
				t.Errorf("%s ended with %v, want death by %v", role, err, want)
			}
		})
	}
}

// TestShutdownSignals sends PID 1 a shutdown signal and checks it stops
// the agent, then reboots or powers off: in a PID namespace, reboot(2)
// ends PID 1 with SIGHUP for a restart and SIGINT for a power-off.
func TestShutdownSignals(t *testing.T) {
	for _, tt := range []struct {
		name   string
		signal syscall.Signal
		agent  string
		want   []string
		death  syscall.Signal
	}{
		{"SIGTERM reboots", unix.SIGTERM, "stays", []string{"agent stopping on SIGTERM", "agent stopped"}, unix.SIGHUP},
		{"ctrl-alt-del reboots", unix.SIGINT, "stays", []string{"agent stopping on SIGTERM", "agent stopped"}, unix.SIGHUP},
		{"SIGUSR2 powers off", unix.SIGUSR2, "stays", []string{"agent stopping on SIGTERM", "agent stopped"}, unix.SIGINT},
		{"an agent ignoring SIGTERM is killed after the grace period", unix.SIGTERM, "ignores", []string{"did not stop in time", "agent stopped"}, unix.SIGHUP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd, lines := startInNewNamespaces(t, "init", agentEnv+"="+tt.agent)
			var seen []string
			for line := range lines {
				seen = append(seen, line)
				if line == "agent up" {
					if err := cmd.Process.Signal(tt.signal); err != nil {
						t.Fatal(err)
					}
				}
			}
			cmd.Wait()
			log := strings.Join(seen, "\n")
			for _, want := range append([]string{"shutting down"}, tt.want...) {
				if !strings.Contains(log, want) {
					t.Errorf("PID 1's log lacks %q", want)
				}
			}
			if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() || status.Signal() != tt.death {
				t.Errorf("PID 1 ended with %v, want death by %v", cmd.ProcessState, tt.death)
			}
		})
	}
}
