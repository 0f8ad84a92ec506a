using System.Buffers.Binary;

namespace RdmaDiag.Latency;

/// <summary>
/// The few bytes that open a tcp latency connection; after them the responder echoes every byte.
/// <code>
/// client → responder (16 bytes)              responder → client (16 bytes)
/// +-------------------------------+          +-------------------------------+
/// | magic "RDLATTCP"   (8 bytes)  |          | magic "RDLATTCP"   (8 bytes)  |
/// +-------------------------------+          +-------------------------------+
/// | version         (u32, BE) = 1 |          | status (u32, BE): 0 ok,       |
/// +-------------------------------+          |   1 unsupported version       |
/// | flags (u32, BE)               |          +-------------------------------+
/// |   bit 0: responder busy-polls |          | largest message (u32, BE)     |
/// +-------------------------------+          +-------------------------------+
/// </code>
/// </summary>
public static class TcpPingPongProtocol
{
    public const int HelloLength = 16;
    public const uint Version = 1;
    public const uint FlagBusyPoll = 1;
    public const uint StatusOk = 0;
    public const uint StatusUnsupportedVersion = 1;

    /// <summary>The largest tcp ping-pong message: the top of a perftest -a sweep.</summary>
    public const int MaxMessageSize = 8 << 20;

    private static ReadOnlySpan<byte> Magic => "RDLATTCP"u8;

    public static void WriteHello(Span<byte> destination, uint flags)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Version);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], flags);
    }

    public static bool TryReadHello(ReadOnlySpan<byte> source, out uint version, out uint flags)
    {
        version = flags = 0;
        if (source.Length < HelloLength || !source[..8].SequenceEqual(Magic))
        {
            return false;
        }
        version = BinaryPrimitives.ReadUInt32BigEndian(source[8..]);
        flags = BinaryPrimitives.ReadUInt32BigEndian(source[12..]);
        return true;
    }

    public static void WriteReply(Span<byte> destination, uint status)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], status);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], MaxMessageSize);
    }

    public static bool TryReadReply(ReadOnlySpan<byte> source, out uint status, out uint maxMessage)
    {
        status = maxMessage = 0;
        if (source.Length < HelloLength || !source[..8].SequenceEqual(Magic))
        {
            return false;
        }
        status = BinaryPrimitives.ReadUInt32BigEndian(source[8..]);
        maxMessage = BinaryPrimitives.ReadUInt32BigEndian(source[12..]);
        return true;
    }
}
