# shellcheck shell=bash
# Host-side helpers for a scenario's check(), sourced by run-guest.sh in the scenario's --out directory
# after the guest part passed. Every capture is read with tshark exactly as a person would:
#   tshark -r F -O iwarp_mpa,iwarp_ddp_rdmap --disable-protocol rpcordma
# (rpcordma would claim perftest's Sends otherwise). The decode is kept next to the capture as
# F.decoded.txt, and the assertions read that text.
#
#   fail MSG                          print "FAIL: MSG" and end the check (exit 1)
#   decode PCAP                       write PCAP.decoded.txt (once) and print its path
#   opcode_count PCAP NAME            how many RDMAP messages with opcode NAME ("Send", "Read Request",
#                                     "Read Response", "Write", "Terminate", ...) the capture holds
#   expect_opcodes PCAP NAME=N ...    exactly N of each (NAME=N+ for at least N)
#   expect_line PCAP REGEX            the decode has a line matching REGEX (grep -E)
#   mpa_crcs PCAP                     every FPDU CRC, one per line: "0x........ Good|Bad|unchecked"
#   tcp_count PCAP FILTER             packets matching a tshark display filter
#   rdmadiag_decode PCAP              `rdmadiag decode --json PCAP` with the build run-guest.sh shared
#                                     (RDMADIAG_BUILD), kept as PCAP.rdmadiag.json; prints its path
#   rdmadiag_frames PCAP JQFILTER     how many of rdmadiag's decoded FPDUs match a jq select() condition

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

decode() {
    local pcap=$1 out=$1.decoded.txt
    [ -f "$pcap" ] || fail "capture $pcap is missing"
    if [ ! -s "$out" ]; then
        tshark -r "$pcap" -O iwarp_mpa,iwarp_ddp_rdmap --disable-protocol rpcordma > "$out" 2> "$out.err" \
            || fail "tshark could not read $pcap: $(head -3 "$out.err")"
        rm -f "$out.err"
    fi
    echo "$out"
}

opcode_count() {
    local text
    text=$(decode "$1") || exit 1
    grep -cE "= OpCode: $2 \(0x[0-9a-f]+\)$" "$text"
}

expect_opcodes() {
    local pcap=$1 spec name want n
    shift
    for spec in "$@"; do
        name=${spec%=*}
        want=${spec##*=}
        n=$(opcode_count "$pcap" "$name")
        case "$want" in
            *+) [ "$n" -ge "${want%+}" ] || fail "$pcap: $n '$name' messages, expected at least ${want%+}" ;;
            *) [ "$n" -eq "$want" ] || fail "$pcap: $n '$name' messages, expected $want" ;;
        esac
        echo "$pcap: $n x $name"
    done
}

expect_line() {
    local text
    text=$(decode "$1") || exit 1
    grep -qE "$2" "$text" || fail "$1: tshark's decode has no line matching '$2'"
    echo "$1: $(grep -m1 -E "$2" "$text" | sed 's/^ *//')"
}

# tshark prints "CRC: 0x..." while CRCs are off and "CRC check: 0x... (Good CRC32)" (or Bad) once
# the MPA handshake negotiated them.
mpa_crcs() {
    local text
    text=$(decode "$1") || exit 1
    sed -n -e 's/^ *CRC: \(0x[0-9a-f]*\)$/\1 unchecked/p' \
        -e 's/^ *CRC check: \(0x[0-9a-f]*\) (\(Good\|Bad\) CRC32)$/\1 \2/p' "$text"
}

tcp_count() {
    tshark -r "$1" -Y "$2" 2>/dev/null | wc -l
}

# One rping iteration is: client Send (its buffer's address), server Read Request, client Read
# Response, server Send, client Send, server Write, server Send. CRC_FLAG is the C bit both MPA
# frames must carry (0 with the default siw build, 1 with the CRC build).
expect_rping_capture() {
    local pcap=$1 iterations=$2 crc_flag=$3 want
    want=False
    [ "$crc_flag" = 0 ] || want=True
    expect_line "$pcap" 'MPA Request Frame|ID Req frame'
    expect_line "$pcap" 'MPA Reply Frame|ID Rep frame'
    [ "$(grep -cE "= CRC flag: $want$" "$(decode "$pcap")")" = 2 ] \
        || fail "$pcap: the MPA Request and Reply should both have CRC flag $want: $(grep -E '= CRC flag' "$(decode "$pcap")" | sed 's/^ *//' | tr '\n' ' ')"
    [ "$(grep -cE '^ *Revision: 2$' "$(decode "$pcap")")" = 2 ] \
        || fail "$pcap: the MPA Request and Reply should both be revision 2 (RFC 6581): $(grep -E '^ *Revision:' "$(decode "$pcap")" | sed 's/^ *//' | tr '\n' ' ')"
    echo "$pcap: MPA revision 2 both ways, CRC flag $want both ways"
    expect_opcodes "$pcap" "Send=$((iterations * 4))" "Read Request=$iterations" \
        "Read Response=$iterations" "Write=$iterations" "Terminate=0"
    if [ "$crc_flag" = 0 ]; then
        # Without CRC negotiated siw sends the CRC field as zero.
        local nonzero
        nonzero=$(mpa_crcs "$pcap" | grep -vc '^0x00000000 unchecked$')
        [ "$nonzero" = 0 ] || fail "$pcap: $nonzero FPDUs carry a CRC although none was negotiated"
        echo "$pcap: $(mpa_crcs "$pcap" | grep -c .) FPDUs, CRC field zero (not negotiated)"
    fi
}

rdmadiag_decode() {
    local pcap=$1 out=$1.rdmadiag.json
    [ -f "$pcap" ] || fail "capture $pcap is missing"
    [ -n "${RDMADIAG_BUILD:-}" ] || fail "no RdmaDiag build to decode $pcap with (run-guest.sh --build DIR)"
    if [ ! -s "$out" ]; then
        # decode's exit status is its verdict (a Terminate is a failed flow), so success is a JSON document.
        dotnet "$RDMADIAG_BUILD/rdmadiag.dll" decode --json "$pcap" > "$out" 2> "$out.err"
        jq -e '.frames' "$out" > /dev/null 2>&1 || fail "rdmadiag decode --json $pcap gave no frames: $(head -3 "$out.err" "$out")"
        rm -f "$out.err"
    fi
    echo "$out"
}

rdmadiag_frames() {
    local json
    json=$(rdmadiag_decode "$1") || exit 1
    jq "[.frames[] | select($2)] | length" "$json"
}
