#!/bin/sh
# kube-proxy must write its rules with the iptables backend the node already uses.
set -eu
. /usr/local/lib/select-iptables.sh
exec /usr/local/lib/kube-proxy/kube-proxy "$@"
