package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// fakeService is a unit-test stand-in for the dispatcher.
type fakeService struct {
	submitted []TaskSpec
	drained   map[string]bool
	kexeced   []string
}

func (f *fakeService) Nodes() []Node { return []Node{{Name: "node1", State: NodeReady}} }
func (f *fakeService) Reboot(name string) error {
	if name != "node1" {
		return fmt.Errorf("%w: no node %q", ErrNotFound, name)
	}
	return nil
}
func (f *fakeService) Kexec(name string) error {
	if err := f.Reboot(name); err != nil {
		return err
	}
	f.kexeced = append(f.kexeced, name)
	return nil
}
func (f *fakeService) Drain(name string, drain bool) error {
	if err := f.Reboot(name); err != nil {
		return err
	}
	f.drained[name] = drain
	return nil
}
func (f *fakeService) ConsoleLog(name string, lines int) ([]string, error) {
	if err := f.Reboot(name); err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("%d lines asked", lines)}, nil
}
func (f *fakeService) Submit(tasks []TaskSpec) ([]uint64, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("%w: no tasks", ErrInvalid)
	}
	if len(tasks) > 1000 {
		return nil, fmt.Errorf("%w: try later", ErrBusy)
	}
	f.submitted = append(f.submitted, tasks...)
	ids := make([]uint64, len(tasks))
	for i := range ids {
		ids[i] = uint64(len(f.submitted) - len(tasks) + i + 1)
	}
	return ids, nil
}
func (f *fakeService) Tasks(from uint64, limit int) ([]Task, error) {
	return []Task{{ID: from, State: TaskQueued}}, nil
}
func (f *fakeService) Task(id uint64) (Task, error) {
	if id != 1 {
		return Task{}, fmt.Errorf("%w: task %d", ErrNotFound, id)
	}
	return Task{ID: 1, State: TaskDone, Result: &Result{Stdout: "ok"}}, nil
}
func (f *fakeService) Cancel(id uint64) (Task, error) {
	if id == 1 {
		return Task{}, fmt.Errorf("%w: task 1 has finished already", ErrConflict)
	}
	return Task{ID: id, State: TaskCancelled}, nil
}

func serveFake(t *testing.T) (*Client, string, *fakeService) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	svc := &fakeService{drained: map[string]bool{}}
	srv := &http.Server{Handler: NewHandler(svc, slog.New(slog.NewTextHandler(io.Discard, nil)))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock), sock, svc
}

func TestClientAndHandler(t *testing.T) {
	c, _, svc := serveFake(t)
	ctx := context.Background()
	if nodes, err := c.Nodes(ctx); err != nil || len(nodes) != 1 || nodes[0].Name != "node1" {
		t.Fatalf("Nodes = %v, %v", nodes, err)
	}
	ids, err := c.Submit(ctx, []TaskSpec{{Command: "a"}, {Command: "b"}})
	if err != nil || len(ids) != 2 || len(svc.submitted) != 2 {
		t.Fatalf("Submit = %v, %v", ids, err)
	}
	if task, err := c.Task(ctx, 1); err != nil || task.Result.Stdout != "ok" {
		t.Fatalf("Task = %+v, %v", task, err)
	}
	if err := c.Reboot(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reboot(ctx, "node7"); err == nil || !strings.Contains(err.Error(), `no node "node7"`) {
		t.Fatalf("reboot of an unknown node: %v", err)
	}
	if err := c.Kexec(ctx, "node1"); err != nil || len(svc.kexeced) != 1 {
		t.Fatalf("kexec: %v, service saw %v", err, svc.kexeced)
	}
	if err := c.Kexec(ctx, "node7"); err == nil || !strings.Contains(err.Error(), `no node "node7"`) {
		t.Fatalf("kexec of an unknown node: %v", err)
	}
	if _, err := c.Task(ctx, 99); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown task: %v", err)
	}
	if lines, err := c.ConsoleLog(ctx, "node1", 20); err != nil || len(lines) != 1 || lines[0] != "20 lines asked" {
		t.Fatalf("console log: %v %v", lines, err)
	}
	if err := c.Drain(ctx, "node1"); err != nil || !svc.drained["node1"] {
		t.Fatalf("drain: %v, drained %v", err, svc.drained)
	}
	if err := c.Resume(ctx, "node1"); err != nil || svc.drained["node1"] {
		t.Fatalf("resume: %v, drained %v", err, svc.drained)
	}
	if task, err := c.Cancel(ctx, 5); err != nil || task.State != TaskCancelled {
		t.Fatalf("cancel: %+v %v", task, err)
	}
	if _, err := c.Cancel(ctx, 1); err == nil || !strings.Contains(err.Error(), "finished already") {
		t.Fatalf("cancel of a finished task: %v", err)
	}
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	_, sock, _ := serveFake(t)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/tasks", "{not json", http.StatusBadRequest},
		{"POST", "/v1/tasks", `{"tasks":[{"command":"x","colour":"red"}]}`, http.StatusBadRequest},
		{"POST", "/v1/tasks", `{"tasks":[]}`, http.StatusBadRequest},
		{"GET", "/v1/tasks/abc", "", http.StatusBadRequest},
		{"GET", "/v1/tasks?from=-1", "", http.StatusBadRequest},
		{"GET", "/v1/tasks/42", "", http.StatusNotFound},
		{"DELETE", "/v1/nodes", "", http.StatusMethodNotAllowed},
		{"POST", "/v1/nodes/node9/drain", "", http.StatusNotFound},
		{"POST", "/v1/tasks/x/cancel", "", http.StatusBadRequest},
		{"POST", "/v1/tasks", `{"tasks":[` + strings.Repeat(`{"command":"x"},`, 1000) + `{"command":"x"}]}`, http.StatusServiceUnavailable},
	} {
		req, _ := http.NewRequest(tc.method, "http://ramfarm"+tc.path, strings.NewReader(tc.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s %q: status %d (%s), want %d", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.status)
		}
		if tc.status != http.StatusMethodNotAllowed && !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s %s: body %s has no error message", tc.method, tc.path, body)
		}
	}
}
