using System.Buffers.Binary;

namespace RdmaDiag.Wire.Mpa;

/// <summary>
/// RFC 6581 enhanced connection-establishment data: the first 4 octets of private data when S=1.
/// <code>
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |A|B|           IRD             |C|D|           ORD             |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// A peer-to-peer, B zero-length Send RTR, C zero-length RDMA Write RTR, D zero-length RDMA Read RTR.
/// </summary>
public readonly struct MpaV2Block
{
    public const int Length = 4;

    /// <summary>IRD/ORD value meaning "no automatic negotiation; the ULP handles it".</summary>
    public const ushort NoNegotiation = 0x3FFF;

    /// <summary>Largest IRD or ORD (14 bits).</summary>
    public const ushort MaxValue = 0x3FFF;

    private const ushort HighFlag = 0x8000;
    private const ushort LowFlag = 0x4000;

    public MpaV2Block(ushort ird, ushort ord, bool peerToPeer = false, bool sendRtr = false, bool writeRtr = false, bool readRtr = false)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ird, MaxValue);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ord, MaxValue);
        Ird = ird;
        Ord = ord;
        PeerToPeer = peerToPeer;
        SendRtr = sendRtr;
        WriteRtr = writeRtr;
        ReadRtr = readRtr;
    }

    /// <summary>A: peer-to-peer connection model (0 = client/server).</summary>
    public bool PeerToPeer { get; }

    /// <summary>B: zero-length Send RTR.</summary>
    public bool SendRtr { get; }

    /// <summary>C: zero-length RDMA Write RTR.</summary>
    public bool WriteRtr { get; }

    /// <summary>D: zero-length RDMA Read RTR.</summary>
    public bool ReadRtr { get; }

    public ushort Ird { get; }

    public ushort Ord { get; }

    /// <summary>Reads the block; false only when fewer than 4 octets are given.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out MpaV2Block block)
    {
        if (source.Length < Length)
        {
            block = default;
            return false;
        }
        ushort first = BinaryPrimitives.ReadUInt16BigEndian(source);
        ushort second = BinaryPrimitives.ReadUInt16BigEndian(source[2..]);
        block = new MpaV2Block(
            (ushort)(first & MaxValue), (ushort)(second & MaxValue),
            peerToPeer: (first & HighFlag) != 0, sendRtr: (first & LowFlag) != 0,
            writeRtr: (second & HighFlag) != 0, readRtr: (second & LowFlag) != 0);
        return true;
    }

    public void Write(Span<byte> destination)
    {
        ushort first = (ushort)(Ird | (PeerToPeer ? HighFlag : 0) | (SendRtr ? LowFlag : 0));
        ushort second = (ushort)(Ord | (WriteRtr ? HighFlag : 0) | (ReadRtr ? LowFlag : 0));
        BinaryPrimitives.WriteUInt16BigEndian(destination, first);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], second);
    }

    public override string ToString() =>
        $"IRD {Ird} ORD {Ord}{(PeerToPeer ? " P2P" : "")}{(SendRtr ? " SendRTR" : "")}{(WriteRtr ? " WriteRTR" : "")}{(ReadRtr ? " ReadRTR" : "")}";
}
