using System.Buffers.Binary;

namespace RdmaDiag.Endpoint;

/// <summary>Probe protocol operations.</summary>
public enum ProbeOp : byte
{
    /// <summary>Client → server, header only: "tell me your buffer". Also satisfies the responder's MPA fence.</summary>
    Hello = 1,

    /// <summary>Server → client: STag (Value), base TO (Offset), length (Length) of the probe region, largest Echo payload (Limit).</summary>
    Advert = 2,

    /// <summary>Client → server: header + Length octets of payload; answered with the payload's digest.</summary>
    Echo = 3,

    /// <summary>Client → server: digest the probe region at [Offset, +Length) (after the client's RDMA Write).</summary>
    Check = 4,

    /// <summary>Client → server: fill [Offset, +Length) with the pattern of seed Value, answer its digest (before the client's RDMA Read).</summary>
    Fill = 5,

    /// <summary>Server → client: Status, Length, Offset and the SHA-256 Digest for Echo, Check and Fill.</summary>
    Digest = 6,
}

/// <summary>Server verdict on a request.</summary>
public enum ProbeStatus : ushort
{
    Ok = 0,

    /// <summary>Bad magic, a range outside the probe region, or an Echo longer than the Advert's limit.</summary>
    BadRequest = 1,

    /// <summary>The request's Version is not the server's; the reply carries the server's.</summary>
    BadVersion = 2,

    UnknownOp = 3,
}

/// <summary>
/// The probe protocol that <c>rdmadiag serve --soft</c> speaks after connection setup so that
/// <c>rdmadiag check --soft</c> can run Send, RDMA Write and RDMA Read with data verification. It is
/// deliberately tiny and versioned; the client always speaks first (HELLO), which also opens the
/// responder's MPA fence in client/server mode, and sends one request at a time.
/// <code>
///  Every message is one RDMA Send. All integers big-endian.
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                    Magic "RDPB" (52 44 50 42)                 |  0
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |  Version (1)  |      Op       |            Status             |  4
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                            Length                             |  8
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                 Limit (Advert: largest Echo payload)          | 12
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |            Offset (64 bits): a tagged offset in the region    | 16
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |          Value (64 bits): Advert STag, Fill pattern seed      | 24
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  ~             Digest (32 octets): SHA-256, zero unless Digest   ~ 32
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  ~             Payload (Echo only: Length octets)                ~ 64
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
///  client                                         server (serve --soft)
///    | HELLO ------------------------------------->  |  registers the probe region
///    | <------------------ ADVERT (STag, TO, length) |  (RemoteWrite | RemoteRead)
///    | ECHO + n octets ---------------------------->  |
///    | <--------------------- DIGEST sha256(payload) |
///    | RDMA Write n octets at TO, then CHECK(TO, n) ->|
///    | <---------------- DIGEST sha256(region[TO..n]) |
///    | FILL(TO, n, seed) --------------------------->|  region[TO..n] = pattern(seed)
///    | <--------------------------------- DIGEST ... |
///    | RDMA Read n octets from TO, compare pattern   |
/// </code>
/// The pattern is xorshift64* from the seed, 8 octets at a time, little-endian. A later revision may
/// add operations; a server answers an unknown Op with Status UnknownOp and a different Version with
/// BadVersion, so a newer client can tell.
/// </summary>
public readonly record struct ProbeMessage(ProbeOp Op, ProbeStatus Status = ProbeStatus.Ok, uint Length = 0, uint Limit = 0, ulong Offset = 0, ulong Value = 0)
{
    public const int HeaderLength = 64;
    public const int DigestLength = 32;
    public const byte CurrentVersion = 1;

    public static ReadOnlySpan<byte> Magic => "RDPB"u8;

    public byte Version { get; init; } = CurrentVersion;

    /// <summary>SHA-256 in Digest replies; empty otherwise (written as zeros).</summary>
    public ReadOnlyMemory<byte> Digest { get; init; }

    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, HeaderLength, nameof(destination));
        Magic.CopyTo(destination);
        destination[4] = Version;
        destination[5] = (byte)Op;
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)Status);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Length);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], Limit);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], Offset);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], Value);
        Span<byte> digest = destination.Slice(32, DigestLength);
        digest.Clear();
        Digest.Span[..Math.Min(Digest.Length, DigestLength)].CopyTo(digest);
        return HeaderLength;
    }

    /// <summary>Reads a header; false with a reason for a short message or a wrong magic (the version is returned as sent).</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ProbeMessage message, out string error)
    {
        message = default;
        if (source.Length < HeaderLength)
        {
            error = $"a probe message of {source.Length} octets is shorter than the {HeaderLength}-octet header";
            return false;
        }
        if (!source[..4].SequenceEqual(Magic))
        {
            error = $"probe magic is {Convert.ToHexString(source[..4])}, expected {Convert.ToHexString(Magic)} (\"RDPB\")";
            return false;
        }
        message = new ProbeMessage(
            (ProbeOp)source[5],
            (ProbeStatus)BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[12..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[24..]))
        {
            Version = source[4],
            Digest = source.Slice(32, DigestLength).ToArray(),
        };
        error = "";
        return true;
    }

    /// <summary>Fills <paramref name="destination"/> with the xorshift64* pattern of <paramref name="seed"/>.</summary>
    public static void FillPattern(Span<byte> destination, ulong seed)
    {
        ulong state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;
        Span<byte> word = stackalloc byte[sizeof(ulong)];
        for (int at = 0; at < destination.Length; at += sizeof(ulong))
        {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            BinaryPrimitives.WriteUInt64LittleEndian(word, state * 0x2545F4914F6CDD1DUL);
            word[..Math.Min(sizeof(ulong), destination.Length - at)].CopyTo(destination[at..]);
        }
    }
}
