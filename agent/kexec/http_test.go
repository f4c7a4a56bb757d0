package kexec

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// serveBoot serves the files the way the dispatcher's boot server does.
func serveBoot(t *testing.T, files map[string][]byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		switch {
		case !ok:
			http.NotFound(w, r)
		case r.URL.Path == "/chunked":
			w.Write(data[:1])
			w.(http.Flusher).Flush() // no Content-Length: chunked
			w.Write(data[1:])
		default:
			http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(data))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetch(t *testing.T) {
	kernel := bytes.Repeat([]byte("bzImage"), 100_000)
	base := serveBoot(t, map[string][]byte{"/boot/vmlinuz": kernel, "/chunked": kernel})
	ctx := context.Background()

	f, err := Fetch(ctx, base+"/boot/vmlinuz", digest(kernel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil || !bytes.Equal(got, kernel) {
		t.Fatalf("memfd holds %d bytes (%v), want the %d served", len(got), err, len(kernel))
	}

	for name, tc := range map[string]struct{ url, sum, want string }{
		"other digest": {base + "/boot/vmlinuz", digest([]byte("another kernel")), "refusing it"},
		"missing":      {base + "/boot/nope", digest(kernel), "server answered 404"},
		"chunked":      {base + "/chunked", digest(kernel), "transfer encoding"},
		"https":        {strings.Replace(base, "http:", "https:", 1) + "/boot/vmlinuz", digest(kernel), "only http://"},
		"no such port": {"http://127.0.0.1:1/boot/vmlinuz", digest(kernel), "refused"},
		"unparseable":  {"http://[::1/x", digest(kernel), "missing ']'"},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Fetch(ctx, tc.url, tc.sum)
			if err == nil {
				f.Close()
				t.Fatal("fetched")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestHTTPGetRefusesFilesOverTheLimit(t *testing.T) {
	base := serveBoot(t, map[string][]byte{"/big": make([]byte, 1000)})
	err := httpGet(context.Background(), base+"/big", io.Discard, 999)
	if err == nil || !strings.Contains(err.Error(), "more than the 999") {
		t.Fatalf("got %v, want a refusal over the limit", err)
	}
}

// rawServer answers one connection with response, then closes or, with
// hang, stalls.
func rawServer(t *testing.T, response string, hang bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, response)
		if hang {
			time.Sleep(10 * time.Second)
		}
	}()
	return "http://" + ln.Addr().String() + "/f"
}

func TestHTTPGetTruncatedAndStalled(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", false)
	if err := httpGet(context.Background(), url, io.Discard, 1<<20); err == nil || !strings.Contains(err.Error(), "after 10 of 100 bytes") {
		t.Fatalf("truncated body: %v", err)
	}
	url = rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstall", true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := httpGet(ctx, url, io.Discard, 1<<20); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("stalled body: %v", err)
	}
}

func TestReadHeaderRejectsGarbage(t *testing.T) {
	for name, resp := range map[string]string{
		"not http":          "SSH-2.0-OpenSSH\r\n\r\n",
		"no length":         "HTTP/1.1 200 OK\r\n\r\n",
		"negative length":   "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
		"redirect":          "HTTP/1.1 301 Moved\r\nLocation: http://x/\r\nContent-Length: 0\r\n\r\n",
		"header never ends": "HTTP/1.1 200 OK\r\nContent-Length: 5",
	} {
		if n, err := readHeader(bufio.NewReader(strings.NewReader(resp))); err == nil {
			t.Errorf("%s: accepted, length %d", name, n)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	f.Add("HTTP/1.0 404 Not Found\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Fuzz(func(t *testing.T, resp string) {
		n, err := readHeader(bufio.NewReader(strings.NewReader(resp)))
		if err == nil && n < 0 {
			t.Fatalf("accepted a negative length %d", n)
		}
	})
}
