using System.Buffers.Binary;

namespace RdmaDiag.Latency;

/// <summary>The RDMA operation a soft latency connection measures; fixed for the connection's life.</summary>
public enum SoftLatencyOp : byte
{
    Send = 1,
    Write = 2,
    Read = 3,
}

/// <summary>Control message types of the soft latency protocol.</summary>
public enum SoftLatencyOpcode : byte
{
    /// <summary>Client → responder: the next size, its pattern seed and (write) the client's region.</summary>
    Setup = 1,

    /// <summary>Responder → client: ready for the size; (write, read) the responder's region.</summary>
    Ready = 2,

    /// <summary>Responder → client, after the client's end marker: exchanges served and the data check.</summary>
    Done = 3,
}

/// <summary>A responder's verdict, in the MPA Reply and in Ready and Done.</summary>
public enum SoftLatencyStatus : byte
{
    Ok = 0,

    /// <summary>The client's version is not the responder's (the Reply carries the responder's).</summary>
    BadVersion = 1,

    /// <summary>An operation, size or field the responder does not accept.</summary>
    BadRequest = 2,

    /// <summary>Done in write mode: the responder's region did not hold the client's last Write.</summary>
    DataMismatch = 3,

    /// <summary>The responder serves as many connections as it will.</summary>
    Busy = 4,
}

/// <summary>
/// The latency protocol between `rdmadiag latency send|write|read --soft` and the soft latency
/// responder (<see cref="SoftLatencyResponder"/>, hosted by `rdmadiag serve --soft`). The operation is
/// chosen once, in the MPA Request's private data, because it decides how the responder makes progress
/// (a receive thread for write, none for send and read); each message size is then one Setup/Ready
/// exchange, the measured traffic, a zero-length Send that ends the size, and Done.
/// <code>
/// MPA Request private data (8 octets)        MPA Reply private data (12 octets; R=1 when status ≠ 0)
/// +-------------------------------+          +-------------------------------+
/// | magic "RDLT"        (4)       |          | magic "RDLT"        (4)       |
/// +-------+-------+---------------+          +-------+-------+---------------+
/// | ver=1 | op    | flags (u16)   |          | ver   |status | reserved = 0  |
/// +-------+-------+---------------+          +-------+-------+---------------+
///   op: 1 send, 2 write, 3 read              | largest message (u32)         |
///   flags bit 0: busy-poll                   +-------------------------------+
///
/// Control message: one RDMA Send of 48 octets, integers big-endian
///  0 | magic "RDLT"                                                   |
///  4 | ver=1 | opcode | status (u16)                                  |
///  8 | size (u32): message size of this round | reserved (u32) = 0    |
/// 16 | count (u64): Done: exchanges the responder answered            |
/// 24 | seed (u64): the data pattern's seed                            |
/// 32 | TO (u64): the sender's region (Setup: client's write target;   |
/// 40 | STag (u32)             Ready: responder's write target or read  |
/// 44 | reserved (u32) = 0             source)                         |
///
///  client                                              responder
///    | Setup(size, seed[, STag, TO]) ---------------->  | registers a region of size octets
///    | <------------------------ Ready([STag, TO]) ---- | (one receive posted for the client)
///    | send:  Send(size) ----------> / <---------- Send(size), echoed, repeated
///    | write: Write(size) into its region; it polls the last octet, then Writes into
///    |        ours while we poll our last octet; the octet is the exchange's tag
///    | read:  RDMA Read(size) from its region, repeated (it only serves)
///    | Send(0 octets): end of this size ----------------> |
///    | <--------------------------- Done(count, status) - |
/// </code>
/// Data is <see cref="Endpoint.ProbeMessage.FillPattern"/> of the seed (the responder's Writes use
/// <see cref="ResponderSeed"/>); in write mode the last octet of exchange k is <see cref="Tag"/>(k).
/// </summary>
public static class SoftLatencyProtocol
{
    /// <summary>Where a standalone soft latency responder listens (next to the tcp responder's 18515).</summary>
    public const int DefaultPort = 18516;

    public const byte Version = 1;

    /// <summary>The largest message: the largest region a responder registers per size (perftest -a's top).</summary>
    public const int MaxMessageSize = 8 << 20;

    public const int HelloLength = 8;
    public const int ReplyLength = 12;
    public const int ControlLength = 48;

    public const ushort FlagBusyPoll = 1;

    internal static ReadOnlySpan<byte> Magic => "RDLT"u8;

    /// <summary>The tag octet of exchange k (1-based): 1..255, never 0 (a fresh region) and never the previous one's.</summary>
    public static byte Tag(long exchange) => (byte)(exchange % 255 + 1);

    /// <summary>The seed of the data a responder Writes back, so the client can tell its own data from the responder's.</summary>
    public static ulong ResponderSeed(ulong seed) => seed ^ 0xA5A5_5A5A_C3C3_3C3CUL;

    public static byte[] WriteHello(SoftLatencyOp op, bool busyPoll)
    {
        var hello = new byte[HelloLength];
        Magic.CopyTo(hello);
        hello[4] = Version;
        hello[5] = (byte)op;
        BinaryPrimitives.WriteUInt16BigEndian(hello.AsSpan(6), busyPoll ? FlagBusyPoll : (ushort)0);
        return hello;
    }

    /// <summary>False when the private data is not a soft latency hello (another protocol's client).</summary>
    public static bool TryReadHello(ReadOnlySpan<byte> source, out byte version, out SoftLatencyOp op, out ushort flags)
    {
        var ok = TryReadStart(source, HelloLength, out version, out var second);
        op = (SoftLatencyOp)second;
        flags = ok ? BinaryPrimitives.ReadUInt16BigEndian(source[6..]) : (ushort)0;
        return ok;
    }

    public static byte[] WriteReply(SoftLatencyStatus status, int maxMessage)
    {
        var reply = new byte[ReplyLength];
        Magic.CopyTo(reply);
        reply[4] = Version;
        reply[5] = (byte)status;
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(8), (uint)maxMessage);
        return reply;
    }

    public static bool TryReadReply(ReadOnlySpan<byte> source, out byte version, out SoftLatencyStatus status, out int maxMessage)
    {
        var ok = TryReadStart(source, ReplyLength, out version, out var second);
        status = (SoftLatencyStatus)second;
        maxMessage = ok ? (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(source[8..]), int.MaxValue) : 0;
        return ok;
    }

    /// <summary>Both private-data layouts open with the magic, the version and one octet (op or status).</summary>
    private static bool TryReadStart(ReadOnlySpan<byte> source, int length, out byte version, out byte second)
    {
        if (source.Length < length || !source[..4].SequenceEqual(Magic))
        {
            version = second = 0;
            return false;
        }
        version = source[4];
        second = source[5];
        return true;
    }

    public static bool IsKnown(SoftLatencyOp op) => op is SoftLatencyOp.Send or SoftLatencyOp.Write or SoftLatencyOp.Read;
}

/// <summary>One control message (<see cref="SoftLatencyProtocol"/>): Setup, Ready or Done.</summary>
public readonly record struct SoftLatencyControl(
    SoftLatencyOpcode Opcode,
    SoftLatencyStatus Status = SoftLatencyStatus.Ok,
    int Size = 0,
    long Count = 0,
    ulong Seed = 0,
    ulong TaggedOffset = 0,
    uint STag = 0)
{
    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, SoftLatencyProtocol.ControlLength, nameof(destination));
        var d = destination[..SoftLatencyProtocol.ControlLength];
        d.Clear();
        SoftLatencyProtocol.Magic.CopyTo(d);
        d[4] = SoftLatencyProtocol.Version;
        d[5] = (byte)Opcode;
        BinaryPrimitives.WriteUInt16BigEndian(d[6..], (ushort)Status);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], (uint)Size);
        BinaryPrimitives.WriteInt64BigEndian(d[16..], Count);
        BinaryPrimitives.WriteUInt64BigEndian(d[24..], Seed);
        BinaryPrimitives.WriteUInt64BigEndian(d[32..], TaggedOffset);
        BinaryPrimitives.WriteUInt32BigEndian(d[40..], STag);
    }

    /// <summary>False with a reason for a message of the wrong length, magic or version; never throws.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out SoftLatencyControl message, out string error)
    {
        message = default;
        if (source.Length != SoftLatencyProtocol.ControlLength)
        {
            error = $"a control message of {source.Length} octets, expected {SoftLatencyProtocol.ControlLength}";
            return false;
        }
        if (!source[..4].SequenceEqual(SoftLatencyProtocol.Magic))
        {
            error = $"magic {Convert.ToHexString(source[..4])}, expected 52444C54 (\"RDLT\")";
            return false;
        }
        if (source[4] != SoftLatencyProtocol.Version)
        {
            error = $"protocol version {source[4]}, expected {SoftLatencyProtocol.Version}";
            return false;
        }
        var size = BinaryPrimitives.ReadUInt32BigEndian(source[8..]);
        message = new SoftLatencyControl(
            (SoftLatencyOpcode)source[5],
            (SoftLatencyStatus)BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
            size > int.MaxValue ? -1 : (int)size,
            BinaryPrimitives.ReadInt64BigEndian(source[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[24..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[32..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[40..]));
        error = "";
        return true;
    }
}
