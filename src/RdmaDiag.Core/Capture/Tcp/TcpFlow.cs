namespace RdmaDiag.Capture;

/// <summary>Where a TCP connection got to.</summary>
public enum TcpFlowState : byte
{
    /// <summary>Client SYN seen, nothing back yet.</summary>
    SynSent,
    /// <summary>SYN-ACK seen.</summary>
    SynReceived,
    /// <summary>Handshake completed, or the capture started mid-connection.</summary>
    Established,
    /// <summary>One side sent FIN.</summary>
    Closing,
    /// <summary>Both sides sent FIN.</summary>
    Closed,
    Reset,
}

/// <summary>One endpoint of a flow and what it sent.</summary>
public sealed class FlowSide
{
    internal FlowSide(NetEndpoint endpoint) => Endpoint = endpoint;

    public NetEndpoint Endpoint { get; }
    public long Packets { get; internal set; }
    /// <summary>TCP payload octets on the wire, retransmissions included.</summary>
    public long PayloadBytes { get; internal set; }
    /// <summary>Octets delivered in order to the consumer (each sequence number once).</summary>
    public long StreamBytes { get; internal set; }
    public long Retransmissions { get; internal set; }
    public long GapBytes { get; internal set; }
    public long Gaps { get; internal set; }
    public bool SynSeen { get; internal set; }
    public uint InitialSequence { get; internal set; }
    /// <summary>MSS announced in this side's SYN, 0 when not seen.</summary>
    public ushort Mss { get; internal set; }
    /// <summary>Window scale announced in this side's SYN, -1 when absent or not seen.</summary>
    public sbyte WindowScale { get; internal set; } = -1;
    public bool SackPermitted { get; internal set; }
    public bool Timestamps { get; internal set; }
    public bool FinSeen { get; internal set; }
    public bool RstSeen { get; internal set; }
    public long FirstSynFrame { get; internal set; }
    public long FirstSynTimestampNanos { get; internal set; }
    public int SynCount { get; internal set; }
    public long LargestSegment { get; internal set; }
}

/// <summary>
/// A TCP connection seen in a capture: a 4-tuple from a SYN (or the first packet) to its close. Ids are
/// 0-based in order of first packet, which matches Wireshark's <c>tcp.stream</c> when ports are not reused.
/// </summary>
public sealed class TcpFlow
{
    internal TcpFlow(int id, NetEndpoint client, NetEndpoint server, bool handshakeSeen, long frame, long timestampNanos)
    {
        Id = id;
        Client = new FlowSide(client);
        Server = new FlowSide(server);
        HandshakeSeen = handshakeSeen;
        FirstFrame = frame;
        FirstTimestampNanos = timestampNanos;
        LastTimestampNanos = timestampNanos;
        State = handshakeSeen ? TcpFlowState.SynSent : TcpFlowState.Established;
    }

    public int Id { get; }
    public FlowSide Client { get; }
    public FlowSide Server { get; }
    /// <summary>True when the client's SYN was captured; false when the capture started mid-connection.</summary>
    public bool HandshakeSeen { get; }
    public TcpFlowState State { get; internal set; }
    public long FirstFrame { get; }
    public long FirstTimestampNanos { get; }
    public long LastFrame { get; internal set; }
    public long LastTimestampNanos { get; internal set; }
    /// <summary>Frame of the SYN-ACK, or 0.</summary>
    public long SynAckFrame { get; internal set; }
    /// <summary>True once the consumer got <see cref="IStreamConsumer.OnEnd"/> and buffers were released.</summary>
    public bool IsFinished { get; internal set; }
    public IStreamConsumer? Consumer { get; internal set; }

    /// <summary>The side that sends in <paramref name="direction"/>.</summary>
    public FlowSide Sender(FlowDirection direction) => direction == FlowDirection.ClientToServer ? Client : Server;

    /// <summary>The side that receives in <paramref name="direction"/>.</summary>
    public FlowSide Receiver(FlowDirection direction) => direction == FlowDirection.ClientToServer ? Server : Client;

    internal readonly Reassembler?[] Streams = new Reassembler?[2];

    /// <summary>The tracker's own per-flow state (bursts, zero-window episodes, MSS excess), made when the tracker first needs it.</summary>
    internal TcpTracker.FlowExtras? Extras;

    /// <summary><c>10.0.0.1:4000 → 10.0.0.2:5000</c>.</summary>
    public string Describe() => $"{Client.Endpoint} → {Server.Endpoint}";

    public string Describe(FlowDirection direction) =>
        direction == FlowDirection.ClientToServer ? $"{Client.Endpoint} → {Server.Endpoint}" : $"{Server.Endpoint} → {Client.Endpoint}";

    public override string ToString() => $"flow {Id} {Describe()} {State}";
}

/// <summary>A flow's 4-tuple with the endpoints in a fixed order, so both directions find the same flow.</summary>
internal readonly record struct FlowKey(NetEndpoint Low, NetEndpoint High)
{
    public static FlowKey Of(NetEndpoint a, NetEndpoint b) => Less(a, b) ? new FlowKey(a, b) : new FlowKey(b, a);

    private static bool Less(NetEndpoint a, NetEndpoint b) =>
        a.Address.Bits < b.Address.Bits || (a.Address.Bits == b.Address.Bits && a.Port < b.Port);
}
