#!/bin/sh
# kube-network-policies judges the first packet of each connection to or from a pod, which
# the kernel hands it through nfqueue. Upstream diverts those packets with an nftables `queue`
# expression, which the kernels of these machines lack (CONFIG_NFT_QUEUE is not set and they
# load no modules), so its own nftables table is refused on every sync and never exists.
# The same packets are diverted here with iptables' NFQUEUE target (xt_NFQUEUE, built in),
# ahead of source NAT, and with the same exemptions: established flows, and traffic the
# node's root processes (the kubelet's probes) send. Every new pod connection is queued, not
# only those of pods a policy selects (upstream's set of pod IPs lives in the refused table);
# the enforcer accepts the rest. --queue-bypass lets traffic through while no enforcer
# listens, so a node whose enforcer is not yet running still boots its pods.
set -eu
. /usr/local/lib/select-iptables.sh
: "${POD_CIDR:?POD_CIDR (the cluster's pod range) is not set}"
queue=${NFQUEUE_ID:-100}
chain=PREDICTFLOW-NETPOL
# Declaring the chain in a --noflush restore creates it, or empties it when it exists.
iptables-restore -w --noflush <<RULES
*mangle
:$chain - [0:0]
-A $chain -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A $chain -m owner --uid-owner 0 -j RETURN
-A $chain -s $POD_CIDR -j NFQUEUE --queue-num $queue --queue-bypass
-A $chain -d $POD_CIDR -j NFQUEUE --queue-num $queue --queue-bypass
COMMIT
RULES
iptables -w -t mangle -C POSTROUTING -j "$chain" 2>/dev/null || iptables -w -t mangle -A POSTROUTING -j "$chain"
exec /usr/local/lib/kube-network-policies/kube-network-policies --nfqueue-id="$queue" "$@"
