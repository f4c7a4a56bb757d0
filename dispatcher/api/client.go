package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Client talks to a dispatcher's API over its Unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the API socket at path.
func NewClient(socket string) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}
	return &Client{socket: socket, http: &http.Client{
		Transport: &http.Transport{DialContext: dial},
		Timeout:   2 * time.Minute,
	}}
}

// Nodes returns the node table.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var nodes []Node
	return nodes, c.do(ctx, http.MethodGet, "/v1/nodes", nil, &nodes)
}

// Reboot asks a node to reboot.
func (c *Client) Reboot(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+node+"/reboot", nil, nil)
}

// Kexec asks a node to restart straight into its boot profile's kernel.
func (c *Client) Kexec(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+node+"/kexec", nil, nil)
}

// Drain stops handing tasks to a node; its running tasks finish.
func (c *Client) Drain(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+node+"/drain", nil, nil)
}

// Resume undoes Drain.
func (c *Client) Resume(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+node+"/resume", nil, nil)
}

// ConsoleLog returns the last lines (at most MaxLogLines) a node forwarded
// of its console.
func (c *Client) ConsoleLog(ctx context.Context, node string, lines int) ([]string, error) {
	var out []string
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/nodes/%s/log?lines=%d", url.PathEscape(node), lines), nil, &out)
}

// Cancel ends a task that has no result yet and returns it.
func (c *Client) Cancel(ctx context.Context, id uint64) (Task, error) {
	var t Task
	return t, c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/tasks/%d/cancel", id), nil, &t)
}

// Submit submits tasks and returns their ids once they are stored.
func (c *Client) Submit(ctx context.Context, tasks []TaskSpec) ([]uint64, error) {
	var rep SubmitReply
	err := c.do(ctx, http.MethodPost, "/v1/tasks", SubmitRequest{Tasks: tasks}, &rep)
	return rep.IDs, err
}

// Tasks lists up to limit tasks with ids from from on.
func (c *Client) Tasks(ctx context.Context, from uint64, limit int) ([]Task, error) {
	var tasks []Task
	return tasks, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/tasks?from=%d&limit=%d", from, limit), nil, &tasks)
}

// Task returns one task.
func (c *Client) Task(ctx context.Context, id uint64) (Task, error) {
	var t Task
	return t, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/tasks/%d", id), nil, &t)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ramfarm"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("dispatcher API at %s: %w (is `ramfarm serve` running, and are you root?)", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return fmt.Errorf("dispatcher: %s", e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
