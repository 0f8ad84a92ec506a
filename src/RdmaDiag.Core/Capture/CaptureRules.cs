using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>
/// The findings the capture reader, packet parser and TCP tracker can make. Ids are stable: scripts and
/// tests match on them.
/// </summary>
public static class CaptureRules
{
    public static readonly FindingRule TruncatedPacket = new("capture-truncated-packet", FindingSeverity.Warning,
        "The capture file ends in the middle of a packet record: the capture was cut (disk full, killed writer, partial copy). " +
        "Decode what is there; take a new capture that is stopped cleanly if the end matters.");

    public static readonly FindingRule CorruptRecord = new("capture-corrupt-record", FindingSeverity.Error,
        "A record header in the capture file is impossible (bad length or interface); reading stopped there. " +
        "The file is damaged after this point: check how it was copied, or take the capture again.");

    public static readonly FindingRule SnaplenCut = new("capture-snaplen", FindingSeverity.Note,
        "Packets were cut by the capture's snapshot length, so their payload bytes are missing and the streams have gaps. " +
        "Capture again with a larger snaplen (rdmadiag capture --snaplen 262144, tcpdump -s 0).");

    public static readonly FindingRule IpFragment = new("ip-fragment", FindingSeverity.Note,
        "IP fragments were seen. RdmaDiag does not reassemble IP fragments, so their TCP payload shows as a gap. " +
        "iWARP endpoints should size FPDUs to the path MSS so fragmentation never happens; check the MTU on the path.");

    public static readonly FindingRule SynUnanswered = new("tcp-syn-unanswered", FindingSeverity.Error,
        "The connection request got no answer: a firewall is dropping it (nftables/iptables DROP, a security group), " +
        "the host is down, or the route is wrong. Check the firewall on the server and on the path for the port, and that the server address is right.");

    public static readonly FindingRule SynReset = new("tcp-syn-rst", FindingSeverity.Error,
        "The server answered the connection request with a reset: nothing listens on that port, or a firewall rejects it " +
        "with tcp-reset. Start the server (rdmadiag serve) or check the port number and the firewall rules on the server.");

    public static readonly FindingRule RstMidStream = new("tcp-rst-mid-stream", FindingSeverity.Warning,
        "The connection was reset after it was established. For iWARP this usually means one side's RDMA stack aborted " +
        "the connection (a Terminate or an MPA error first?) or a middlebox timed it out; look at the frames just before it.");

    public static readonly FindingRule Fin = new("tcp-fin", FindingSeverity.Note,
        "One side closed its sending direction. If this was not the end of the job, look at the application on that side; " +
        "an iWARP close in the middle of an FPDU is reported by the MPA decoder.");

    public static readonly FindingRule RetransmissionBurst = new("tcp-retransmission-burst", FindingSeverity.Warning,
        "Many segments were sent again within a short time: packets are being lost on the path (congestion, a bad link, " +
        "an MTU black hole, a full receive queue). Check interface error and drop counters (ip -s link, ethtool -S) on both hosts and the switch.");

    public static readonly FindingRule ZeroWindow = new("tcp-zero-window", FindingSeverity.Warning,
        "The receiver advertised a zero window: it is not reading as fast as data arrives. For iWARP, the receiving " +
        "endpoint is not consuming FPDUs (slow application, no posted receives); check its CPU and the application.");

    public static readonly FindingRule SegmentExceedsMss = new("tcp-segment-exceeds-mss", FindingSeverity.Warning,
        "A segment carried more payload than the receiver announced as its MSS in the SYN. If the capture was taken on " +
        "an endpoint this is usually segmentation offload (TSO/GRO: ethtool -K IFACE tso off gro off to see real segments); " +
        "otherwise a middlebox rewrote the MSS or the sender ignores it, and iWARP FPDUs sized to that MSS will be split.");

    public static readonly FindingRule Gap = new("tcp-gap", FindingSeverity.Warning,
        "Bytes of this stream are missing from the capture (the capture dropped packets, started late, or was cut by snaplen). " +
        "Everything decoded after the gap is resynchronised, not guessed. Capture with a narrower filter (--port) or on a less loaded host; rdmadiag capture reports the kernel drop count at the end.");

    public static readonly FindingRule OverlapMismatch = new("tcp-overlap-mismatch", FindingSeverity.Error,
        "A retransmitted or overlapping segment carried different bytes for the same sequence numbers. The first copy was kept. " +
        "This points at a broken middlebox, a NIC offload bug or memory corruption on the sender.");

    public static readonly FindingRule ReassemblyLimit = new("tcp-reassembly-limit", FindingSeverity.Warning,
        "More out-of-order data was waiting for a missing segment than the reassembly limit allows; the missing range was " +
        "declared a gap. The capture is missing packets; take it again with a larger capture buffer.");

    public static readonly FindingRule IcmpUnreachable = new("icmp-unreachable", FindingSeverity.Error,
        "A router or the destination reported the destination unreachable for this connection. Check the route (ip route get ADDR), " +
        "that the host is up, and for a port-unreachable that the server listens.");

    public static readonly FindingRule IcmpAdminProhibited = new("icmp-admin-prohibited", FindingSeverity.Error,
        "A firewall rejected this connection with an ICMP administratively-prohibited message (nftables/iptables REJECT). " +
        "Open the port in the firewall of the host that sent the ICMP message.");

    public static readonly FindingRule IcmpFragNeeded = new("icmp-frag-needed", FindingSeverity.Warning,
        "A router could not forward a packet of this connection because it is larger than the next link's MTU. " +
        "Lower the MTU (or MSS clamp) on the path or make sure ICMP 'fragmentation needed' reaches the sender; iWARP FPDUs must fit the path MTU.");
}
