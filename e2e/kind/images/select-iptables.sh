# Sourced by the entry scripts of images that write iptables rules in the node's network
# namespace: the rules must use the backend (legacy or nf_tables) the node already uses, or
# their chains would be evaluated apart from the node's own.
count() { ("$1"-save; "$2"-save) 2>/dev/null | grep -c '^-' || true; }
legacy=$(count iptables-legacy ip6tables-legacy)
nft=$(count iptables-nft ip6tables-nft)
mode=nft
[ "$legacy" -gt "$nft" ] && mode=legacy
update-alternatives --set iptables "/usr/sbin/iptables-$mode" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-$mode" >/dev/null
