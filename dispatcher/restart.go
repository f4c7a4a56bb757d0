package dispatcher

import (
	"fmt"
	"net"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

// Reboot asks a node's agent to reboot the node, through its firmware: it
// boots again over PXE.
func (d *Dispatcher) Reboot(name string) error {
	return d.restart(name, &protocol.Command{Op: protocol.OpReboot})
}

// Kexec asks a node's agent to restart straight into the kernel and
// initramfs of its boot profile, as they are now in the boot directory,
// skipping firmware and PXE: seconds instead of a POST, and the way to put
// a node on a new image without a power cycle.
func (d *Dispatcher) Kexec(name string) error {
	d.mu.Lock()
	boot := d.boot
	var mac net.HardwareAddr
	if n := d.nodes[name]; n != nil {
		mac, _ = net.ParseMAC(n.info.MAC) // stored in net.HardwareAddr's spelling
	}
	d.mu.Unlock()
	if boot == nil {
		return fmt.Errorf("%w: kexec needs the dispatcher's boot services, and they are off (--no-pxe)", api.ErrConflict)
	}
	if mac == nil {
		return fmt.Errorf("%w: no node %q", api.ErrNotFound, name)
	}
	// Hashing the files takes a while: not under d.mu.
	img, err := boot.KexecImage(mac)
	if err != nil {
		return fmt.Errorf("kexec %s: %w", name, err)
	}
	return d.restart(name, &protocol.Command{Op: protocol.OpKexec, Boot: &img})
}

// restart sends a connected node a command that restarts it, and stops
// handing it tasks until it registers again.
func (d *Dispatcher) restart(name string, cmd *protocol.Command) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nodes[name]
	if n == nil {
		return fmt.Errorf("%w: no node %q", api.ErrNotFound, name)
	}
	if n.conn == nil {
		return fmt.Errorf("%w: node %s is %s, not connected", api.ErrConflict, name, n.info.State)
	}
	n.conn.send(cmd)
	n.info.State = api.NodeRebooting
	n.credits = 0
	d.log.Info("restart requested", "node", name, "how", cmd.Op)
	return nil
}
