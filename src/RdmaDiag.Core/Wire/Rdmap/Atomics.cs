using System.Buffers.Binary;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>RFC 7306 "RDMAP Message Atomic Operation Subcodes" (AOpCode).</summary>
public enum AtomicOpcode : byte
{
    FetchAdd = 0,
    CmpSwap = 2,
}

/// <summary>
/// Atomic Request header, 52 octets after the untagged DDP header (RFC 7306 §6.1). All big-endian.
/// <code>
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |               Reserved (28 bits)                      |AOpCode|
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                      Request Identifier                       |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                          Remote STag                          |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                 Remote Tagged Offset (64 bits)                |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                Add or Swap Data (64 bits)                     |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                Add or Swap Mask (64 bits)                     |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                  Compare Data (64 bits)                       |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                  Compare Mask (64 bits)                       |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly record struct AtomicRequest(
    AtomicOpcode Opcode, uint RequestId, uint RemoteSTag, ulong RemoteTO,
    ulong AddOrSwapData, ulong AddOrSwapMask, ulong CompareData, ulong CompareMask)
{
    public const int Length = 52;
    private const uint OpcodeMask = 0xF;

    /// <summary>The 28 reserved bits above AOpCode as received (shifted down); written as zero.</summary>
    public uint Reserved { get; init; }

    /// <summary>FetchAdd: compare fields sent as 0 and all ones, as RFC 7306 asks.</summary>
    public static AtomicRequest FetchAdd(uint requestId, uint remoteSTag, ulong remoteTO, ulong addData, ulong addMask = 0) =>
        new(AtomicOpcode.FetchAdd, requestId, remoteSTag, remoteTO, addData, addMask, 0, ulong.MaxValue);

    public static AtomicRequest CmpSwap(uint requestId, uint remoteSTag, ulong remoteTO, ulong swapData, ulong swapMask, ulong compareData, ulong compareMask) =>
        new(AtomicOpcode.CmpSwap, requestId, remoteSTag, remoteTO, swapData, swapMask, compareData, compareMask);

    public static bool TryRead(ReadOnlySpan<byte> source, out AtomicRequest request)
    {
        if (source.Length < Length)
        {
            request = default;
            return false;
        }
        uint word = BinaryPrimitives.ReadUInt32BigEndian(source);
        request = new AtomicRequest(
            (AtomicOpcode)(word & OpcodeMask),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[12..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[20..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[28..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[36..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[44..]))
        { Reserved = word >> 4 };
        return true;
    }

    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)Opcode & OpcodeMask);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], RequestId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], RemoteSTag);
        BinaryPrimitives.WriteUInt64BigEndian(destination[12..], RemoteTO);
        BinaryPrimitives.WriteUInt64BigEndian(destination[20..], AddOrSwapData);
        BinaryPrimitives.WriteUInt64BigEndian(destination[28..], AddOrSwapMask);
        BinaryPrimitives.WriteUInt64BigEndian(destination[36..], CompareData);
        BinaryPrimitives.WriteUInt64BigEndian(destination[44..], CompareMask);
        return Length;
    }
}

/// <summary>
/// Atomic Response header, 12 octets after the untagged DDP header (RFC 7306 §6.2; the figure's 12, not
/// the prose's "32 bytes", see iwarp-wire.md §9.2 item 7).
/// <code>
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                 Original Request Identifier                   |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |              Original Remote Data Value (64 bits)             |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly record struct AtomicResponse(uint OriginalRequestId, ulong OriginalRemoteDataValue)
{
    public const int Length = 12;

    public static bool TryRead(ReadOnlySpan<byte> source, out AtomicResponse response)
    {
        response = source.Length < Length
            ? default
            : new AtomicResponse(BinaryPrimitives.ReadUInt32BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[4..]));
        return source.Length >= Length;
    }

    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, OriginalRequestId);
        BinaryPrimitives.WriteUInt64BigEndian(destination[4..], OriginalRemoteDataValue);
        return Length;
    }
}
