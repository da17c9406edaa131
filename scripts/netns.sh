#!/usr/bin/env bash
# netns.sh: "regions" on one machine, for running one mailcanary agent per region against the
# loopback mail stack. Each region is a network namespace joined to the root namespace by a veth
# pair on a link-local /30, with added latency on the namespace's outgoing traffic. As root.
#
#   netns.sh up INDEX NAME DELAY_MS [TUN]   create region NAME (namespace mcns-NAME)
#   netns.sh down NAME...                   delete regions (idempotent)
#   netns.sh cut NAME | heal NAME           take the region's link down / up again
#   netns.sh exec NAME CMD...               run CMD inside the region's namespace
#   netns.sh addr INDEX                     print "ROOT_ADDR NS_ADDR" of region INDEX
#   netns.sh has-netem                      exit 0 if the kernel has the netem qdisc
#   netns.sh list                           the regions that exist
#
# Addressing: region INDEX (0-63) gets 169.254.213.(4*INDEX+1) on the root side (veth mcr-NAME)
# and .(4*INDEX+2) inside the namespace (veth mcn-NAME). Link-local: never routed off the
# machine. NAME: 1-10 characters of a-z 0-9 (interface names are limited to 15).
#
# Latency: `tc qdisc ... netem delay DELAY_MS` on the namespace's side of the veth. On a kernel
# without netem (CONFIG_NET_SCH_NETEM unset, as on some VMs), pass TUN: an up tun device whose
# file descriptor a userspace delay line holds (tests/support/netns.rs); every IPv4 packet
# arriving from the namespace is then redirected to it (`tc ... u32 ... mirred`), and the
# delay line writes it back after DELAY_MS. Either way the namespace's round trip to the root
# namespace grows by DELAY_MS. `up` prints which one it used: "latency: netem|delay-line|none".
#
# The mail stack listens on 127.0.0.1 only, which a namespace cannot reach: something in the
# root namespace must relay ROOT_ADDR:{25,465,587,143,993} to 127.0.0.1 (the test fixture runs a
# TCP relay; by hand: `socat TCP-LISTEN:993,bind=ROOT_ADDR,fork,reuseaddr TCP:127.0.0.1:993`).
set -euo pipefail

die() { echo "netns.sh: $*" >&2; exit 1; }

command -v ip >/dev/null 2>&1 || die "'ip' not found: install iproute2 (apt-get install iproute2)"
command -v tc >/dev/null 2>&1 || die "'tc' not found: install iproute2 (apt-get install iproute2)"

check_name() { [[ "$1" =~ ^[a-z0-9]{1,10}$ ]] || die "bad region name '$1' (1-10 of a-z 0-9)"; }

addrs() { # INDEX -> "ROOT NS"
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -lt 64 ] || die "bad index '$1' (0-63)"
  echo "169.254.213.$((4 * $1 + 1)) 169.254.213.$((4 * $1 + 2))"
}

has_netem() {
  local a=mcnetem$$a b=mcnetem$$b ok=1
  ip link add "$a" type veth peer name "$b" 2>/dev/null || return 1
  tc qdisc add dev "$a" root netem delay 1ms 2>/dev/null && ok=0
  ip link del "$a" 2>/dev/null || true
  return $ok
}

down() {
  for name in "$@"; do
    check_name "$name"
    ip netns del "mcns-$name" 2>/dev/null || true
    ip link del "mcr-$name" 2>/dev/null || true
  done
}

up() {
  [ $# -ge 3 ] || die "usage: netns.sh up INDEX NAME DELAY_MS [TUN]"
  local index=$1 name=$2 delay=$3 tun=${4:-} pair root nsa
  check_name "$name"
  [[ "$delay" =~ ^[0-9]+$ ]] || die "bad delay '$delay' (milliseconds)"
  pair=$(addrs "$index")
  read -r root nsa <<< "$pair"
  down "$name"
  ip netns add "mcns-$name"
  ip link add "mcr-$name" type veth peer name "mcn-$name"
  ip link set "mcn-$name" netns "mcns-$name"
  ip addr add "$root/30" dev "mcr-$name"
  ip link set "mcr-$name" up
  ip -n "mcns-$name" link set lo up
  ip -n "mcns-$name" addr add "$nsa/30" dev "mcn-$name"
  ip -n "mcns-$name" link set "mcn-$name" up
  if [ "$delay" = 0 ]; then
    echo "latency: none"
  elif ip netns exec "mcns-$name" tc qdisc add dev "mcn-$name" root netem delay "${delay}ms" 2>/dev/null; then
    echo "latency: netem"
  elif [ -n "$tun" ]; then
    ip link set "$tun" up
    tc qdisc add dev "mcr-$name" ingress
    tc filter add dev "mcr-$name" parent ffff: protocol ip u32 match u32 0 0 \
      action mirred egress redirect dev "$tun"
    echo "latency: delay-line"
  else
    down "$name"
    die "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); give a delay-line TUN device, or use 0 ms"
  fi
}

link() { # NAME up|down
  check_name "$1"
  ip -n "mcns-$1" link set "mcn-$1" "$2"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) shift; down "$@" ;;
  cut) link "${2:-}" down ;;
  heal) link "${2:-}" up ;;
  exec) name=${2:-}; check_name "$name"; shift 2; exec ip netns exec "mcns-$name" "$@" ;;
  addr) addrs "${2:-}" ;;
  has-netem) has_netem ;;
  list) ip netns list | awk '$1 ~ /^mcns-/ { sub(/^mcns-/, "", $1); print $1 }' ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
