package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// Service is what the API exposes; the dispatcher implements it.
type Service interface {
	Nodes() []Node
	Reboot(node string) error
	Kexec(node string) error
	Drain(node string, drain bool) error
	ConsoleLog(node string, lines int) ([]string, error)
	Submit(tasks []TaskSpec) ([]uint64, error)
	Tasks(from uint64, limit int) ([]Task, error)
	Task(id uint64) (Task, error)
	Cancel(id uint64) (Task, error)
}

// Errors a Service returns that map to HTTP statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid request")
	// ErrBusy refuses a submission while the queue is full; retry later.
	ErrBusy = errors.New("queue full")
)

// Limits on what one request may carry.
const (
	MaxSubmit      = 100_000 // tasks per submission
	maxSubmitBytes = 64 << 20
	MaxList        = 10_000 // tasks per listing
	MaxLogLines    = 10_000 // console lines per request
)

// NewHandler returns the HTTP handler for the API.
func NewHandler(s Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, log, http.StatusOK, s.Nodes())
	})
	for verb, restart := range map[string]func(string) error{"reboot": s.Reboot, "kexec": s.Kexec} {
		mux.HandleFunc("POST /v1/nodes/{name}/"+verb, func(w http.ResponseWriter, r *http.Request) {
			if err := restart(r.PathValue("name")); err != nil {
				fail(w, log, err)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
	}
	for verb, drain := range map[string]bool{"drain": true, "resume": false} {
		mux.HandleFunc("POST /v1/nodes/{name}/"+verb, func(w http.ResponseWriter, r *http.Request) {
			if err := s.Drain(r.PathValue("name"), drain); err != nil {
				fail(w, log, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	mux.HandleFunc("GET /v1/nodes/{name}/log", func(w http.ResponseWriter, r *http.Request) {
		n, err := queryUint(r, "lines", 100)
		if err != nil {
			fail(w, log, err)
			return
		}
		lines, err := s.ConsoleLog(r.PathValue("name"), int(min(n, MaxLogLines)))
		if err != nil {
			fail(w, log, err)
			return
		}
		reply(w, log, http.StatusOK, lines)
	})
	mux.HandleFunc("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		var req SubmitRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSubmitBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(w, log, fmt.Errorf("%w: body: %v", ErrInvalid, err))
			return
		}
		ids, err := s.Submit(req.Tasks)
		if err != nil {
			fail(w, log, err)
			return
		}
		reply(w, log, http.StatusCreated, SubmitReply{IDs: ids})
	})
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := queryUint(r, "from", 1)
		limit, err2 := queryUint(r, "limit", 1000)
		if err := errors.Join(err1, err2); err != nil {
			fail(w, log, err)
			return
		}
		tasks, err := s.Tasks(from, int(min(limit, MaxList)))
		if err != nil {
			fail(w, log, err)
			return
		}
		reply(w, log, http.StatusOK, tasks)
	})
	mux.HandleFunc("GET /v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		withTask(w, r, log, s.Task)
	})
	mux.HandleFunc("POST /v1/tasks/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		withTask(w, r, log, s.Cancel)
	})
	return mux
}

// withTask replies with what do returns for the task named in the path.
func withTask(w http.ResponseWriter, r *http.Request, log *slog.Logger, do func(uint64) (Task, error)) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, log, fmt.Errorf("%w: task id %q", ErrInvalid, r.PathValue("id")))
		return
	}
	t, err := do(id)
	if err != nil {
		fail(w, log, err)
		return
	}
	reply(w, log, http.StatusOK, t)
}

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not a number", ErrInvalid, name, v)
	}
	return n, nil
}

func reply(w http.ResponseWriter, log *slog.Logger, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Debug("api: writing reply", "err", err)
	}
}

func fail(w http.ResponseWriter, log *slog.Logger, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrBusy):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	default:
		log.Error("api: request failed", "err", err)
	}
	reply(w, log, status, Error{Error: err.Error()})
}
