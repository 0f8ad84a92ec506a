namespace RdmaDiag.Capture;

/// <summary>
/// One captured packet as a source yields it. <see cref="Data"/> points into the source's reused buffer and
/// is valid only until the next read from that source: copy what must outlive it.
/// </summary>
public readonly ref struct RawPacket
{
    public RawPacket(long frame, long timestampNanos, LinkType linkType, int interfaceId, int originalLength, ReadOnlySpan<byte> data)
    {
        Frame = frame;
        TimestampNanos = timestampNanos;
        LinkType = linkType;
        InterfaceId = interfaceId;
        OriginalLength = originalLength;
        Data = data;
    }

    /// <summary>1-based position in the capture, as Wireshark's <c>frame.number</c>.</summary>
    public long Frame { get; }

    /// <summary>Nanoseconds since the Unix epoch (UTC).</summary>
    public long TimestampNanos { get; }

    public LinkType LinkType { get; }

    /// <summary>Interface index within the capture (pcapng IDB order; 0 for pcap and live).</summary>
    public int InterfaceId { get; }

    /// <summary>Length of the packet on the wire; larger than <see cref="CapturedLength"/> when snaplen cut it.</summary>
    public int OriginalLength { get; }

    public int CapturedLength => Data.Length;

    public ReadOnlySpan<byte> Data { get; }
}

/// <summary>What a read from an <see cref="IPacketSource"/> produced.</summary>
public enum PacketReadResult
{
    /// <summary>A packet was read.</summary>
    Packet,
    /// <summary>Live sources only: nothing arrived within the read timeout. Not the end: read again.</summary>
    Timeout,
    /// <summary>No more packets: end of file, or a live capture was stopped.</summary>
    End,
}

/// <summary>
/// A stream of packets, read one at a time with no per-packet allocation. Files (pcap, pcapng) and live
/// libpcap captures implement it. A source never throws on bad bytes in a packet record: it reports a
/// finding and ends.
/// </summary>
public interface IPacketSource : IDisposable
{
    PacketReadResult Read(out RawPacket packet);
}
