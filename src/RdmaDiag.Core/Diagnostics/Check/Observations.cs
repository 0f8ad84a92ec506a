using System.Net;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Check.Route;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>What the capture saw of one TCP connection from this host to the server (timestamps in ns since the epoch).</summary>
public sealed record FlowEvidence
{
    public required int ClientPort { get; init; }
    public int SynCount { get; init; }
    public long? FirstSynNanos { get; init; }
    public long? SynAckNanos { get; init; }
    /// <summary>The first octets the client sent (the MPA Request) and the server sent (the Reply, or whatever it answered).</summary>
    public long? FirstClientDataNanos { get; init; }
    public long? FirstServerDataNanos { get; init; }
    /// <summary>IP TTL / hop limit of the server's packets (the last non-RST one).</summary>
    public int? ServerTtl { get; init; }
    public long? RstNanos { get; init; }
    /// <summary>True when the RST came towards this host (from the server's address), false when this host sent it.</summary>
    public bool RstFromServer { get; init; }
    public int? RstTtl { get; init; }
    public long ClientPayloadOctets { get; init; }
    public long ServerPayloadOctets { get; init; }
    /// <summary>Retransmitted segments this host sent, and the largest of them.</summary>
    public long ClientRetransmissions { get; init; }
    public int LargestClientRetransmission { get; init; }
    /// <summary>MSS announced in each side's SYN, 0 when not seen.</summary>
    public int ClientMss { get; init; }
    public int ServerMss { get; init; }
}

/// <summary>An ICMP error the capture saw about a connection to the server.</summary>
public sealed record IcmpEvidence(IPAddress Sender, bool IsIcmpV6, byte Type, byte Code, IcmpErrorKind Kind, int Mtu, int QuotedClientPort, long TimestampNanos)
{
    /// <summary>"port unreachable", "host unreachable", "communication administratively prohibited"...</summary>
    public string Name => IcmpNames.Describe(IsIcmpV6, Type, Code);

    /// <summary>"ICMP type 3 code 3 (port unreachable)", with the next-hop MTU when it carries one.</summary>
    public string What => $"{(IsIcmpV6 ? "ICMPv6" : "ICMP")} type {Type} code {Code} ({Name}){(Mtu > 0 ? $", next-hop MTU {Mtu}," : "")}";

    public override string ToString() => $"{What} from {Sender}";
}

/// <summary>What the live capture of a check contributed.</summary>
public sealed record CaptureEvidence
{
    public required string Interface { get; init; }
    public long Packets { get; init; }
    /// <summary>TCP connections to the server, in order of their first packet.</summary>
    public IReadOnlyList<FlowEvidence> Flows { get; init; } = [];
    public IReadOnlyList<IcmpEvidence> Icmp { get; init; } = [];
    /// <summary>The TCP, MPA, DDP and RDMAP findings of the decoder about these connections.</summary>
    public IReadOnlyList<Finding> Findings { get; init; } = [];
    /// <summary>Packets the kernel dropped before libpcap read them (the capture then has gaps).</summary>
    public long KernelDrops { get; init; }

    public FlowEvidence? Flow(int? clientPort) => clientPort is { } port ? Flows.FirstOrDefault(f => f.ClientPort == port) : Flows.FirstOrDefault();

    /// <summary>ICMP errors about one connection (by client port), or about any when the port is unknown.</summary>
    public IEnumerable<IcmpEvidence> IcmpAbout(int? clientPort) => Icmp.Where(i => clientPort is not { } port || i.QuotedClientPort == port);
}

/// <summary>How the second connection after a stall went: it tells a PMTU black hole from a flow that stopped.</summary>
public enum PathProbeResult : byte
{
    /// <summary>The new connection did not come up (TCP or MPA).</summary>
    ConnectFailed,
    /// <summary>Connected, but a small message did not come back.</summary>
    SmallFailed,
    /// <summary>Small messages came back; a message filling one full-size TCP segment did not.</summary>
    FullSegmentFailed,
    /// <summary>Small and full-segment messages both came back.</summary>
    Passed,
}

public sealed record PathProbe(PathProbeResult Result, int FullSegmentSize, int Emss, string Detail);

/// <summary>The probe operation that failed: which, at what size, in which stage, and why.</summary>
/// <param name="Error">The connection's error (a stall, a Terminate, a reset...), or null when the data came back wrong.</param>
/// <param name="NotProbeServer">The server's answers are not probe-protocol messages (it is not <c>serve --soft</c>).</param>
public sealed record OperationFailure(string Operation, int Size, string Stage, IwarpException? Error, string Detail, bool NotProbeServer = false);

/// <summary>
/// Everything the stages of a check observed, as data: the input of <see cref="VerdictRules.Decide"/>.
/// Unit tests build these by hand; <see cref="CheckRunner"/> fills them from the network.
/// </summary>
public sealed class CheckObservations
{
    public required IPEndPoint Target { get; init; }

    public IwarpSetupOptions Setup { get; init; } = IwarpSetupOptions.Default;

    /// <summary>This host's addresses (to tell an ICMP error or a reset made here from one made elsewhere).</summary>
    public IReadOnlyList<IPAddress> LocalAddresses { get; set; } = [];

    public RouteInfo? Route { get; set; }
    public RouteFailure? RouteFailure { get; set; }
    public IReadOnlyList<RouteDevice> Devices { get; set; } = [];

    /// <summary>The failure of the TCP connect or the MPA exchange (its <see cref="IwarpException.Phase"/> says which).</summary>
    public IwarpException? SetupError { get; set; }

    /// <summary>After a peer closed or reset at our Rev 2 Request: whether a Rev 1 Request got an MPA Reply (null when not tried).</summary>
    public bool? RevisionOneAnswered { get; set; }
    public string? RevisionRetryDetail { get; set; }

    /// <summary>The ARP state of the next hop when the connect failed with host unreachable ("incomplete": nobody answered).</summary>
    public string? NextHopState { get; set; }

    public NegotiatedParameters? Parameters { get; set; }

    /// <summary>What an rdma_cm connection runs with (device, QP, IRD/ORD) when the kernel did the MPA exchange (check --verbs).</summary>
    public string? KernelConnection { get; set; }

    /// <summary>Local port of the probed connection (to pick its flow in the capture).</summary>
    public int? ClientPort { get; set; }

    public List<ProbeResult> Operations { get; } = [];

    public OperationFailure? Failure { get; set; }

    /// <summary>Sizes not run, with the reason (the server's limits, the ORD, the budget).</summary>
    public List<string> Skipped { get; } = [];

    public PathProbe? PathProbe { get; set; }

    public CaptureEvidence? Capture { get; set; }

    /// <summary>Why there is no capture (no libpcap, no privilege, --no-capture), when there is none.</summary>
    public string? CaptureUnavailable { get; set; }

    public bool IsLocal(IPAddress address) => IPAddress.IsLoopback(address) || LocalAddresses.Contains(address) || (Route?.Source?.Equals(address) ?? false);
}
