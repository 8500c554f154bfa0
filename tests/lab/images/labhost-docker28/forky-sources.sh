#!/bin/sh
# mmdebstrap customize hook of dockerlab/labhost:trixie-docker28 ($1 is the
# image's root): adds Debian forky, main only, to the image's apt sources,
# from the mirror mmdebstrap wrote for trixie (one-line or deb822 format).
# dockerlab-docker28.pref decides what may come from it.
#
# Forky's Release file on the mirror may be past its Valid-Until date; this
# entry alone accepts that (check-valid-until=no), trixie's stay checked.
set -eu
root=$1
uri=$(sed -n 's|^deb \([a-z+]*://[^ ]*\) trixie main.*$|\1|p' "$root/etc/apt/sources.list" 2>/dev/null | head -n 1)
if [ -z "$uri" ] && [ -r "$root/etc/apt/sources.list.d/debian.sources" ]; then
  # deb822: the URIs of the first stanza whose Suites name trixie.
  uri=$(awk '/^$/ { u = "" } /^URIs:/ { u = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "trixie" && u != "") { print u; exit } }' \
    "$root/etc/apt/sources.list.d/debian.sources")
fi
if [ -z "$uri" ]; then
  echo "forky-sources.sh: no apt source for trixie main in $root/etc/apt (sources.list or sources.list.d/debian.sources)" >&2
  exit 1
fi
printf 'deb [check-valid-until=no] %s forky main\n' "$uri" >"$root/etc/apt/sources.list.d/dockerlab-forky.list"
