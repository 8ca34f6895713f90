#!/usr/bin/env bash
# ensure-debs.sh PACKAGE...: make sure the Debian packages the tests use are
# installed. Missing ones are installed with apt-get when that is possible
# (root on Debian or Ubuntu); otherwise it fails and prints the command to
# run. Services the install starts (Debian starts Dovecot, for one) are
# stopped and disabled again: the tests start their own instances on free
# loopback ports and never use a system service.
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: $0 PACKAGE..." >&2
	exit 2
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "$@"; do
	if ! command -v dpkg-query >/dev/null || ! installed "$p"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get >/dev/null; then
	echo "missing packages: ${missing[*]}; this is not Debian or Ubuntu: install their equivalent (on Debian: $cmd)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]}; install them as root: sudo $cmd" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -o DPkg::Lock::Timeout=300)
before=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort)
echo "installing ${missing[*]}: $cmd"
if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; then
	# A fresh machine may have no package lists yet.
	"${apt[@]}" update
	"${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi
after=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort)

# Stop and disable every service the newly installed packages brought.
for pkg in $(comm -13 <(echo "$before") <(echo "$after")); do
	dpkg -L "$pkg" 2>/dev/null | grep -E '^(/usr)?/lib/systemd/system/[^/@]+\.service$|^/etc/init\.d/[^/]+$' || true
done | xargs -r -n1 basename | sed 's/\.service$//' | sort -u | while read -r name; do
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --now "$name" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$name" ]; then
		"/etc/init.d/$name" stop >/dev/null 2>&1 || true
		command -v update-rc.d >/dev/null && update-rc.d "$name" disable >/dev/null 2>&1 || true
	fi
	echo "stopped and disabled the $name service the install brought (the tests start their own)"
done
for p in "${missing[@]}"; do
	if ! installed "$p"; then
		echo "$p is still not installed after: $cmd" >&2
		exit 1
	fi
done
