namespace RdmaDiag.Diagnostics.Check;

/// <summary>
/// Why a check ended as it did: a stable kebab-case id that scripts match on, the process exit code that
/// goes with it (0 for <c>ok</c>, a distinct code of 10 or more for each failure), a title, and the
/// general fix. docs/causes.md documents the same table; a test keeps the two in step.
/// </summary>
public sealed record CheckCause(string Id, int ExitCode, string Title, string Fix)
{
    public bool IsOk => ExitCode == 0;

    public override string ToString() => Id;
}

/// <summary>Every cause <c>rdmadiag check</c> can name. Ids and exit codes never change meaning once released.</summary>
public static class CheckCauses
{
    public static readonly CheckCause Ok = new("ok", 0,
        "the iWARP connection works",
        "Nothing to fix.");

    public static readonly CheckCause NoRoute = new("no-route", 10,
        "this host has no usable route to the server",
        "Add a route to the server's network (ip route add NET via GATEWAY), bring the interface up, or correct the address.");

    public static readonly CheckCause TcpRefused = new("tcp-refused", 11,
        "the server refused the TCP connection with a reset",
        "Start the iWARP listener on the server (rdmadiag serve --soft, or the application) on this port, or remove the firewall rule that rejects it with tcp-reset.");

    public static readonly CheckCause TcpFiltered = new("tcp-filtered", 12,
        "the connection request (SYN) got no answer: a firewall drops it",
        "Allow TCP to the port in the firewall named in the evidence (nft list ruleset on the server, the path, and this host).");

    public static readonly CheckCause IcmpUnreachable = new("icmp-unreachable", 13,
        "an ICMP destination-unreachable answered the connection request",
        "Act on the ICMP sender named in the evidence: open the port in its firewall (admin-prohibited), start the listener (port unreachable), or fix the route (host/network unreachable).");

    public static readonly CheckCause NotIwarp = new("not-iwarp", 14,
        "TCP works but the server does not speak MPA on this port",
        "Point check at the port where the iWARP listener runs, or start one there (rdmadiag serve --soft, an rdma_cm listener).");

    public static readonly CheckCause MpaRejected = new("mpa-rejected", 15,
        "the server's iWARP stack rejected the connection (MPA Reply with R=1)",
        "Read the reject's private data with the server's application in mind and change what it refuses (private data, connection limits, parameters).");

    public static readonly CheckCause MpaRevision = new("mpa-revision", 16,
        "the two sides cannot agree on an MPA revision",
        "Configure both ends for the same MPA revision (check --mpa-rev 1; siw: mpa_version; cxgb4: mpa_rev).");

    public static readonly CheckCause MpaMarkers = new("mpa-markers", 17,
        "one side demands MPA markers that the other cannot insert",
        "Turn markers off on the side that asks for them (check without --markers; cxgb4 markers_enabled=0); Linux siw has no markers.");

    public static readonly CheckCause MpaCrc = new("mpa-crc", 18,
        "the two sides' CRC policies conflict",
        "Make the CRC policies compatible: let the side that forbids CRCs accept them (siw: mpa_crc_strict=0), or stop requiring them (--crc preferred or off).");

    public static readonly CheckCause MpaRtr = new("mpa-rtr", 19,
        "peer-to-peer mode without a ready-to-receive (RTR) type both sides support",
        "Use an RTR type the responder accepts (siw takes write or read; cxgb4 p2p_type), or client/server mode (--p2p none).");

    public static readonly CheckCause MpaIrdOrd = new("mpa-ird-ord", 20,
        "RDMA Read credits (IRD/ORD) do not fit: reads cannot run",
        "Give the responder an IRD of at least the initiator's ORD (rdma_conn_param responder_resources; serve --ird), or lower the initiator's ORD.");

    public static readonly CheckCause MpaInvalid = new("mpa-invalid", 21,
        "the server's MPA Reply is malformed",
        "Check the MPA configuration and version of the server's iWARP stack; a Reply must be one well-formed start frame and nothing behind it.");

    public static readonly CheckCause Terminate = new("terminate", 22,
        "an RDMAP Terminate ended the connection",
        "Act on the layer, type and code named in the evidence (a protection error: STag, bounds or access; an operation error: opcode, IRD; a DDP error: queue, buffer, length).");

    public static readonly CheckCause PmtuBlackhole = new("pmtu-blackhole", 23,
        "small messages get through but full-size TCP segments never arrive (PMTU black hole)",
        "Let ICMP 'fragmentation needed' (type 3 code 4; ICMPv6 packet too big) through every firewall on the path, or lower the MTU here (ip link set DEV mtu N) or clamp the MSS on the router to the path MTU.");

    public static readonly CheckCause Stall = new("stall", 24,
        "traffic stopped in the middle of the connection",
        "Look at what sits between the hosts (stateful firewalls, NAT, load balancers with idle or byte limits) and at the server's health; the evidence says whether a new connection still works.");

    public static readonly CheckCause Reset = new("reset", 25,
        "the connection was reset (RST) in the middle of the transfer",
        "Find who sent the reset (the evidence compares its TTL with the server's packets): a firewall rule with reject tcp-reset, a middlebox timeout, or the server's application aborting.");

    public static readonly CheckCause PeerClosed = new("peer-closed", 26,
        "the server closed the connection in the middle of the transfer",
        "Read the server's log for why it closed (rdmadiag serve logs every connection's end); its application stopped or hit an error.");

    public static readonly CheckCause Corrupt = new("corrupt", 27,
        "data arrived altered (CRC32c mismatch or verified data differ)",
        "Something on the path changes payload: compare captures taken on both hosts, check NIC offloads (ethtool -K DEV rx off tx off to test), middleboxes and memory.");

    public static readonly CheckCause ProbeUnsupported = new("probe-unsupported", 28,
        "the iWARP connection works but the server does not answer rdmadiag's probe protocol",
        "Run rdmadiag serve --soft on the server to have Send, RDMA Write and RDMA Read verified; connection setup itself works.");

    /// <summary>Every cause, in exit-code order.</summary>
    public static IReadOnlyList<CheckCause> All { get; } =
    [
        Ok, NoRoute, TcpRefused, TcpFiltered, IcmpUnreachable, NotIwarp, MpaRejected, MpaRevision, MpaMarkers, MpaCrc, MpaRtr,
        MpaIrdOrd, MpaInvalid, Terminate, PmtuBlackhole, Stall, Reset, PeerClosed, Corrupt, ProbeUnsupported,
    ];

    public static CheckCause? Find(string id) => All.FirstOrDefault(c => c.Id == id);
}
