package cluster

import (
	"testing"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// The checks must be able to fail, or the end-to-end test proves nothing.
func TestChecksRejectWrongResults(t *testing.T) {
	for i, c := range Checks(3) {
		wrong := api.Task{ID: 1, Command: c.Command, Result: &api.Result{Stdout: "41\n"}}
		if err := c.Verify(wrong, 3); err == nil {
			t.Errorf("check %d (%s) accepted a wrong output", i, c.Command)
		}
		failed := api.Task{ID: 1, Command: c.Command, Result: &api.Result{ExitCode: 1}}
		if err := c.Verify(failed, 3); err == nil {
			t.Errorf("check %d (%s) accepted a failed task", i, c.Command)
		}
	}
	right := api.Task{ID: 1, Result: &api.Result{Stdout: "7\n"}}
	if err := Checks(1)[0].Verify(right, 1); err != nil {
		t.Errorf("0*0+7 = 7 rejected: %v", err)
	}
	if err := Checks(3)[2].Verify(api.Task{Result: &api.Result{Stdout: "2\n"}}, 2); err != nil {
		t.Errorf("nproc 2 on a 2-core node rejected: %v", err)
	}
}
