# imds-troubleshoot collector, output format 1 (see CollectorOutputParser).
# Read-only: it probes IMDS, reads the firewall, proxy settings, platform facts and ENA counters, and prints them
# framed for the parser. Needs sh and curl (or wget); uses iptables-save, nft, ip, ethtool, awk when present.
# It never prints the IMDSv2 token or any credential, never reads iam/security-credentials, and masks proxy passwords.
# Everything runs inside imdsc_main, called on the last line with stdin from /dev/null: a truncated script runs
# nothing, and no command can read the rest of the script when it arrives on stdin (sh -s).

imdsc_have() {
    # imdsc_have NAME: true when the program exists in the usual folders or on PATH; its path in imdsc_path.
    # IMDSC_BIN (tests) replaces the folders and PATH: a BusyBox-only system can be tried on any machine.
    for imdsc_d in ${IMDSC_BIN:-/usr/sbin /sbin /usr/bin /bin /usr/local/sbin /usr/local/bin}; do
        if [ -x "$imdsc_d/$1" ] && [ ! -d "$imdsc_d/$1" ]; then imdsc_path="$imdsc_d/$1"; return 0; fi
    done
    [ -z "${IMDSC_BIN-}" ] || return 1
    imdsc_path=$(command -v "$1" 2>/dev/null) || return 1
    case $imdsc_path in /*) return 0 ;; esac
    return 1
}

imdsc_one() {
    # One line, no control characters, at most 400 characters (no process is started for the usual short, clean value).
    if [ "${#1}" -le 400 ]; then
        case $1 in
            *[![:print:]]*) ;;
            *) printf '%s' "$1"; return 0 ;;
        esac
    fi
    printf '%s' "$(printf '%s' "$1" | tr -c '[:print:]' ' ' | cut -c1-400)"
}

imdsc_kv() {
    printf '%s=' "$1"
    imdsc_one "$2"
    printf '\n'
}

imdsc_mask() {
    # Hides a proxy URL's password (user:****@host) and a lone user name (u****@host), as ProxyUrlMasker does.
    printf '%s\n' "$1" | sed -e 's#^\(\([A-Za-z][A-Za-z0-9+.-]*://\)\{0,1\}[^:/?#@]*:\)[^/?#]*@#\1****@#' \
        -e 's#^\(\([A-Za-z][A-Za-z0-9+.-]*://\)\{0,1\}[^:/?#@]\)[^:/?#@][^:/?#]*@#\1****@#'
}

imdsc_payload() {
    # Every payload line starts with '|': it can never be taken for a frame line.
    tr -d '\000\r' | sed 's/^/|/'
}

imdsc_now() {
    imdsc_t=$(date +%s%N 2>/dev/null)
    case $imdsc_t in *N* | '') imdsc_t="$(date +%s)000000000" ;; esac
    printf '%s' "$imdsc_t"
}

imdsc_section() {
    # imdsc_section NUMBER NAME: later output goes to that section's file (sections are printed in number order).
    imdsc_cur="$W/s$1"
    printf '@section %s\n' "$2" >"$imdsc_cur"
}

imdsc_out() {
    cat >>"$imdsc_cur"
}

imdsc_env_section() {
    imdsc_section 10 env
    env 2>/dev/null | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | sort -u >"$W/envnames"
    while IFS= read -r imdsc_n; do
        imdsc_l=$(printf '%s' "$imdsc_n" | tr 'A-Z' 'a-z')
        case $imdsc_l in
            http_proxy | https_proxy | all_proxy | no_proxy | aws_ec2_metadata_* | request_method | kubernetes_service_host | ecs_container_metadata_uri | ecs_container_metadata_uri_v4 | container) ;;
            *) continue ;;
        esac
        eval "imdsc_set=\${$imdsc_n+x}"
        [ "$imdsc_set" = x ] || continue
        eval "imdsc_v=\${$imdsc_n}"
        case $imdsc_l in
            *_proxy) case $imdsc_l in no_proxy) ;; *) imdsc_v=$(imdsc_mask "$imdsc_v") ;; esac ;;
        esac
        imdsc_kv "$imdsc_n" "$imdsc_v" | imdsc_out
    done <"$W/envnames"
}

imdsc_resolve_endpoint() {
    EP=''
    EPSRC=''
    EPERR=''
    if [ -n "$IMDSC_ENDPOINT" ]; then
        EP=$IMDSC_ENDPOINT
        EPSRC='-Endpoint'
        return
    fi
    imdsc_e=$(printf '%s' "${AWS_EC2_METADATA_SERVICE_ENDPOINT-}" | tr -d ' \t\r\n')
    if [ -n "$imdsc_e" ]; then
        EPSRC='AWS_EC2_METADATA_SERVICE_ENDPOINT'
        case $imdsc_e in
            http://?* | https://?*) ;;
            *) EPERR="AWS_EC2_METADATA_SERVICE_ENDPOINT='$imdsc_e' is not an absolute http:// URI."; return ;;
        esac
        if printf '%s' "$imdsc_e" | grep -q '[^][A-Za-z0-9._~:/?#@!$&()*+,;=%-]'; then
            EPERR="AWS_EC2_METADATA_SERVICE_ENDPOINT='$imdsc_e' is not an absolute http:// URI."
            return
        fi
        imdsc_e=${imdsc_e%%\#*}
        imdsc_e=${imdsc_e%%\?*}
        case $imdsc_e in */) ;; *) imdsc_e="$imdsc_e/" ;; esac
        case $imdsc_e in *://*/*) ;; *) imdsc_e="$imdsc_e/" ;; esac
        EP=$imdsc_e
        return
    fi
    imdsc_m=$(printf '%s' "${AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE-}" | tr -d ' \t\r\n' | tr 'A-Z' 'a-z')
    case $imdsc_m in
        ipv6) EP='http://[fd00:ec2::254]/'; EPSRC='AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE' ;;
        '' | ipv4) EP='http://169.254.169.254/'; EPSRC='default' ;;
        *) EPSRC='AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE'; EPERR="AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE='${AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE-}' must be IPv4 or IPv6." ;;
    esac
}

# One HTTP exchange. imdsc_req METHOD URL TOKENMODE KEEPBODY
#   TOKENMODE: ttl (send the TTL header), token (send the token from TOK, through curl's stdin config), none
# Sets R_RC (curl exit code, or w:CODE for wget), R_CODE, R_TC (connect seconds), R_TT (total seconds), R_SIZE,
# R_REMOTE, R_LOCAL, R_TTL (token TTL header), R_ERR (first error line), R_BODY (only when KEEPBODY=1).
imdsc_req() {
    R_RC='' R_CODE=0 R_TC=0 R_TT=0 R_SIZE=0 R_REMOTE='' R_LOCAL='' R_TTL='' R_ERR='' R_BODY=''
    : >"$W/hdr"
    : >"$W/err"
    if [ -n "$CURL" ]; then
        imdsc_fmt='\n@@imdsc %{http_code} %{time_connect} %{time_total} %{size_download} %{remote_ip} %{remote_port} %{local_ip} %{local_port}'
        case $3 in
            ttl) imdsc_o=$("$CURL" -v -sS -g --noproxy '*' -X "$1" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' --connect-timeout "$T" -m "$T" -D "$W/hdr" -w "$imdsc_fmt" "$2" 2>"$W/err") ;;
            token) imdsc_o=$(printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$TOK" | "$CURL" -sS -g --noproxy '*' -K - -X "$1" --connect-timeout "$T" -m "$T" -D "$W/hdr" -w "$imdsc_fmt" "$2" 2>"$W/err") ;;
            *) imdsc_o=$("$CURL" -v -sS -g --noproxy '*' -X "$1" --connect-timeout "$T" -m "$T" -D "$W/hdr" -w "$imdsc_fmt" "$2" 2>"$W/err") ;;
        esac
        R_RC=$?
        imdsc_tail=$(printf '%s\n' "$imdsc_o" | sed -n 's/^@@imdsc //p' | tail -n 1)
        # shellcheck disable=SC2086
        set -- $imdsc_tail
        R_CODE=${1:-0} R_TC=${2:-0} R_TT=${3:-0} R_SIZE=${4:-0}
        [ -n "${5-}" ] && R_REMOTE="$5:${6-}"
        [ -n "${7-}" ] && R_LOCAL="$7:${8-}"
        if [ "$KEEPBODY" = 1 ]; then
            R_BODY=$(printf '%s\n' "$imdsc_o" | sed '/^@@imdsc /d')
        fi
    elif [ -n "$WGET" ]; then
        # GNU wget: -nv keeps the error messages ("failed: Connection refused."), -S prints the headers to stderr.
        # BusyBox wget: no PUT (no token), -T timeout, -Y off (no proxy). Its exit code is 1 for every failure.
        imdsc_t0=$(imdsc_now)
        if [ "$WGET_BB" = 1 ]; then
            # BusyBox 1.35's wget -T crashes (SIGSEGV): the bound comes from timeout(1) when there is one.
            case $3 in
                ttl) R_RC='w:put-unsupported' ;;
                token) imdsc_o=$($BBTIMEOUT "$WGET" -q -S -O - -Y off $BBT --header "X-aws-ec2-metadata-token: $TOK" "$2" 2>"$W/err"); R_RC=$? ;;
                *) imdsc_o=$($BBTIMEOUT "$WGET" -q -S -O - -Y off $BBT "$2" 2>"$W/err"); R_RC=$? ;;
            esac
        else
            case $3 in
                ttl)
                    if [ "$WGET_METHOD" = 1 ]; then
                        imdsc_o=$("$WGET" -nv -S -O - --no-proxy --tries=1 --timeout="$T" --method="$1" --header='X-aws-ec2-metadata-token-ttl-seconds: 21600' "$2" 2>"$W/err")
                        R_RC=$?
                    else
                        R_RC='w:put-unsupported'
                    fi ;;
                token) imdsc_o=$("$WGET" -nv -S -O - --no-proxy --tries=1 --timeout="$T" --header="X-aws-ec2-metadata-token: $TOK" "$2" 2>"$W/err"); R_RC=$? ;;
                *) imdsc_o=$("$WGET" -nv -S -O - --no-proxy --tries=1 --timeout="$T" "$2" 2>"$W/err"); R_RC=$? ;;
            esac
        fi
        imdsc_t1=$(imdsc_now)
        R_TT="ms$(( (imdsc_t1 - imdsc_t0) / 1000000 ))"
        R_CODE=$(sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$W/err" | tail -n 1)
        R_CODE=${R_CODE:-0}
        sed -n 's/^ *\([A-Za-z0-9-]*: .*\)/\1/p' "$W/err" >"$W/hdr"
        R_SIZE=$(printf '%s' "$imdsc_o" | wc -c | tr -d ' ')
        case $R_RC in w:*) ;; *) R_RC="w:$R_RC" ;; esac
        [ "$KEEPBODY" = 1 ] && R_BODY=$imdsc_o
    else
        R_RC='none'
    fi
    R_TTL=$(sed -n 's/^[Xx]-[Aa][Ww][Ss]-[Ee][Cc]2-[Mm][Ee][Tt][Aa][Dd][Aa][Tt][Aa]-[Tt][Oo][Kk][Ee][Nn]-[Tt][Tt][Ll]-[Ss][Ee][Cc][Oo][Nn][Dd][Ss]: *\([0-9]*\).*/\1/p' "$W/hdr" | tail -n 1)
    if [ -n "$CURL" ]; then
        # curl -v names the system error ("connect to ... failed: Connection refused"); -sS only "Couldn't connect".
        R_ERR=$(sed -n 's/^\* .*[Cc]onnect.* failed: \(.*\)/\1/p' "$W/err" | tail -n 1)
        [ -n "$R_ERR" ] || R_ERR=$(grep '^curl: (' "$W/err" | head -n 1)
    else
        R_ERR=$(grep -v '^ *HTTP/\|^ *[A-Za-z0-9-]*: ' "$W/err" | head -n 1)
    fi
    : >"$W/err"
    imdsc_o=''
}

imdsc_line() {
    # imdsc_line NAME: one exchange's result as a line (never the body).
    printf '%s=%s %s %s %s %s %s %s ttl=%s\n' "$1" "$R_RC" "$R_CODE" "$R_TC" "$R_TT" "$R_SIZE" "${R_REMOTE:--}" "${R_LOCAL:--}" "${R_TTL:--}"
    [ -n "$R_ERR" ] && imdsc_kv "$1.error" "$R_ERR"
    return 0
}

# imdsc_probe URL SECTIONNUMBER NAME: token PUT (its connection is the connect step), GET with the token, GET without.
imdsc_probe() {
    imdsc_section "$2" "$3"
    imdsc_kv url "$1" | imdsc_out
    imdsc_kv timeout "$T" | imdsc_out
    KEEPBODY=1
    imdsc_req PUT "$1latest/api/token" ttl
    KEEPBODY=0
    TOK=$(printf '%s' "$R_BODY" | tr -d ' \t\r\n')
    R_BODY=''
    imdsc_toklen=$(printf '%s' "$TOK" | wc -c | tr -d ' ')
    imdsc_line put | imdsc_out
    imdsc_kv put.tokenlength "$imdsc_toklen" | imdsc_out
    P_CONNECTED=1
    case $R_RC in
        7 | 6 | 45 | w:4 | w:put-unsupported | none) P_CONNECTED=0 ;;
        28) case $R_TC in 0 | 0.0 | 0.000000 | 0,000000 | '') P_CONNECTED=0 ;; esac ;;
    esac
    P_PUTOK=0
    case $R_CODE in 2??) [ "$R_RC" = 0 ] || [ "$R_RC" = w:0 ] && [ -n "$TOK" ] && P_PUTOK=1 ;; esac
    [ "$P_PUTOK" = 1 ] || TOK=''
    if [ "$P_CONNECTED" = 1 ] || [ "$R_RC" = w:put-unsupported ]; then
        if [ -n "$TOK" ]; then
            imdsc_req GET "$1latest/meta-data/" token
            imdsc_line v2 | imdsc_out
        fi
        imdsc_req GET "$1latest/meta-data/" none
        imdsc_line v1 | imdsc_out
        P_V1OK=0
        case $R_CODE in 200) P_V1OK=1 ;; esac
        [ "$R_RC" = w:put-unsupported ] || true
    fi
}

imdsc_identity() {
    imdsc_section 22 identity
    if [ "$P_CONNECTED" != 1 ] || { [ "$P_PUTOK" != 1 ] && [ "$P_V1OK" != 1 ]; }; then
        printf 'skipped=not connected, or neither the token nor IMDSv1 worked\n' | imdsc_out
        return
    fi
    imdsc_tsave=$T
    T=5
    KEEPBODY=1
    if [ -n "$TOK" ]; then
        imdsc_req GET "${EP}latest/dynamic/instance-identity/document" token
    else
        case $(printf '%s' "${AWS_EC2_METADATA_V1_DISABLED-}" | tr 'A-Z' 'a-z' | tr -d ' ') in
            true) printf 'note=AWS_EC2_METADATA_V1_DISABLED=true and no token\n' | imdsc_out; T=$imdsc_tsave; KEEPBODY=0; return ;;
        esac
        imdsc_req GET "${EP}latest/dynamic/instance-identity/document" none
    fi
    KEEPBODY=0
    T=$imdsc_tsave
    imdsc_line document | imdsc_out
    imdsc_doc=$(printf '%s' "$R_BODY" | tr -d '\r\n')
    R_BODY=''
    imdsc_id=$(printf '%s\n' "$imdsc_doc" | sed -n 's/.*"instanceId"[ \t]*:[ \t]*"\(i-[0-9a-f]*\)".*/\1/p')
    imdsc_rg=$(printf '%s\n' "$imdsc_doc" | sed -n 's/.*"region"[ \t]*:[ \t]*"\([a-z0-9-]*\)".*/\1/p')
    imdsc_doc=''
    imdsc_kv instanceId "$imdsc_id" | imdsc_out
    imdsc_kv region "$imdsc_rg" | imdsc_out
}

imdsc_platform() {
    imdsc_section 12 platform
    for imdsc_f in sys/class/dmi/id/sys_vendor sys/class/dmi/id/bios_vendor sys/class/dmi/id/board_vendor sys/class/dmi/id/product_name \
        sys/class/dmi/id/chassis_asset_tag sys/hypervisor/uuid sys/class/dmi/id/product_uuid sys/devices/virtual/dmi/id/board_asset_tag; do
        if [ -r "/$imdsc_f" ] && [ -f "/$imdsc_f" ]; then
            imdsc_v=$(head -c 512 "/$imdsc_f" 2>/dev/null) && imdsc_kv "file.$imdsc_f" "$imdsc_v" | imdsc_out
        fi
    done
    [ -e /.dockerenv ] && printf 'marker=.dockerenv\n' | imdsc_out
    [ -e /run/.containerenv ] && printf 'marker=run/.containerenv\n' | imdsc_out
    if [ -r /proc/1/cgroup ]; then
        imdsc_c=$(grep -o 'kubepods\|docker\|containerd\|libpod\|lxc\|ecs' /proc/1/cgroup 2>/dev/null | head -n 1)
        [ -n "$imdsc_c" ] && imdsc_kv cgroup1 "$imdsc_c" | imdsc_out
    fi
    imdsc_kv netns "$(readlink "/proc/$$/ns/net" 2>/dev/null)" | imdsc_out
    imdsc_kv initnetns "$(readlink /proc/1/ns/net 2>/dev/null)" | imdsc_out
}

# ENA: the interfaces (sysfs) and, for ENA ones, ethtool's allowance counters. imdsc_ena NUMBER NAME
imdsc_ena() {
    imdsc_section "$1" "$2"
    imdsc_kv time "$(imdsc_now)" | imdsc_out
    [ -n "$ETHTOOL" ] || printf 'noethtool=1\n' | imdsc_out
    for imdsc_i in /sys/class/net/*; do
        [ -e "$imdsc_i" ] || continue
        [ -d "$imdsc_i" ] || continue
        imdsc_n=${imdsc_i##*/}
        imdsc_drv=''
        imdsc_virt=1
        if [ -d "$imdsc_i/device" ]; then
            imdsc_virt=0
            imdsc_drv=$(readlink "$imdsc_i/device/driver" 2>/dev/null)
            imdsc_drv=${imdsc_drv##*/}
            case $(readlink "$imdsc_i" 2>/dev/null) in */virtual/*) imdsc_virt=1 ;; esac
        fi
        imdsc_idx=$(cat "$imdsc_i/ifindex" 2>/dev/null)
        imdsc_ven=$(cat "$imdsc_i/device/vendor" 2>/dev/null)
        imdsc_dev=$(cat "$imdsc_i/device/device" 2>/dev/null)
        imdsc_op=$(cat "$imdsc_i/operstate" 2>/dev/null)
        imdsc_edrv=''
        [ -n "$ETHTOOL" ] && imdsc_edrv=$("$ETHTOOL" -i "$imdsc_n" 2>/dev/null | sed -n 's/^driver: *//p' | head -n 1)
        printf 'if=%s %s %s %s %s %s %s %s\n' "$imdsc_n" "${imdsc_idx:--}" "${imdsc_drv:--}" "$imdsc_virt" "${imdsc_ven:--}" "${imdsc_dev:--}" "${imdsc_op:--}" "${imdsc_edrv:--}" | imdsc_out
        case "$imdsc_drv $imdsc_edrv $imdsc_ven" in
            *ena* | *0x1d0f*)
                if [ -n "$ETHTOOL" ]; then
                    "$ETHTOOL" -S "$imdsc_n" 2>/dev/null | grep -i 'allowance\|exceeded' | head -n 40 | sed "s/^/stat.$imdsc_n=/" | imdsc_out
                    "$ETHTOOL" -i "$imdsc_n" 2>/dev/null | head -n 12 | sed "s/^/info.$imdsc_n=/" | imdsc_out
                fi ;;
        esac
    done
}

# A command's output as a dump: imdsc_dump NUMBER NAME PROGRAM ARGS...
imdsc_dump() {
    imdsc_dn=$1 imdsc_dname=$2
    shift 2
    "$@" >"$W/d$imdsc_dn" 2>"$W/e$imdsc_dn"
    imdsc_rc=$?
    {
        printf '@dump %s\n' "$imdsc_dname"
        imdsc_kv exit "$imdsc_rc"
        head -n 3 "$W/e$imdsc_dn" | sed 's/^/stderr=/' | tr -d '\r'
    } >"$W/s$imdsc_dn"
    rm -f "$W/e$imdsc_dn"
}

imdsc_firewall() {
    if [ "$UID_" != 0 ]; then
        printf '@section firewall\nskipped=not root\n' >"$W/s30"
        return
    fi
    {
        printf '@section firewall\n'
        for imdsc_p in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save iptables-save ip6tables-save \
            iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy iptables ip6tables nft ip ufw firewall-cmd; do
            imdsc_have "$imdsc_p" && printf 'tool=%s\n' "$imdsc_p"
        done
        for imdsc_f in /proc/net/ip_tables_names /proc/net/ip6_tables_names /proc/sys/net/ipv4/ip_local_port_range; do
            [ -r "$imdsc_f" ] && imdsc_kv "file.$imdsc_f" "$(tr '\n' ' ' <"$imdsc_f")"
        done
    } >"$W/s30"
    imdsc_n=31
    for imdsc_v in '' 6; do
        if imdsc_have "ip${imdsc_v}tables-nft-save"; then
            imdsc_dump $imdsc_n "ip${imdsc_v}tables-nft-save -c" "$imdsc_path" -c
        elif imdsc_have "ip${imdsc_v}tables-save"; then
            imdsc_pp=$imdsc_path
            imdsc_ver=$("$imdsc_pp" --version 2>/dev/null)
            printf '%s\n' "$(imdsc_kv "version.ip${imdsc_v}tables-save" "$imdsc_ver")" >>"$W/s30"
            case $imdsc_ver in *nf_tables*) imdsc_dump $imdsc_n "ip${imdsc_v}tables-save -c" "$imdsc_pp" -c ;; esac
        fi
        imdsc_n=$((imdsc_n + 1))
        if [ -s "/proc/net/ip${imdsc_v}_tables_names" ]; then
            if imdsc_have "ip${imdsc_v}tables-legacy-save"; then
                imdsc_dump $imdsc_n "ip${imdsc_v}tables-legacy-save -c" "$imdsc_path" -c
            elif imdsc_have "ip${imdsc_v}tables-save"; then
                imdsc_pp=$imdsc_path
                case $("$imdsc_pp" --version 2>/dev/null) in
                    *nf_tables*) ;;
                    *) imdsc_dump $imdsc_n "ip${imdsc_v}tables-save -c" "$imdsc_pp" -c ;;
                esac
            fi
        fi
        imdsc_n=$((imdsc_n + 1))
    done
    if imdsc_have nft; then
        imdsc_dump 35 "nft -j list ruleset" "$imdsc_path" -j list ruleset
    fi
    if imdsc_have ip; then
        imdsc_dump 36 "ip -j route get 169.254.169.254" "$imdsc_path" -j route get 169.254.169.254
        imdsc_dump 37 "ip -j -6 route get fd00:ec2::254" "$imdsc_path" -j -6 route get fd00:ec2::254
        imdsc_dump 38 "ip -j -d addr show" "$imdsc_path" -j -d addr show
    fi
    # Users and groups: names and ids only (owner matches and per-user verdicts need them).
    {
        printf '@dump passwd\n'
        imdsc_kv exit 0
    } >"$W/s39"
    cut -d: -f1,3,4 /etc/passwd 2>/dev/null | sed 's/^\([^:]*\):/\1:x:/' >"$W/d39"
    {
        printf '@dump group\n'
        imdsc_kv exit 0
    } >"$W/s40"
    cut -d: -f1,3,4 /etc/group 2>/dev/null | sed 's/^\([^:]*\):\([^:]*\):/\1:x:\2:/' >"$W/d40"
    # Files that restore rules at boot (whether a blocking rule comes back after a reboot).
    imdsc_n=700
    for imdsc_f in /etc/iptables/rules.v4 /etc/iptables/rules.v6 /etc/sysconfig/iptables /etc/sysconfig/ip6tables /etc/iptables/iptables.rules \
        /etc/iptables/ip6tables.rules /etc/iptables.rules /etc/iptables.up.rules /etc/ip6tables.rules /etc/ip6tables.up.rules /etc/ufw/user.rules \
        /etc/ufw/before.rules /etc/ufw/after.rules /etc/ufw/user6.rules /etc/ufw/before6.rules /etc/ufw/after6.rules \
        /etc/nftables.conf /etc/sysconfig/nftables.conf /etc/nftables/*.nft /etc/nftables.d/*.nft; do
        [ -f "$imdsc_f" ] || continue
        imdsc_file $imdsc_n "$imdsc_f" '' keep
        [ -f "$W/s$imdsc_n" ] && printf 'use=firewall\n' >>"$W/s$imdsc_n"
        imdsc_n=$((imdsc_n + 1))
    done
}

# A file, reduced to lines that matter (numbered, so the parser can put them back on their lines).
# imdsc_file NUMBER PATH FILTER: FILTER is a grep -i pattern, or '' for the whole file.
imdsc_file() {
    [ -f "$2" ] && [ -r "$2" ] || return 0
    {
        printf '@file %s\n' "$2"
        imdsc_kv lines "$(wc -l <"$2" | tr -d ' ')"
    } >"$W/s$1"
    # Proxy passwords in the lines are masked here: they never leave the target (scheme://user:****@host).
    if [ -n "$3" ]; then
        grep -n -i -e "$3" "$2" 2>/dev/null | head -n 200 | sed 's#\(://[^:/@ \t"]*:\)[^@/ \t"]*@#\1****@#g' >"$W/d$1"
    else
        grep -n '' "$2" 2>/dev/null | head -n 400 | sed 's#\(://[^:/@ \t"]*:\)[^@/ \t"]*@#\1****@#g' >"$W/d$1"
    fi
    # A file with nothing about proxies is left out (an EnvironmentFile= target stays: its existence matters).
    if [ ! -s "$W/d$1" ] && [ "${4-}" != keep ]; then rm -f "$W/s$1" "$W/d$1"; fi
}

imdsc_proxy_files() {
    imdsc_pn=500
    imdsc_pf() {
        imdsc_file $imdsc_pn "$1" "$2" "${3-}"
        imdsc_pn=$((imdsc_pn + 1))
    }
    imdsc_pat='proxy\|^[ \t]*\(\.\|source\)[ \t]\|EnvironmentFile\|UnsetEnvironment\|DefaultEnvironment'
    for imdsc_f in /etc/environment /etc/profile /etc/bash.bashrc /etc/bashrc /etc/profile.d/*.sh /etc/zsh/zshenv /etc/zshenv /etc/zsh/zprofile /etc/zsh/zshrc; do
        imdsc_pf "$imdsc_f" "$imdsc_pat"
    done
    imdsc_h=${HOME:-/root}
    for imdsc_f in .bash_profile .bash_login .profile .bashrc .zshenv .zprofile .zshrc .zlogin; do
        imdsc_pf "$imdsc_h/$imdsc_f" "$imdsc_pat"
    done
    imdsc_pf /etc/systemd/system.conf "$imdsc_pat"
    for imdsc_d in /etc/systemd/system.conf.d /run/systemd/system.conf.d /usr/lib/systemd/system.conf.d /lib/systemd/system.conf.d; do
        for imdsc_f in "$imdsc_d"/*.conf; do imdsc_pf "$imdsc_f" "$imdsc_pat"; done
    done
    for imdsc_d in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
        for imdsc_u in amazon-ssm-agent.service snap.amazon-ssm-agent.amazon-ssm-agent.service docker.service containerd.service kubelet.service ecs.service amazon-cloudwatch-agent.service; do
            imdsc_pf "$imdsc_d/$imdsc_u" "$imdsc_pat"
        done
        for imdsc_f in "$imdsc_d"/*.service.d/*.conf; do imdsc_pf "$imdsc_f" "$imdsc_pat"; done
    done
    # EnvironmentFile= targets named by the files above.
    cat "$W"/d5* 2>/dev/null | sed -n 's/^[0-9]*:[ \t]*EnvironmentFile[ \t]*=[ \t]*-\{0,1\}\(\/[^ \t]*\).*/\1/p' | sort -u | head -n 20 >"$W/envfiles"
    while IFS= read -r imdsc_f; do imdsc_pf "$imdsc_f" 'proxy' keep; done <"$W/envfiles"
    imdsc_pf /etc/docker/daemon.json '' keep
    imdsc_pf "$imdsc_h/.docker/config.json" 'prox'
}

imdsc_processes() {
    imdsc_section 60 processes
    if [ "$UID_" != 0 ]; then
        printf 'skipped=not root\n' | imdsc_out
        return
    fi
    imdsc_count=0
    # One grep finds the processes whose environment names a proxy; only those are read again.
    grep -l -a -i -s 'http_proxy=\|https_proxy=\|all_proxy=' /proc/[0-9]*/environ 2>/dev/null | sed 's#/environ$##' >"$W/pids"
    while IFS= read -r imdsc_p; do
        imdsc_pid=${imdsc_p##*/}
        [ "$imdsc_pid" = "$$" ] && continue
        [ -r "$imdsc_p/environ" ] || continue
        tr '\000' '\n' 2>/dev/null <"$imdsc_p/environ" | grep -i '^\(http_proxy\|https_proxy\|all_proxy\|no_proxy\)=' >"$W/penv" 2>/dev/null || continue
        grep -qi '^\(http_proxy\|https_proxy\|all_proxy\)=' "$W/penv" || continue
        imdsc_count=$((imdsc_count + 1))
        [ "$imdsc_count" -le 40 ] || continue
        imdsc_comm=$(cat "$imdsc_p/comm" 2>/dev/null)
        imdsc_unit=$(sed -n 's/.*\/\([^/]*\.service\).*/\1/p' "$imdsc_p/cgroup" 2>/dev/null | tail -n 1)
        printf 'pid=%s %s\n' "$imdsc_pid" "$(imdsc_one "${imdsc_unit:--} $imdsc_comm")" | imdsc_out
        while IFS= read -r imdsc_l; do
            imdsc_n=${imdsc_l%%=*}
            imdsc_v=${imdsc_l#*=}
            case $(printf '%s' "$imdsc_n" | tr 'A-Z' 'a-z') in no_proxy) ;; *) imdsc_v=$(imdsc_mask "$imdsc_v") ;; esac
            imdsc_kv "env.$imdsc_pid.$imdsc_n" "$imdsc_v" | imdsc_out
        done <"$W/penv"
    done <"$W/pids"
    [ "$imdsc_count" -gt 40 ] && imdsc_kv more "$((imdsc_count - 40)) more processes with a proxy not shown" | imdsc_out
    rm -f "$W/penv"
}

# Reduces an iptables-save dump to the rules that can touch IMDS traffic; tables, chains, policies and COMMIT stay.
# imdsc_reduce_ipt V6 LEVEL <in >out
#   LEVEL 1 (exact): a rule goes when its addresses exclude every IMDS packet: in OUTPUT (requests leave) a -d that
#     does not contain IMDS; in INPUT (answers arrive) a -s that does not; elsewhere (both ways) both.
#   LEVEL 2 (approximate, when 1 is still too big): any rule with a -d or -s that does not contain IMDS goes.
imdsc_reduce_ipt() {
    if [ -z "$AWK" ]; then
        grep -i '^[*:]\|^COMMIT\|169\.254\.\|fd00:ec2\|owner\|REJECT\|DROP\|-j [A-Za-z0-9_-]*$'
        return
    fi
    "$AWK" -v v6="$1" -v level="$2" '
    function ip2n(s,   a) { split(s, a, "."); return ((a[1] * 256 + a[2]) * 256 + a[3]) * 256 + a[4] }
    function covers(spec,   p, addr, len, span) {
        p = index(spec, "/")
        if (p == 0) { addr = spec; len = (v6 == 1) ? 128 : 32 } else { addr = substr(spec, 1, p - 1); len = substr(spec, p + 1) + 0 }
        if (v6 == 1) {
            addr = tolower(addr)
            if (len == 0) return 1
            if (addr ~ /^fd00:ec2:/ || addr ~ /^fd00:ec2::/) return 1
            if (len <= 16 && addr ~ /^fd00:/) return 1
            if (len <= 8 && addr ~ /^f[cd]/) return 1
            if (len <= 7 && addr ~ /^f/) return 1
            if (addr !~ /^[0-9a-f:]+$/) return 1
            return 0
        }
        if (addr !~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) return 1
        if (len <= 0) return 1
        span = 2 ^ (32 - len)
        return int(ip2n(addr) / span) == int(ip2n(target) / span)
    }
    # 1: the rule has this option and none of its values contains IMDS (a negated match never excludes).
    function excludes(opt1, opt2, opt3,   i, j, m, specs, any) {
        for (i = 1; i < n; i++) {
            if (f[i] == opt1 || f[i] == opt2 || f[i] == opt3) {
                if (i > 1 && f[i - 1] == "!") return 0
                m = split(f[i + 1], specs, ",")
                any = 0
                for (j = 1; j <= m; j++) if (covers(specs[j])) any = 1
                return any ? 0 : 1
            }
        }
        return 0
    }
    # Left-out rules are counted per run: "# imds-collector: skip CHAIN N" keeps the positions of the rules that stay.
    function flush() { if (pend > 0) printf "# imds-collector: skip %s %d\n", pchain, pend; pend = 0 }
    BEGIN { target = "169.254.169.254"; pend = 0 }
    /^(\[[0-9]+:[0-9]+\] )?-A / {
        n = split($0, f, " ")
        chain = (f[1] == "-A") ? f[2] : f[3]
        nd = excludes("-d", "--destination", "--dst")
        ns = excludes("-s", "--source", "--src")
        if (level >= 2) gone = (nd || ns)
        else if (chain == "OUTPUT") gone = nd
        else if (chain == "INPUT") gone = ns
        else gone = (nd && ns)
        if (gone) {
            if (pend > 0 && pchain != chain) flush()
            pchain = chain; pend++
            next
        }
        flush()
        print
        next
    }
    { flush(); print }
    END { flush() }'
}

# Tags each element of `nft -j list ruleset` and prints one per line: "KIND FAMILY TABLE<TAB>json". imdsc_split_nft <in >out
# Top-level elements are the objects whose first key is followed by {"family" (nested objects never are); one gsub
# puts each on its own line (linear: a ruleset of 4,500 rules is 1.6 MB of JSON on one line).
imdsc_split_nft() {
    "$AWK" 'BEGIN { ORS = "" } { print } END { print "\n" }' |
    "$AWK" '{ gsub(/\}[ \t]*,[ \t]*\{"(table|chain|rule|set|map|flowtable|counter|quota|limit|secmark|synproxy|ct helper|ct timeout|ct expectation|element)"[ \t]*:[ \t]*\{"family"/, "}\n&"); print }' |
    "$AWK" '
    NR == 1 { sub(/^[ \t]*\{[ \t]*"nftables"[ \t]*:[ \t]*\[[ \t]*/, "") }
    {
        e = $0
        sub(/^\}[ \t]*,[ \t]*/, "", e)
        sub(/[ \t]*$/, "", e)
        if (e ~ /\][ \t]*\}$/ && e !~ /^\{"[a-z ]*"[ \t]*:[ \t]*\{"family"/ && e !~ /^\{"metainfo"/) next
        if (length(e) == 0) next
        kind = e; sub(/^\{"/, "", kind); sub(/".*/, "", kind)
        fam = "-"; if (match(e, /"family"[ \t]*:[ \t]*"[a-z0-9]*"/)) { fam = substr(e, RSTART, RLENGTH); sub(/.*:[ \t]*"/, "", fam); sub(/"$/, "", fam) }
        tab = "-"
        if (kind == "table") { if (match(e, /"name"[ \t]*:[ \t]*"[^"]*"/)) tab = substr(e, RSTART, RLENGTH) }
        else if (match(e, /"table"[ \t]*:[ \t]*"[^"]*"/)) tab = substr(e, RSTART, RLENGTH)
        if (tab != "-") { sub(/^[^:]*:[ \t]*"/, "", tab); sub(/"$/, "", tab) }
        printf "%s %s %s\t%s\n", kind, fam, tab, e
    }' | "$AWK" '
    # The last element still carries the closing "]}" of the document: take it off.
    { lines[NR] = $0 }
    END { if (NR > 0) sub(/\][ \t]*\}[ \t]*$/, "", lines[NR]); for (i = 1; i <= NR; i++) print lines[i] }'
}

imdsc_size() {
    wc -c <"$1" 2>/dev/null | tr -d ' '
}

# Prints section file $1 with its payload $2 (if any) when it fits, else a reduced or skipped form.
imdsc_emit() {
    imdsc_head=$1 imdsc_body=$2 imdsc_kind=$3
    [ -f "$imdsc_head" ] || return 0
    imdsc_hs=$(imdsc_size "$imdsc_head")
    imdsc_bs=0
    if [ -n "$imdsc_body" ] && [ -f "$imdsc_body" ]; then
        imdsc_payload <"$imdsc_body" >"$imdsc_body.p"
        imdsc_bs=$(imdsc_size "$imdsc_body.p")
    fi
    imdsc_name=$(head -n 1 "$imdsc_head")
    imdsc_endline="@end"
    imdsc_room=$((LEFT - 200))
    if [ $((imdsc_hs + imdsc_bs + 16)) -le "$imdsc_room" ]; then
        cat "$imdsc_head"
        [ "$imdsc_bs" -gt 0 ] && cat "$imdsc_body.p"
        printf '%s\n' "$imdsc_endline"
        LEFT=$((LEFT - imdsc_hs - imdsc_bs - 5))
        return 0
    fi
    if [ "$imdsc_bs" -gt 0 ] && [ -n "$imdsc_kind" ] && [ "$imdsc_kind" != none ]; then
        # Reduce the payload to what can touch IMDS traffic.
        for imdsc_level in 1 2; do
            case $imdsc_kind in
                ipt4) imdsc_reduce_ipt 0 $imdsc_level <"$imdsc_body" >"$imdsc_body.r" ;;
                ipt6) imdsc_reduce_ipt 1 $imdsc_level <"$imdsc_body" >"$imdsc_body.r" ;;
                nft) imdsc_reduce_nft $imdsc_level <"$imdsc_body" >"$imdsc_body.r" ;;
                *) cp "$imdsc_body" "$imdsc_body.r" ;;
            esac
            imdsc_payload <"$imdsc_body.r" >"$imdsc_body.p"
            imdsc_bs=$(imdsc_size "$imdsc_body.p")
            if [ $((imdsc_hs + imdsc_bs + 60)) -le "$imdsc_room" ]; then
                cat "$imdsc_head"
                [ "$imdsc_kind" = lines ] || printf 'reduced=%s\n' "$imdsc_level"
                cat "$imdsc_body.p"
                printf '%s\n' "$imdsc_endline"
                LEFT=$((LEFT - imdsc_hs - imdsc_bs - 20))
                return 0
            fi
            [ "$imdsc_kind" = lines ] && break
        done
        # Still too big: cut at a line boundary; the parser closes the dump and notes it.
        imdsc_keep=$((imdsc_room - imdsc_hs - 80))
        if [ "$imdsc_keep" -gt 200 ]; then
            cat "$imdsc_head"
            printf 'truncated=%s\n' "$imdsc_bs"
            head -c "$imdsc_keep" "$imdsc_body.p" | sed '$d'
            printf '%s\n' "$imdsc_endline"
            LEFT=$((LEFT - imdsc_hs - imdsc_keep - 40))
            return 0
        fi
    fi
    if [ $((imdsc_hs + 40)) -le "$imdsc_room" ] || [ "$imdsc_bs" -gt 0 ]; then
        if [ $((${#imdsc_name} + 40)) -le "$LEFT" ]; then
            printf '%s\n' "$imdsc_name"
            printf 'omitted=%s\n' "$((imdsc_hs + imdsc_bs))"
            printf '%s\n' "$imdsc_endline"
            LEFT=$((LEFT - ${#imdsc_name} - 30))
        fi
    fi
    return 0
}

# Drops the rules of tables that iptables-save already showed (the parser reads those from iptables-save), then
# rules that do not name IMDS, a user, a reject/drop or a jump.
imdsc_reduce_nft() {
    if [ -z "$AWK" ]; then
        cat
        return
    fi
    imdsc_split_nft >"$W/nftsplit"
    : >"$W/ipttables"
    for imdsc_x in 31 32 33 34; do
        [ -f "$W/d$imdsc_x" ] || continue
        case $imdsc_x in 31 | 33) imdsc_fam=ip ;; *) imdsc_fam=ip6 ;; esac
        sed -n "s/^\*\([a-z]*\).*/$imdsc_fam \1/p" "$W/d$imdsc_x" >>"$W/ipttables"
    done
    "$AWK" -v tables="$W/ipttables" -v level="$1" '
    BEGIN { while ((getline l < tables) > 0) shown[l] = 1 }
    {
        tab = $0; sub(/\t.*/, "", tab); split(tab, k, " ")
        json = $0; sub(/^[^\t]*\t/, "", json)
        if (k[1] == "rule" && ((k[2] " " k[3]) in shown)) next
        if (level >= 2 && k[1] == "rule" && json !~ /169\.254\.|fd00:ec2|"skuid"|"skgid"|"reject"|"drop"|"jump"|"goto"|"dnat"|"redirect"|"policy"/) next
        print json
    }' <"$W/nftsplit" | {
        printf '{"nftables": ['
        imdsc_first=1
        while IFS= read -r imdsc_l; do
            [ "$imdsc_first" = 1 ] || printf ', '
            imdsc_first=0
            printf '%s' "$imdsc_l"
        done
        printf ']}\n'
    }
}

imdsc_main() {
    umask 077
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
    LC_ALL=C
    export PATH LC_ALL
    T=$IMDSC_TIMEOUT
    W=$(mktemp -d 2>/dev/null) || W=''
    if [ -z "$W" ] || [ ! -d "$W" ]; then
        W="/tmp/imdsc.$$"
        mkdir -m 700 "$W" 2>/dev/null || { printf 'IMDSCOLLECT/1\n@fatal no temporary folder could be made\n'; return 0; }
    fi
    trap 'rm -rf "$W"' EXIT
    trap 'rm -rf "$W"; exit 130' INT TERM HUP
    CURL='' WGET='' WGET_METHOD=0 WGET_BB=0 BBTIMEOUT='' BBT='' ETHTOOL='' AWK='' TOK='' KEEPBODY=0 P_CONNECTED=0 P_PUTOK=0 P_V1OK=0
    # IMDSC_NO_CURL=1 (tests) takes the wget path where curl exists.
    [ "${IMDSC_NO_CURL-}" = 1 ] || { imdsc_have curl && CURL=$imdsc_path; }
    if [ -z "$CURL" ] && imdsc_have wget; then
        WGET=$imdsc_path
        "$WGET" --help 2>&1 | grep -q -- '--method' && WGET_METHOD=1
        "$WGET" --help 2>&1 | grep -q 'BusyBox' && WGET_BB=1
        # Whole seconds, at least 1, for timeout(1).
        imdsc_ti=${T%%.*}
        case $T in *.*) imdsc_ti=$(( ${imdsc_ti:-0} + 1 )) ;; esac
        [ "${imdsc_ti:-0}" -ge 1 ] || imdsc_ti=1
        if imdsc_have timeout; then BBTIMEOUT="$imdsc_path $imdsc_ti"; BBT=''; else BBTIMEOUT=''; BBT="-T $imdsc_ti"; fi
    fi
    imdsc_have ethtool && ETHTOOL=$imdsc_path
    imdsc_have awk && AWK=$imdsc_path
    UID_=$(id -u 2>/dev/null)
    [ -n "$UID_" ] || UID_=$(sed -n 's/^Uid:[ \t]*[0-9]*[ \t]*\([0-9]*\).*/\1/p' /proc/self/status 2>/dev/null)
    imdsc_section 01 meta
    {
        imdsc_kv uid "$UID_"
        imdsc_kv user "$(id -un 2>/dev/null)"
        imdsc_kv home "${HOME-}"
        imdsc_kv client "${CURL:-${WGET:-none}}"
        [ -n "$CURL" ] && imdsc_kv curlversion "$("$CURL" --version 2>/dev/null | head -n 1 | cut -d' ' -f1-2)"
        [ -n "$WGET" ] && imdsc_kv wgetmethod "$WGET_METHOD"
        [ -n "$WGET" ] && imdsc_kv wgetbusybox "$WGET_BB"
        imdsc_kv ethtool "${ETHTOOL:-none}"
        imdsc_kv awk "${AWK:-none}"
        imdsc_kv timeout "$T"
        imdsc_kv ipv6 "$IMDSC_IPV6"
        imdsc_kv start "$(imdsc_now)"
    } | imdsc_out
    imdsc_env_section
    imdsc_platform
    imdsc_resolve_endpoint
    imdsc_section 14 endpoint
    {
        imdsc_kv url "$EP"
        imdsc_kv source "$EPSRC"
        [ -n "$EPERR" ] && imdsc_kv error "$EPERR"
    } | imdsc_out
    imdsc_ena 15 ena-before
    if [ -n "$EP" ]; then
        imdsc_probe "$EP" 20 probe
        imdsc_identity
        TOK=''
        case $EP in
            *://\[*) ;;
            *) [ "$IMDSC_IPV6" = 1 ] && imdsc_probe 'http://[fd00:ec2::254]/' 24 probe6 ;;
        esac
    fi
    TOK=''
    imdsc_ena 26 ena-after
    imdsc_firewall
    imdsc_proxy_files
    imdsc_processes
    LEFT=$((IMDSC_BUDGET - 120))
    printf 'IMDSCOLLECT/1 budget=%s\n' "$IMDSC_BUDGET"
    LEFT=$((LEFT - 40))
    # The probe first: with the smallest budget it is what must arrive.
    for imdsc_s in 01 14 20 22 10 12 24 15 26 30 31 32 33 34 36 37 35 39 40 $(cd "$W" && ls s5* 2>/dev/null | sed 's/^s//' | sort -n) 60 38 $(cd "$W" && ls s7* 2>/dev/null | sed 's/^s//' | sort -n); do
        imdsc_kind=none
        case $imdsc_s in 31 | 33) imdsc_kind=ipt4 ;; 32 | 34) imdsc_kind=ipt6 ;; 35) imdsc_kind=nft ;; 5* | 7*) imdsc_kind=lines ;; esac
        imdsc_emit "$W/s$imdsc_s" "$W/d$imdsc_s" "$imdsc_kind"
    done
    printf 'IMDSCOLLECT/1 end\n'
}

imdsc_main </dev/null
