package pxe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// tftpFiles serves the iPXE binaries, read-only, to PXE ROMs.
type tftpFiles struct {
	ipxe  ipxeFiles
	stats *tftpCounters
	log   *slog.Logger
}

// run serves TFTP on conn until ctx is done. On the way out it waits for
// transfers under way, each bounded by the timeout and retries set here.
//
// Uploads are refused (no write handler). Blocksize negotiation stays on: it
// lets firmware use MTU-sized blocks, and pin/tftp caps them at what the
// link carries. Left off on purpose: SetAnticipate (sending ahead of ACKs)
// and single-port mode, both known to stall iPXE.
func (t *tftpFiles) run(ctx context.Context, conn net.PacketConn) error {
	defer conn.Close()
	srv := tftp.NewServer(t.read, nil)
	srv.SetTimeout(2 * time.Second)
	srv.SetRetries(5)
	serve := func() error {
		if err := srv.Serve(conn); err != nil {
			return fmt.Errorf("tftp: %w", err)
		}
		return nil
	}
	return serveUntil(ctx, serve, srv.Shutdown)
}

// read sends one file. pin/tftp hands it the file name exactly as the client
// sent it, and turns a returned error into a TFTP error packet.
func (t *tftpFiles) read(filename string, rf io.ReaderFrom) error {
	log := t.log.With("file", filename)
	transfer, isOutgoing := rf.(tftp.OutgoingTransfer)
	if isOutgoing {
		peer := transfer.RemoteAddr()
		log = log.With("peer", peer.String())
	}
	f, _, err := t.ipxe.open(filename)
	if err != nil {
		t.stats.failures.Add(1)
		log.Warn("TFTP request refused", "reason", err)
		return err
	}
	if isOutgoing {
		// Answers the tsize option, which UEFI firmware needs to size
		// its buffer before it fetches anything.
		transfer.SetSize(f.Size())
	}
	start := time.Now()
	n, err := rf.ReadFrom(f)
	switch {
	case err != nil && isOptionRefusal(err):
		log.Debug("TFTP size probe answered")
	case err != nil:
		t.stats.failures.Add(1)
		log.Warn("TFTP transfer failed", "sent", n, "err", err)
	default:
		t.stats.transfers.Add(1)
		t.stats.bytes.Add(uint64(n))
		log.Info("TFTP transfer done", "bytes", n, "took", time.Since(start))
	}
	return err
}

// isOptionRefusal reports whether the client answered our option
// acknowledgement with error 8 ("option negotiation refused"). UEFI firmware
// does so on purpose: it asks for tsize only to learn the size, aborts, and
// then requests the file again. pin/tftp reports this as a plain error that
// names the code in its text.
func isOptionRefusal(err error) bool {
	return strings.Contains(err.Error(), "block 0: code=8")
}
