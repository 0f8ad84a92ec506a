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

    /// <summary>Client hello: version and flags.</summary>
    public static void WriteHello(Span<byte> destination, uint flags) => Write(destination, Version, flags);

    public static bool TryReadHello(ReadOnlySpan<byte> source, out uint version, out uint flags) => TryRead(source, out version, out flags);

    /// <summary>Responder reply: status and the largest message it echoes.</summary>
    public static void WriteReply(Span<byte> destination, uint status) => Write(destination, status, MaxMessageSize);

    public static bool TryReadReply(ReadOnlySpan<byte> source, out uint status, out uint maxMessage) => TryRead(source, out status, out maxMessage);

    // Both directions share one shape: the magic, then two big-endian u32 fields.
    private static void Write(Span<byte> destination, uint first, uint second)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], first);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], second);
    }

    private static bool TryRead(ReadOnlySpan<byte> source, out uint first, out uint second)
    {
        first = second = 0;
        if (source.Length < HelloLength || !source[..8].SequenceEqual(Magic))
        {
            return false;
        }
        first = BinaryPrimitives.ReadUInt32BigEndian(source[8..]);
        second = BinaryPrimitives.ReadUInt32BigEndian(source[12..]);
        return true;
    }
}
