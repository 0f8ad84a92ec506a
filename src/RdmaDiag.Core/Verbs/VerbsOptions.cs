using System.Net;
using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Native;

namespace RdmaDiag.Verbs;

/// <summary>How a verbs (rdma_cm) connection is set up: timeouts, IRD/ORD, private data, queue sizes.</summary>
public sealed record VerbsOptions
{
    public static VerbsOptions Default { get; } = new();

    /// <summary>rping's settings: IRD and ORD 1 (rdma_conn_param responder_resources/initiator_depth), no private data.</summary>
    public static VerbsOptions Rping { get; } = new() { ResponderResources = 1, InitiatorDepth = 1 };

    /// <summary>rdma_resolve_addr and rdma_resolve_route, each (rping uses 2 s).</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// rdma_connect until ESTABLISHED. siw makes its TCP connection synchronously inside rdma_connect,
    /// so an unanswered SYN holds the call for the kernel's SYN retries; this bounds the wait.
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an accepting server waits for ESTABLISHED after rdma_accept.</summary>
    public TimeSpan AcceptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Inbound RDMA Reads served at once (IRD, rdma_conn_param.responder_resources); capped by the device.</summary>
    public byte ResponderResources { get; init; } = 16;

    /// <summary>Outbound RDMA Reads at once (ORD, rdma_conn_param.initiator_depth); capped by the device.</summary>
    public byte InitiatorDepth { get; init; } = 16;

    /// <summary>MPA Request private data (at most 255 octets through rdma_cm; siw accepts up to 256 minus the MPA v2 block).</summary>
    public byte[] PrivateData { get; init; } = [];

    public uint MaxSendWorkRequests { get; init; } = 64;

    public uint MaxReceiveWorkRequests { get; init; } = 64;

    /// <summary>The local address to connect from (rping -I); null lets rdma_cm pick by route.</summary>
    public IPEndPoint? Source { get; init; }

    /// <summary>How "no RDMA here" is explained; by default the live `rdmadiag devices` diagnosis.</summary>
    public Func<IReadOnlyList<Problem>> Diagnose { get; init; } = DiagnoseLive;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ResolveTimeout, TimeSpan.Zero, nameof(ResolveTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(AcceptTimeout, TimeSpan.Zero, nameof(AcceptTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSendWorkRequests, 1u, nameof(MaxSendWorkRequests));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReceiveWorkRequests, 1u, nameof(MaxReceiveWorkRequests));
        if (PrivateData.Length > ConnectionParameters.MaxPrivateData)
        {
            throw new UserInputException($"private data of {PrivateData.Length} octets: rdma_cm carries at most {ConnectionParameters.MaxPrivateData}");
        }
    }

    private static IReadOnlyList<Problem> DiagnoseLive() => DeviceReportBuilder.Build(HostSource.Live, RdmaUserspace.Instance).Problems;
}

/// <summary>What a verbs connection runs with once established.</summary>
/// <param name="ResponderResources">IRD in force, as rdma_cm reported it in ESTABLISHED (or as accepted).</param>
/// <param name="InitiatorDepth">ORD in force, likewise.</param>
public sealed record VerbsConnectionInfo(
    string Device,
    TransportType Transport,
    uint QpNum,
    byte ResponderResources,
    byte InitiatorDepth,
    IPEndPoint? LocalEndPoint,
    IPEndPoint? RemoteEndPoint,
    ReadOnlyMemory<byte> PeerPrivateData)
{
    public override string ToString() =>
        $"{Device} ({(Transport == TransportType.Iwarp ? "iWARP" : Transport.ToString())}) QP {QpNum}, IRD {ResponderResources} ORD {InitiatorDepth}"
        + (PeerPrivateData.IsEmpty ? "" : $", peer private data {PeerPrivateData.Length} octets");
}
