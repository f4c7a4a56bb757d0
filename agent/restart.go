package agent

import (
	"context"
	"time"

	"github.com/ramfarm/ramfarm/agent/kexec"
	"github.com/ramfarm/ramfarm/agent/sysinit"
	"github.com/ramfarm/ramfarm/protocol"
)

// kexecTimeout bounds fetching and loading a boot image: minutes on the
// slowest network, and a node that cannot finish by then had better stay up
// and say why.
const kexecTimeout = 5 * time.Minute

// kexecInto is a node's Config.Kexec: fetch, check and load img, then
// restart into it. It returns only on failure.
func kexecInto(ctx context.Context) func(protocol.BootImage) error {
	return func(img protocol.BootImage) error {
		ctx, cancel := context.WithTimeout(ctx, kexecTimeout)
		defer cancel()
		if err := kexec.Load(ctx, img); err != nil {
			return err
		}
		return sysinit.KexecReboot()
	}
}
