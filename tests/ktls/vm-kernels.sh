#!/bin/sh
# Fetch and unpack the Debian kernels the kTLS VM test boots.
#
#   old: bookworm's linux-image-6.1.*-amd64 (kTLS, no TLS 1.3 rekey)
#   new: the newest linux image of a newer suite (trixie-backports, then
#        sid) with version >= 6.14 (TLS 1.3 rekey)
#
# Packages come through apt from the mirror the system's own sources name,
# resolved with a private sources/lists directory (the system's sources are
# never edited).  Everything lands in ${KITLS_CACHE:-/var/cache/kitls}/kernels:
#   kernels/<name>/vmlinuz, kernels/<name>/modules/<kver>/...
# and kernels/<name>.ok once complete.  Prints "<name> <dir>" per kernel.
set -eu

CACHE=${KITLS_CACHE:-/var/cache/kitls}
K=$CACHE/kernels
mkdir -p "$K"

log() { echo "vm-kernels: $*" >&2; }

# The Debian mirror URI the system already uses.
mirror() {
    u=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/*$/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    [ -n "$u" ] || u=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)\/\?[[:space:]].*/\2/p' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
    [ -n "$u" ] || { log "no Debian mirror in the system's apt sources"; exit 1; }
    echo "$u"
}

# unpack NAME DEB... -> $K/NAME/{vmlinuz,modules}
unpack() {
    name=$1; shift
    d=$K/$name
    rm -rf "$d" "$d.ok"; mkdir -p "$d/x"
    for deb in "$@"; do dpkg-deb -x "$deb" "$d/x"; done
    vm=$(ls "$d"/x/boot/vmlinuz-* "$d"/x/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n1)
    [ -n "$vm" ] || { log "$name: no vmlinuz in $*"; exit 1; }
    mv "$vm" "$d/vmlinuz"
    if [ -d "$d/x/usr/lib/modules" ]; then mv "$d/x/usr/lib/modules" "$d/modules"
    else mv "$d/x/lib/modules" "$d/modules"; fi
    rm -rf "$d/x"
    ls "$d/modules" > "$d/kver"
    touch "$d.ok"
}

# Private apt state for one suite; echoes the -o options.
apt_opts() {
    suite=$1
    a=$CACHE/apt-$suite
    mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/etc/parts.d"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" \
        > "$a/etc/sources.list"
    echo "-o Dir::Etc::sourcelist=$a/etc/sources.list -o Dir::Etc::sourceparts=$a/etc/parts.d \
-o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache -o Dir::Etc::preferences=/nonexistent \
-o Dir::Etc::preferencesparts=$a/etc -o APT::Architecture=amd64 -o Debug::NoLocking=1 \
-o APT::Sandbox::User=root"
}

# download SUITE PKG... into $CACHE/debs-SUITE, echo the .deb paths
download() {
    suite=$1; shift
    o=$(apt_opts "$suite")
    dd=$CACHE/debs-$suite
    mkdir -p "$dd"
    # shellcheck disable=SC2086
    (cd "$dd" && apt-get $o -qq download "$@" >&2)
    for p in "$@"; do ls "$dd/${p}_"*.deb; done
}

update() {
    o=$(apt_opts "$1")
    # shellcheck disable=SC2086
    apt-get $o -qq update >&2
}

# Newest versioned kernel image package of a suite: "linux-image-X-amd64".
newest_image() {
    o=$(apt_opts "$1")
    # shellcheck disable=SC2086
    apt-cache $o depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}

kver_ge_614() { # "6.16.3+deb13-amd64" -> >= 6.14 ?
    maj=${1%%.*}; rest=${1#*.}; min=${rest%%[.+-]*}
    [ "$maj" -gt 6 ] || { [ "$maj" -eq 6 ] && [ "$min" -ge 14 ]; }
}

fetch_old() {
    [ -f "$K/old.ok" ] && return 0
    update bookworm
    img=$(newest_image bookworm)
    [ -n "$img" ] || { log "bookworm: no kernel image"; exit 1; }
    log "old: $img"
    # shellcheck disable=SC2046
    unpack old $(download bookworm "$img")
}

fetch_new() {
    [ -f "$K/new.ok" ] && return 0
    for suite in trixie-backports sid; do
        update "$suite" || continue
        img=$(newest_image "$suite")
        [ -n "$img" ] || continue
        v=${img#linux-image-}
        kver_ge_614 "$v" || { log "$suite: $img is older than 6.14"; continue; }
        log "new: $img from $suite"
        pkgs=$img
        # Newer packaging splits the image into binary + modules packages.
        o=$(apt_opts "$suite")
        # shellcheck disable=SC2086
        deps=$(apt-cache $o depends "$img" 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-\(binary\|modules\)-[^ ]*\)$/\1/p')
        [ -n "$deps" ] && pkgs="$pkgs $deps"
        # shellcheck disable=SC2046,SC2086
        unpack new $(download "$suite" $pkgs)
        return 0
    done
    log "no >= 6.14 kernel found"; exit 1
}

fetch_old
fetch_new
for n in old new; do echo "$n $K/$n $(cat "$K/$n/kver")"; done
