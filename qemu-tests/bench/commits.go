package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// commitCount is the dispatcher's group-commit counters, read from its
// metrics: how many commits (each with its fsyncs) and the writes in them.
type commitCount struct{ groups, writes float64 }

func (c commitCount) sub(d commitCount) commitCount {
	return commitCount{c.groups - d.groups, c.writes - d.writes}
}

// describe says what a run's commits were per task, for the detail lines:
// how much each fsync was shared is most of what a result costs.
func (c commitCount) describe(tasks int) string {
	if c.groups <= 0 || tasks <= 0 {
		return "commits: none counted"
	}
	return fmt.Sprintf("commits-per-task=%.3f writes-per-commit=%.1f", c.groups/float64(tasks), c.writes/c.groups)
}

// commits reads the counters from the dispatcher's /metrics.
func (d *loopbackDispatcher) commits(ctx context.Context) (commitCount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.metrics+"/metrics", nil)
	if err != nil {
		return commitCount{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return commitCount{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return commitCount{}, fmt.Errorf("dispatcher metrics: %s", resp.Status)
	}
	return parseCommitCount(resp.Body)
}

// parseCommitCount finds the two counters in Prometheus text format.
func parseCommitCount(r io.Reader) (commitCount, error) {
	var c commitCount
	found := 0
	s := bufio.NewScanner(r)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), " ")
		var into *float64
		switch {
		case !ok:
			continue
		case name == "ramfarm_store_commit_groups_total":
			into = &c.groups
		case name == "ramfarm_store_committed_writes_total":
			into = &c.writes
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return c, fmt.Errorf("dispatcher metrics: %s: %w", name, err)
		}
		*into = v
		found++
	}
	if err := s.Err(); err != nil {
		return c, err
	}
	if found != 2 {
		return c, fmt.Errorf("dispatcher metrics: %d of the 2 commit counters found", found)
	}
	return c, nil
}
