package kexec

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpGet copies the body of a plain HTTP GET of rawURL to w.
//
// Why not net/http: it would add megabytes to the agent, which is the
// node's /init and is unpacked and started on every boot, to fetch two
// files from a server we wrote. So this speaks just enough HTTP/1.1 for
// that server: one request, Connection: close, a 200 with a
// Content-Length. The body's integrity is not HTTP's job here: the caller
// checks its sha256.
func httpGet(ctx context.Context, rawURL string, w io.Writer, limit int64) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%s: only http:// URLs (the digest, not the transport, vouches for the file)", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Unblock reads and writes when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: ramfarm-agent\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return fmt.Errorf("%s: %w", rawURL, err)
	}
	br := bufio.NewReader(conn)
	length, err := readHeader(br)
	if err != nil {
		return fmt.Errorf("%s: %w", rawURL, err)
	}
	if length > limit {
		return fmt.Errorf("%s: %d bytes, more than the %d a node keeps in RAM for one file", rawURL, length, limit)
	}
	n, err := io.Copy(w, io.LimitReader(br, length))
	if err == nil && n < length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("%s: after %d of %d bytes: %w", rawURL, n, length, err)
	}
	return nil
}

// readHeader reads a response's status line and header, and returns its
// Content-Length. Anything but a 200 with a plain body of known length is
// an error.
func readHeader(br *bufio.Reader) (int64, error) {
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return 0, fmt.Errorf("reading the status line: %w", err)
	}
	proto, rest, _ := strings.Cut(status, " ")
	code, reason, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, fmt.Errorf("not an HTTP/1 response: %q", truncate(status))
	}
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		return 0, fmt.Errorf("reading the header: %w", err)
	}
	if code != "200" {
		return 0, fmt.Errorf("server answered %s %s", code, truncate(reason))
	}
	if te := header.Get("Transfer-Encoding"); te != "" && te != "identity" {
		return 0, fmt.Errorf("transfer encoding %q is not supported", truncate(te))
	}
	length, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64)
	if err != nil || length < 0 {
		return 0, fmt.Errorf("no valid Content-Length (%q)", truncate(header.Get("Content-Length")))
	}
	return length, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
