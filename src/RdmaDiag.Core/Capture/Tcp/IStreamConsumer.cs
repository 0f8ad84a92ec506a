namespace RdmaDiag.Capture;

/// <summary>
/// Which way bytes flow in a <see cref="TcpFlow"/>. The client is the endpoint that sent the SYN; when the
/// capture starts after the handshake, it is the source of the first packet seen (<see cref="TcpFlow.HandshakeSeen"/> is false).
/// </summary>
public enum FlowDirection : byte
{
    ClientToServer = 0,
    ServerToClient = 1,
}

/// <summary>Why bytes of a stream are missing.</summary>
public enum GapReason : byte
{
    /// <summary>The receiver acknowledged bytes the capture never saw (the capture dropped them).</summary>
    NotCaptured,
    /// <summary>The segment was captured, but snaplen cut its payload.</summary>
    Snaplen,
    /// <summary>Out-of-order data outgrew <see cref="TcpTrackerOptions.MaxBufferedBytes"/> while waiting for the missing bytes.</summary>
    ReassemblyLimit,
    /// <summary>The capture ended (or the connection closed) while later bytes were waiting for the missing ones.</summary>
    CaptureEnded,
}

/// <summary>
/// Receives one direction-aware, in-order byte stream per TCP flow: the seam between TCP reassembly and the
/// protocol above it (the MPA/DDP/RDMAP decoder implements this).
/// <list type="bullet">
/// <item>Calls for one direction come in stream order: each <see cref="OnData"/> continues exactly where the
/// previous <see cref="OnData"/> or <see cref="OnGap"/> ended (<paramref name="seq"/> + length).</item>
/// <item>Each <see cref="OnData"/> carries the bytes of one captured frame: a consumer that frames PDUs across
/// calls learns which frame carried each byte range. Retransmitted and overlapping copies are already removed
/// (the first copy wins); <c>data</c> is only valid during the call.</item>
/// <item>Missing bytes are reported as <see cref="OnGap"/> with their exact length and are never filled in. After a
/// gap, the next byte is not necessarily a PDU boundary: the consumer resynchronises.</item>
/// <item><see cref="OnFin"/> comes after the last byte before the FIN; <see cref="OnRst"/> may come at any point;
/// <see cref="OnEnd"/> comes once, when the flow is closed or the capture ends.</item>
/// </list>
/// Example: a consumer that counts bytes per direction and notes where a frame boundary split a 4-octet record.
/// <code>
/// sealed class ByteCounter : IStreamConsumer
/// {
///     public readonly long[] Bytes = new long[2];
///     public void OnData(FlowDirection d, uint seq, ReadOnlySpan&lt;byte&gt; data, long frame, long ts) =&gt; Bytes[(int)d] += data.Length;
///     public void OnGap(FlowDirection d, uint seq, uint length, GapReason why, long frame, long ts) =&gt; Console.WriteLine($"{d}: {length} octets missing at {seq} ({why})");
///     public void OnFin(FlowDirection d, uint seq, long frame, long ts) { }
///     public void OnRst(FlowDirection d, uint seq, long frame, long ts) { }
///     public void OnEnd() { }
/// }
/// var tracker = new TcpTracker(findings, new StreamConsumerFactory(flow =&gt; new ByteCounter()));
/// </code>
/// </summary>
public interface IStreamConsumer
{
    /// <summary>In-order bytes starting at TCP sequence number <paramref name="seq"/>, all carried by <paramref name="frame"/>.</summary>
    void OnData(FlowDirection direction, uint seq, ReadOnlySpan<byte> data, long frame, long timestampNanos);

    /// <summary><paramref name="length"/> octets starting at <paramref name="seq"/> are missing; <paramref name="frame"/> is where that became known.</summary>
    void OnGap(FlowDirection direction, uint seq, uint length, GapReason reason, long frame, long timestampNanos);

    /// <summary>The sender closed this direction; <paramref name="seq"/> is the FIN's sequence number (= one past the last data octet).</summary>
    void OnFin(FlowDirection direction, uint seq, long frame, long timestampNanos);

    /// <summary>The sender of <paramref name="direction"/> reset the connection; no more data follows in either direction.</summary>
    void OnRst(FlowDirection direction, uint seq, long frame, long timestampNanos);

    /// <summary>No more calls will come for this flow.</summary>
    void OnEnd();
}

/// <summary>Creates the consumer for each new flow; returning null ignores the flow's bytes (it is still tracked for TCP findings).</summary>
public interface IStreamConsumerFactory
{
    IStreamConsumer? Create(TcpFlow flow);
}

/// <summary>An <see cref="IStreamConsumerFactory"/> from a delegate.</summary>
public sealed class StreamConsumerFactory(Func<TcpFlow, IStreamConsumer?> create) : IStreamConsumerFactory
{
    public IStreamConsumer? Create(TcpFlow flow) => create(flow);
}
