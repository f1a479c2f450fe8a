#!/usr/bin/env bash
# Install what ws-ckpt needs to build, run and test (called by `make deps`).
#
# Idempotent and quick: it first asks the package database what is missing and
# exits at once when nothing is. Only when something must be installed does it
# touch the network (and `apt-get update` only if the install needs it).
#
# Debian/Ubuntu use apt-get; Fedora-like systems use dnf. Needs root to install
# (it uses sudo when run as another user and sudo exists).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Debian names. `sudo` is listed so that the documented `sudo make check`
# works on minimal machines where root has no sudo binary.
DEB_REQUIRED=(
	build-essential pkg-config
	libevent-dev libbtrfsutil-dev libcjson-dev libcap-ng-dev libseccomp-dev
	libcmocka-dev python3 python3-pytest python3-fusepy
	btrfs-progs util-linux mandoc acl attr rpm
	valgrind cppcheck sudo
)
# Wanted for sanitizer and fuzz builds, installed only where the distribution has them.
DEB_OPTIONAL=(clang libclang-rt-14-dev libfuzzer-14-dev)

# dnf resolves pkgconfig(...) provides, which spares us per-distribution library names.
RPM_REQUIRED=(
	gcc make pkgconf-pkg-config
	'pkgconfig(libevent)' 'pkgconfig(libbtrfsutil)' 'pkgconfig(libcjson)'
	'pkgconfig(libcap-ng)' 'pkgconfig(libseccomp)' 'pkgconfig(cmocka)'
	python3 python3-pytest python3-fusepy
	btrfs-progs util-linux mandoc acl attr rpm-build
	valgrind cppcheck sudo
)
RPM_OPTIONAL=(clang compiler-rt)

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

SUDO=()
need_root() {
	if [[ $EUID -eq 0 ]]; then
		return 0
	fi
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
		return 0
	fi
	die "packages are missing ($*); run this as root (e.g. 'sudo make deps')"
}

# ---- Debian / Ubuntu --------------------------------------------------------

# Print the packages among "$@" that are not installed (one dpkg-query call).
deb_missing() {
	local -A have=()
	local name state p
	# dpkg-query exits 1 when it has never heard of a name; the others still print.
	while read -r name state; do
		[[ $state == installed ]] && have[${name%%:*}]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
	for p in "$@"; do
		[[ -n ${have[$p]:-} ]] || printf '%s\n' "$p"
	done
}

# True when apt knows an installable version of package $1.
deb_available() {
	local cand
	cand=$(apt-cache policy -- "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
	[[ -n $cand && $cand != "(none)" ]]
}

deb_lists_empty() {
	! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

APT_UPDATED=0
apt_update() {
	if [[ $APT_UPDATED -eq 0 ]]; then
		say "apt-get update"
		"${SUDO[@]}" apt-get -q update >/dev/null
		APT_UPDATED=1
	fi
}

apt_install() {
	"${SUDO[@]}" apt-get install -y -q --no-install-recommends \
		-o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

deb_main() {
	local -a req opt avail
	mapfile -t req < <(deb_missing "${DEB_REQUIRED[@]}")
	mapfile -t opt < <(deb_missing "${DEB_OPTIONAL[@]}")

	if [[ ${#req[@]} -eq 0 && ${#opt[@]} -eq 0 ]]; then
		say "all $(( ${#DEB_REQUIRED[@]} + ${#DEB_OPTIONAL[@]} )) packages present"
		return 0
	fi

	if [[ ${#req[@]} -gt 0 ]]; then
		need_root "${req[@]}"
		say "installing: ${req[*]}"
		# Try with the current package lists first; refresh them only if that fails.
		if deb_lists_empty || ! apt_install "${req[@]}"; then
			apt_update
			apt_install "${req[@]}"
		fi
	fi

	if [[ ${#opt[@]} -gt 0 ]]; then
		if deb_lists_empty && [[ ${#req[@]} -eq 0 ]]; then
			need_root "${opt[@]}"
			apt_update
		fi
		avail=()
		local p
		for p in "${opt[@]}"; do
			if deb_available "$p"; then
				avail+=("$p")
			elif [[ $p == *-14-dev ]] && command -v clang >/dev/null 2>&1; then
				# Newer releases ship another LLVM: take the package matching clang.
				local major alt
				major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
				alt=${p/%-14-dev/-$major-dev}
				if [[ -n $major ]] && deb_available "$alt"; then
					if [[ -n $(deb_missing "$alt") ]]; then
						avail+=("$alt")
					fi
				else
					say "optional package $p not available here; skipped"
				fi
			else
				say "optional package $p not available here; skipped"
			fi
		done
		if [[ ${#avail[@]} -gt 0 ]]; then
			need_root "${avail[@]}"
			say "installing optional: ${avail[*]}"
			if ! apt_install "${avail[@]}"; then
				apt_update
				apt_install "${avail[@]}" || say "optional packages failed to install; continuing"
			fi
		fi
	fi
}

# ---- Fedora / RHEL-like -----------------------------------------------------

rpm_missing() {
	local p
	for p in "$@"; do
		rpm -q --quiet --whatprovides -- "$p" 2>/dev/null || printf '%s\n' "$p"
	done
}

rpm_main() {
	local -a req opt
	mapfile -t req < <(rpm_missing "${RPM_REQUIRED[@]}")
	mapfile -t opt < <(rpm_missing "${RPM_OPTIONAL[@]}")
	if [[ ${#req[@]} -eq 0 && ${#opt[@]} -eq 0 ]]; then
		say "all $(( ${#RPM_REQUIRED[@]} + ${#RPM_OPTIONAL[@]} )) packages present"
		return 0
	fi
	if [[ ${#req[@]} -gt 0 ]]; then
		need_root "${req[@]}"
		say "installing: ${req[*]}"
		"${SUDO[@]}" dnf install -y -q "${req[@]}"
	fi
	if [[ ${#opt[@]} -gt 0 ]]; then
		need_root "${opt[@]}"
		say "installing optional: ${opt[*]}"
		"${SUDO[@]}" dnf install -y -q --skip-broken "${opt[@]}" ||
			say "optional packages failed to install; continuing"
	fi
}

# ---- kernel facilities the tests and the daemon rely on (warn only) ---------

check_kernel() {
	if ! grep -qw btrfs /proc/filesystems 2>/dev/null; then
		if [[ $EUID -eq 0 ]] && command -v modprobe >/dev/null 2>&1; then
			modprobe btrfs >/dev/null 2>&1 || true
		fi
		grep -qw btrfs /proc/filesystems 2>/dev/null ||
			say "warning: this kernel has no btrfs support loaded (try 'modprobe btrfs')"
	fi
	[[ -e /dev/loop-control ]] ||
		say "warning: /dev/loop-control is missing; loop-backed btrfs will not work here"
}

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	deb_main
elif command -v dnf >/dev/null 2>&1 && command -v rpm >/dev/null 2>&1; then
	rpm_main
else
	die "unsupported system: need apt-get (Debian/Ubuntu) or dnf (Fedora and relatives)"
fi
check_kernel
