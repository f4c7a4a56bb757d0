# ramfarm: PXE-boot a rack into RAM and run work on it.
#
#   make demo    install what is missing, build, boot 3 QEMU nodes, run tasks
#   make test    unit tests, then the QEMU end-to-end test (as root)
#
# Everything runs as root: the tests and the demo create network namespaces,
# bridges and tap devices (and remove them).

GO       ?= go
IMAGES   := images
BIN      := bin
E2E_TIMEOUT ?= 40m

.PHONY: all deps bench-deps build image kernel demo test unit e2e vet fuzz bench bench-boot bench-dispatch bench-image clean

all: build image

deps:
	@scripts/install-deps.sh

build: deps
	$(GO) build -o $(BIN)/ramfarm ./cmd/ramfarm
	$(GO) build -o $(BIN)/ramfarm-agent ./cmd/ramfarm-agent

# The node image: images/vmlinuz and an initramfs per profile (see images/README.md).
# KERNEL=custom boots the kernel from `make kernel` instead of Debian's.
# PROFILE names images/profiles/NAME.profile files, comma-separated:
# minimal (the default, images/ramfarm-node.cpio.lz4), tools, runtimes
# (images/ramfarm-node-NAME.cpio.lz4); PROFILE_DIR adds a directory of your own.
KERNEL ?= debian
PROFILE ?= minimal
PROFILE_DIR ?=
image: deps
	$(GO) run ./cmd/ramfarm-mkimage -kernel $(KERNEL) -out $(IMAGES) -profile $(PROFILE) $(if $(PROFILE_DIR),-profile-dir $(PROFILE_DIR))

# The custom node kernel: images/vmlinuz-ramfarm from Debian's linux-source,
# tinyconfig + kernel-config/ramfarm.config. About 5 min the first time on 2
# cores; the build tree is cached in .cache/kernel, so later runs take seconds.
kernel: deps
	kernel-config/build.sh

demo: build image
	$(GO) run ./cmd/ramfarm-demo -ramfarm $(BIN)/ramfarm -images $(IMAGES)

bench-deps:
	@scripts/install-deps.sh bench

# Side-by-side measurements against the peers; one line per figure.
bench: bench-boot bench-dispatch bench-image

bench-boot: bench-deps build image kernel
	$(GO) run ./cmd/ramfarm-bench -ramfarm $(BIN)/ramfarm -images $(IMAGES) -kernel vmlinuz-ramfarm dhcp boot-files boot-to-ready

# The node image's size and speed: kernel and minimal initramfs sizes, boot
# to a registered agent (guest uptime), the agent's RSS and idle CPU.
bench-image: build kernel
	$(GO) run ./cmd/ramfarm-bench -ramfarm $(BIN)/ramfarm image

bench-dispatch: bench-deps build
	$(GO) run ./cmd/ramfarm-bench -ramfarm $(BIN)/ramfarm -agent $(BIN)/ramfarm-agent dispatch-capacity dispatch heartbeats

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

unit: deps
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/qemu-tests$$')

e2e: deps image kernel
	$(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./qemu-tests/ -run 'TestEndToEnd|TestCustomKernel|TestUEFIBoot|TestProxyDHCP|TestImageMatrix'

test: vet unit e2e

# Short fuzzing passes over every wire and file format parser.
fuzz:
	$(GO) test ./protocol -run '^$$' -fuzz FuzzDecode -fuzztime 30s
	$(GO) test ./protocol -run '^$$' -fuzz FuzzFastEncodingIsWhatJSONWrites -fuzztime 30s
	$(GO) test ./protocol -run '^$$' -fuzz FuzzFastDecodeAgreesWithJSON -fuzztime 30s
	$(GO) test ./pxe -run '^$$' -fuzz FuzzDHCPHandler -fuzztime 30s
	$(GO) test ./pxe -run '^$$' -fuzz FuzzParseProfiles -fuzztime 30s
	$(GO) test ./initramfs -run '^$$' -fuzz FuzzParseProfile -fuzztime 30s
	$(GO) test ./agent/kexec -run '^$$' -fuzz FuzzReadHeader -fuzztime 30s

clean:
	rm -rf $(BIN) $(IMAGES)/*.lz4 $(IMAGES)/*.zst $(IMAGES)/*.gz $(IMAGES)/vmlinuz $(IMAGES)/vmlinuz-ramfarm $(IMAGES)/manifest.json
