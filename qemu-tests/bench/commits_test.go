package bench

import (
	"strings"
	"testing"
)

func TestParseCommitCount(t *testing.T) {
	body := `# HELP ramfarm_store_commit_groups_total Group commits.
# TYPE ramfarm_store_commit_groups_total counter
ramfarm_store_commit_groups_total 120
# TYPE ramfarm_store_committed_writes_total counter
ramfarm_store_committed_writes_total 1.5e+03
ramfarm_store_commit_seconds_total 0.25
`
	c, err := parseCommitCount(strings.NewReader(body))
	if err != nil || c.groups != 120 || c.writes != 1500 {
		t.Fatalf("got %+v, %v; want 120 groups of 1500 writes", c, err)
	}
	if got := c.describe(1000); got != "commits-per-task=0.120 writes-per-commit=12.5" {
		t.Errorf("describe: %q", got)
	}
	if _, err := parseCommitCount(strings.NewReader("ramfarm_store_commit_groups_total 3\n")); err == nil {
		t.Error("a missing counter went unnoticed")
	}
	if _, err := parseCommitCount(strings.NewReader("ramfarm_store_commit_groups_total x\nramfarm_store_committed_writes_total 1\n")); err == nil {
		t.Error("a garbled counter went unnoticed")
	}
}
