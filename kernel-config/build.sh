#!/usr/bin/env bash
# Builds the ramfarm node kernel (`make kernel`): a bzImage from Debian's
# linux-source-6.1, configured as tinyconfig + kernel-config/ramfarm.config,
# copied to images/vmlinuz-ramfarm.
#
#   kernel-config/build.sh            build, or do nothing if up to date
#   kernel-config/build.sh --force    configure and run make even if up to date
#
# The source is unpacked once into the cache (default .cache/kernel/ in the
# repository) and objects are built out of tree next to it, so a second run
# with nothing changed takes seconds, and a changed fragment rebuilds only
# what the changed options touch. Environment:
#
#   KERNEL_SOURCE   the source tarball   (/usr/src/linux-source-6.1.tar.xz)
#   KERNEL_CACHE    the cache directory  (<repo>/.cache/kernel)
#   KERNEL_OUT      the built kernel     (<repo>/images/vmlinuz-ramfarm)
#   KERNEL_JOBS     make -j              (number of CPUs)
#
# Needs, on Debian 12: linux-source-6.1 build-essential bc bison flex
# libelf-dev (xz-utils comes with linux-source).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fragment=$repo/kernel-config/ramfarm.config
tarball=${KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
cache=${KERNEL_CACHE:-$repo/.cache/kernel}
out=${KERNEL_OUT:-$repo/images/vmlinuz-ramfarm}
jobs=${KERNEL_JOBS:-$(nproc)}
max_size=3000000 # bytes: the node kernel's budget (3 MB)

force=false
case "${1:-}" in
"") ;;
--force) force=true ;;
*)
	echo "usage: $0 [--force]" >&2
	exit 2
	;;
esac

say() { echo "kernel: $*"; }
die() {
	echo "kernel: $*" >&2
	exit 1
}

# --- prerequisites ---------------------------------------------------------

[[ -r $tarball ]] || die "no kernel source at $tarball (apt-get install linux-source-6.1)"
missing=()
for tool in gcc make bc bison flex xz; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
# objtool, which x86-64 always builds, links against libelf.
[[ -e /usr/include/gelf.h ]] || missing+=("libelf headers")
((${#missing[@]} == 0)) ||
	die "missing ${missing[*]} (apt-get install build-essential bc bison flex libelf-dev)"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -n 9 || {
	say "waiting for another build in $cache"
	flock 9
}

# --- unpack (once per source tarball) --------------------------------------

src=$cache/src
obj=$cache/build
# The tarball's identity: Debian ships a new one with each linux-source
# upgrade, and dpkg keeps its mtime from the package.
tarball_id="$(readlink -f "$tarball") $(stat -c '%s %Y' "$tarball")"
if [[ ! -f $src/.ramfarm-unpacked || $(<"$src/.ramfarm-unpacked") != "$tarball_id" ]]; then
	say "unpacking $tarball into $src"
	rm -rf "$src" "$src.tmp" "$obj"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp" --strip-components=1
	echo "$tarball_id" >"$src.tmp/.ramfarm-unpacked"
	mv "$src.tmp" "$src"
fi
release=$(make -s -C "$src" kernelversion)

# --- reproducible build settings -------------------------------------------

# The same source package and fragment give the same bzImage: no build
# date, user, host or build counter in it. The date is the source
# package's (the tarball's mtime, set when Debian built it).
export KBUILD_BUILD_TIMESTAMP
KBUILD_BUILD_TIMESTAMP=$(LC_ALL=C date -u -d "@$(stat -c %Y "$tarball")" '+%a %b %e %H:%M:%S UTC %Y')
export KBUILD_BUILD_USER=ramfarm KBUILD_BUILD_HOST=ramfarm KBUILD_BUILD_VERSION=1
export LC_ALL=C TZ=UTC

kmake() { make -C "$src" O="$obj" -j"$jobs" "$@"; }

# --- configure (when the fragment, this script or the source changed) ------

# Everything that decides .config and the build's flags.
key=$( (echo "$tarball_id" && cat "$fragment" "${BASH_SOURCE[0]}") | sha256sum | cut -d' ' -f1)
mkdir -p "$obj"
if $force || [[ ! -f $obj/.config || ! -f $obj/.ramfarm-config-key || $(<"$obj/.ramfarm-config-key") != "$key" ]]; then
	rm -f "$obj/.ramfarm-config-key" "$obj/.ramfarm-built-key"
	say "configuring $release: tinyconfig + $(basename "$fragment")"
	# -m: merge only; olddefconfig resolves dependencies and defaults. Their
	# chatter (every option the fragment overrides) goes to a log.
	if ! {
		kmake -s tinyconfig &&
			"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" &&
			kmake -s olddefconfig
	} >"$obj/config.log" 2>&1; then
		cat "$obj/config.log" >&2
		die "configuring failed"
	fi

	# Every setting of the fragment must have survived: an option whose
	# dependencies are not met is dropped silently by olddefconfig, and one
	# the fragment switches off can be forced on by another's select.
	lost=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF -- "$line" "$obj/.config" ||
				lost+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo 'absent'))")
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			! grep -qE "^$sym=" "$obj/.config" ||
				lost+=("$line (got: $(grep -E "^$sym=" "$obj/.config"))")
			;;
		esac
	done <"$fragment"
	if ((${#lost[@]})); then
		echo "kernel: these settings of $fragment did not survive make olddefconfig" >&2
		echo "kernel: (a dependency is missing, or another option selects it):" >&2
		printf '  %s\n' "${lost[@]}" >&2
		exit 1
	fi
	say "config: $(grep -c '=y$' "$obj/.config") options built in, every setting of the fragment kept"
	echo "$key" >"$obj/.ramfarm-config-key"
fi

# --- build -----------------------------------------------------------------

bzimage=$obj/arch/x86/boot/bzImage
if $force || [[ ! -f $bzimage || ! -f $obj/.ramfarm-built-key || $(<"$obj/.ramfarm-built-key") != "$key" ]]; then
	rm -f "$obj/.ramfarm-built-key"
	say "building bzImage with $jobs jobs (log: $obj/build.log)"
	start=$SECONDS
	if ! kmake bzImage >"$obj/build.log" 2>&1; then
		tail -n 40 "$obj/build.log" >&2
		die "build failed, full log in $obj/build.log"
	fi
	say "built in $((SECONDS - start)) s"
	echo "$key" >"$obj/.ramfarm-built-key"
else
	say "up to date ($obj)"
fi

# --- install ---------------------------------------------------------------

mkdir -p "$(dirname "$out")"
if ! cmp -s "$bzimage" "$out"; then
	# Write then rename: a dispatcher serving images/ never sends half a file.
	cp "$bzimage" "$out.tmp"
	chmod 0644 "$out.tmp"
	mv "$out.tmp" "$out"
fi
size=$(stat -c %s "$out")
say "$out: $(cat "$obj/include/config/kernel.release") $size bytes ($(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB) sha256 $(sha256sum "$out" | cut -d' ' -f1)"
if ((size > max_size)); then
	die "$out is $size bytes, over the $max_size byte budget: trim kernel-config/ramfarm.config"
fi
