#!/usr/bin/env bash
# Installs what building, demoing and testing ramfarm needs on Debian 12.
# Idempotent and quiet when everything is there. Run as root.
set -euo pipefail

# Debian packages and why:
#   qemu-system-x86  the emulated nodes (TCG; KVM is not required)
#   ipxe-qemu        the iPXE option ROMs QEMU's NICs PXE-boot with
#   ipxe             iPXE binaries served to plain PXE firmware (undionly.kpxe, ipxe.efi, snponly.efi)
#   linux-image-amd64  the node kernel and its NIC modules (copied into the node image)
#   busybox-static   /bin/sh and the basic tools tasks run with inside the node image
#   iproute2         network namespaces, bridges and taps for the tests and the demo
#   kmod             modinfo/modprobe tooling used when inspecting kernel modules
#   procps           sysctl, which the boot-service tests run inside their namespaces
#   ovmf             UEFI firmware for the QEMU node that proves the UEFI PXE path (TestUEFIBoot)
#   dnsmasq-base     dnsmasq as the site DHCP server next to ramfarm's ProxyDHCP (TestProxyDHCP), and bench peer
#   linux-source-6.1 build-essential bc bison flex libelf-dev
#                    the custom node kernel (make kernel, kernel-config/build.sh); build-essential's gcc
#                    and libc6-dev also go into the runtimes image profile
#   python3          python3 and its standard library, copied into the runtimes image profile
packages=(qemu-system-x86 ipxe-qemu ipxe linux-image-amd64 busybox-static iproute2 kmod procps ovmf dnsmasq-base
	linux-source-6.1 build-essential bc bison flex libelf-dev python3)

# With "bench", also the peers and load generators the benchmarks compare with:
#   kea-admin        perfdhcp, the DHCP load generator
# (dnsmasq-base, the DHCP/TFTP server ramfarm is measured against, is in the main list.)
#   coop-computing-tools python3-workqueue
#                    Work Queue's worker and its master's Python bindings: a dispatch peer
#   slurm-wlm munge  Slurm (slurmctld, slurmd, sbatch, squeue) and the authentication it needs: a dispatch peer
#   beanstalkd       the bare queue, the dispatch benchmark's floor
if [[ ${1:-} == bench ]]; then
	packages+=(kea-admin coop-computing-tools python3-workqueue slurm-wlm munge beanstalkd)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: the module pins its toolchain version in go.mod; any Go >= 1.21 fetches
# it by itself. Debian 12's own golang (1.19) is too old for that.
if ! command -v go >/dev/null; then
	echo "install-deps: Go is not installed. Install Go 1.25 or newer (https://go.dev/doc/install) and re-run." >&2
	exit 1
fi
go mod download
