#!/usr/bin/env bash
# Re-captures the firewall dump fixtures from real iptables/nft runs. Run as root; everything happens in
# throw-away network namespaces (the root namespace's firewall is never touched). Output: files in this folder.
# Usage: bash capture.sh
set -euo pipefail
cd "$(dirname "$0")"
ns=imdsfw-capture-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
fresh() { cleanup; ip netns add "$ns"; ip -n "$ns" link set lo up; }
x() { ip netns exec "$ns" "$@"; }
strip_dates() { sed -E 's/ on [A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]+ [0-9]{4}$/ on Mon Nov 23 18:54:05 2026/'; }

rules_v4() {
  local ipt=$1
  x "$ipt" -A OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner 1000-10000 -j REJECT
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -j DROP
  x "$ipt" -A OUTPUT -p tcp -d 169.254.169.254 -m owner --gid-owner 1001 -j DROP
  x "$ipt" -A OUTPUT '!' -d 10.0.0.0/8 -p tcp --dport 80 -m owner '!' --uid-owner 0 -j REJECT --reject-with tcp-reset
  x "$ipt" -A OUTPUT -d 169.254.0.0/16 -p tcp -m multiport --dports 80,443,8000:8080 -j REJECT --reject-with icmp-host-prohibited
  x "$ipt" -A OUTPUT -o eth0 -d 169.254.169.254 -j REJECT --reject-with icmp-admin-prohibited
  x "$ipt" -I FORWARD 1 -i eni+ -d 169.254.169.254/32 -j DROP
  x "$ipt" -N IMDS-CHECK
  x "$ipt" -A IMDS-CHECK -m owner --uid-owner 0 -j RETURN
  x "$ipt" -A IMDS-CHECK -m comment --comment 'block IMDS for "users" here' -j DROP
  x "$ipt" -A OUTPUT -d 169.254.169.254 -j IMDS-CHECK
  x "$ipt" -N IMDS-GOTO
  x "$ipt" -A IMDS-GOTO -j LOG --log-prefix 'IMDS drop: ' --log-level 4
  x "$ipt" -A IMDS-GOTO -j DROP
  x "$ipt" -A OUTPUT -d 169.254.169.254 -p tcp --dport 80 -g IMDS-GOTO
  x "$ipt" -A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  x "$ipt" -A OUTPUT -m state --state NEW -d 169.254.169.254 -j ACCEPT
  x "$ipt" -A OUTPUT -p udp -d 169.254.169.253 --dport 53 -j ACCEPT
  x "$ipt" -A OUTPUT -d 169.254.169.254 -m owner --uid-owner 0 -j ACCEPT
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -m u32 --u32 "0>>22&0x3C@ 12>>26&0x3C@ 0&0xFFFF=0x4745" -j DROP
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -j LOG --log-prefix "IMDS \"blocked\" it's: " --log-level 7 --log-uid
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -m owner ! --socket-exists -j DROP
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -m owner --gid-owner 1001 --suppl-groups -j DROP
  x "$ipt" -A OUTPUT -m iprange --dst-range 169.254.169.250-169.254.169.255 -j DROP
  x "$ipt" -A OUTPUT -m addrtype --dst-type LOCAL -j ACCEPT
  x "$ipt" -A OUTPUT -m mark --mark 0x1/0xff -j ACCEPT
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --tcp-flags SYN,ACK SYN -j DROP
  x "$ipt" -A OUTPUT -m comment --comment "single 'quote and \\backslash" -d 169.254.169.254/32 -j ACCEPT
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -m comment --comment "" -j ACCEPT
  x "$ipt" -A OUTPUT -d 169.254.169.254/32 -j NFQUEUE --queue-num 3
  x "$ipt" -t nat -A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8181
  x "$ipt" -t mangle -A OUTPUT -d 169.254.169.254/32 -j MARK --set-mark 0x1
  x "$ipt" -t raw -A OUTPUT -d 169.254.169.254/32 -j CT --notrack
  x "$ipt" -P FORWARD DROP
}

# 1. iptables, nf_tables backend, IPv4 (with counters), and how nft sees the same tables (xt expressions).
fresh
rules_v4 iptables-nft
x iptables-nft-save -c | strip_dates > iptables-nft.v4.save
x nft -j list ruleset > iptables-nft.json 2>/dev/null

# 2. The same rules with the legacy backend.
fresh
rules_v4 iptables-legacy
x iptables-legacy-save -c | strip_dates > iptables-legacy.v4.save

# 3. ip6tables, nf_tables backend.
fresh
x ip6tables-nft -A FORWARD -i eni+ -d fd00:ec2::254/128 -j DROP
x ip6tables-nft -A OUTPUT -d fd00:ec2::254 -p tcp --dport 80 -m owner --uid-owner 1000-10000 -j REJECT
x ip6tables-nft -A OUTPUT -d fd00:ec2::/64 -j REJECT --reject-with icmp6-adm-prohibited
x ip6tables-nft -A OUTPUT '!' -d fd00:ec2::254 -p tcp --dport 80 -j REJECT --reject-with tcp-reset
x ip6tables-nft-save -c | strip_dates > ip6tables-nft.v6.save

# 4. Native nftables (sets, skuid, jumps, goto, vmap, several base chains) and what iptables-save shows of it.
fresh
x nft -f native.nft
x nft -j list ruleset > native.json 2> native.stderr
x iptables-nft-save | strip_dates > native-seen-by-iptables.v4.save || true

# 4b. A native table named like an iptables table but with incompatible base chains or sets.
fresh
x nft -f - <<'NFT'
table ip filter {
	set blocked { type ipv4_addr; elements = { 169.254.169.254 } }
	chain output {
		type filter hook output priority filter; policy accept;
		ip daddr @blocked meta skuid 1000-10000 reject
	}
}
table ip6 filter {
	chain OUTPUT {
		type filter hook output priority filter; policy accept;
		ip6 daddr fd00:ec2::254 drop
	}
}
NFT
x iptables-nft-save | strip_dates > native-incompatible.v4.save
x ip6tables-nft-save | strip_dates > native-incompatible.v6.save
x nft -j list ruleset > native-incompatible.json

# 4c. ufw's chains (the layout ufw 0.36/0.37 loads; rules from `ufw deny out to 169.254.169.254` and friends).
fresh
x iptables-nft-restore < ufw-layout.rules
x iptables-nft-save | strip_dates > ufw.v4.save

# 5. Both backends at once: legacy rules plus an nft rule; iptables-save warns on stderr.
fresh
x iptables-legacy -A OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT --reject-with tcp-reset
x iptables-nft -A OUTPUT -d 169.254.169.254/32 -m owner --uid-owner 1000 -j DROP
x iptables-nft-save 2> both-backends.stderr | strip_dates > both-backends-nft.v4.save
x iptables-legacy-save | strip_dates > both-backends-legacy.v4.save
x cat /proc/net/ip_tables_names > both-backends.ip_tables_names

# 6. Not root: what the tools print as uid 1000.
fresh
x iptables-nft -A OUTPUT -d 169.254.169.254/32 -j DROP
for tool in iptables-nft-save iptables-legacy-save; do
  set +e
  x setpriv --reuid 1000 --regid 1000 --clear-groups "$tool" > /dev/null 2> "nonroot-$tool.stderr"
  echo $? > "nonroot-$tool.exit"
  set -e
done
set +e
x setpriv --reuid 1000 --regid 1000 --clear-groups nft -j list ruleset > /dev/null 2> nonroot-nft.stderr
echo $? > nonroot-nft.exit
set -e
echo "captured in $PWD"
