using System.Buffers.Binary;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>
/// RDMA Read Request header, 28 octets after the untagged DDP header (RFC 5040 §4.4).
/// <code>
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                   Data Sink STag (SinkSTag)                   |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |             Data Sink Tagged Offset (SinkTO, 64 bits)         |
///  +                                                               +
///  |                                                               |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |               RDMA Read Message Size (RDMARDSZ)               |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                  Data Source STag (SrcSTag)                   |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |            Data Source Tagged Offset (SrcTO, 64 bits)         |
///  +                                                               +
///  |                                                               |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly record struct ReadRequestHeader(uint SinkSTag, ulong SinkTO, uint ReadSize, uint SourceSTag, ulong SourceTO)
{
    public const int Length = 28;

    /// <summary>False only when fewer than 28 octets are given.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ReadRequestHeader header)
    {
        if (source.Length < Length)
        {
            header = default;
            return false;
        }
        header = new ReadRequestHeader(
            BinaryPrimitives.ReadUInt32BigEndian(source),
            BinaryPrimitives.ReadUInt64BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[12..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[20..]));
        return true;
    }

    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, SinkSTag);
        BinaryPrimitives.WriteUInt64BigEndian(destination[4..], SinkTO);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], ReadSize);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], SourceSTag);
        BinaryPrimitives.WriteUInt64BigEndian(destination[20..], SourceTO);
        return Length;
    }
}
