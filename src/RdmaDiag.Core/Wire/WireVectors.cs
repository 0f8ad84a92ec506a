using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Wire;

/// <summary>
/// Known-answer vectors from iwarp-wire.md §2.7 (CRC-32C) and §8 (encodings), shared by
/// <see cref="WireSelfCheck"/> and the unit tests.
/// </summary>
internal static class WireVectors
{
    /// <summary>A CRC-32C input and its finished value (wire octets are this value least-significant first).</summary>
    internal sealed record CrcVector(string Name, byte[] Input, uint Crc);

    /// <summary>An FPDU: the octets before the CRC and the 4 CRC octets as they appear on the wire.</summary>
    internal sealed record FpduVector(string Name, byte[] BeforeCrc, byte[] WireCrc)
    {
        public byte[] Fpdu => [.. BeforeCrc, .. WireCrc];
    }

    internal static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static byte[] Repeat(byte value, int count) => Enumerable.Repeat(value, count).ToArray();

    private static byte[] Range(int first, int count, int step) => Enumerable.Range(0, count).Select(i => (byte)(first + step * i)).ToArray();

    /// <summary>CRC-32/ISCSI check value, and raw register after a message followed by its correct CRC.</summary>
    internal const uint CheckValue = 0xE3069283;
    internal const uint Residue = 0xB798B438;

    internal static readonly byte[] Rfc5044Figure5 = Hex("00000000 002A 4143 00000000 00000000 00000001 00000000" + new string('0', 48));
    internal static readonly byte[] Rfc5044Figure6 = Hex("002A 4143 00000000 00000000 00000002 00000000 0000 0014" + new string('0', 48));

    /// <summary>Stream offset of the first octet of the Fig. 6 FPDU (its marker lands at 0x200).</summary>
    internal const uint Rfc5044Figure6Offset = 0x1EC;

    internal static IReadOnlyList<CrcVector> Crc { get; } =
    [
        new("32 x 00 (RFC 7143 A.4)", Repeat(0x00, 32), 0x8A9136AA),
        new("32 x FF", Repeat(0xFF, 32), 0x62A8AB43),
        new("00..1F incrementing", Range(0x00, 32, 1), 0x46DD794E),
        new("1F..00 decrementing", Range(0x1F, 32, -1), 0x113FDB5C),
        new("iSCSI SCSI Read(10) PDU", Hex("01C00000 00000000 00000000 00000000 14000000 00000400 00000014 00000018 28000000 00000000 02000000 00000000"), 0xD9963A56),
        new("ASCII 123456789", "123456789"u8.ToArray(), CheckValue),
        new("RFC 5044 Fig. 5 (leading marker)", Rfc5044Figure5, 0x83992352),
        new("RFC 5044 Fig. 6 (interior marker)", Rfc5044Figure6, 0x98589284),
    ];

    /// <summary>§8 MPA v2 Request: C=1 S=1 Rev 2, P2P + Read RTR, IRD = ORD = 16, 8 octets of RFC 8797 data.</summary>
    internal static readonly byte[] MpaV2Request = Hex("4D504120494420526571204672616D65 50 02 000C 8010 4010 F6AB0E1801000303");

    internal static readonly byte[] MpaV2RequestUlpData = Hex("F6AB0E1801000303");

    internal static readonly FpduVector SendHello = new("Send \"hello\" (QN 0, MSN 1, MO 0)",
        Hex("0017 4143 00000000 00000000 00000001 00000000 68656C6C6F 000000"), Hex("B990B10C"));

    internal static readonly FpduVector WriteRtr = new("zero-length RDMA Write RTR (STag 1, TO 1)",
        Hex("000E C140 00000001 0000000000000001"), Hex("E85027AD"));

    internal static readonly FpduVector ReadRtr = new("zero-length Read Request RTR",
        Hex("002E 4141 00000000 00000001 00000001 00000000 00000001 0000000000000001 00000000 00000001 0000000000000001"), Hex("7B84584A"));

    internal static readonly FpduVector TerminateCrc = new("Terminate, MPA CRC error, no copies (QN 2, MSN 1)",
        Hex("0016 4147 00000000 00000002 00000001 00000000 20020000"), Hex("7FE42585"));

    internal static readonly FpduVector Figure5Unmarked = new("RFC 5044 Fig. 5 FPDU without its leading marker",
        Hex("002A 4143 00000000 00000000 00000001 00000000" + new string('0', 48)), Hex("B7243EC3"));

    internal static IReadOnlyList<FpduVector> Fpdus { get; } = [SendHello, WriteRtr, ReadRtr, TerminateCrc, Figure5Unmarked];

    /// <summary>A §8 FPDU and the message fields it encodes.</summary>
    internal sealed record FpduMessage(FpduVector Vector, DdpHeader Ddp, RdmapHeader Header, byte[] Payload);

    private static DdpHeader Untagged(RdmapOpcode opcode, uint queueNumber) => DdpHeader.CreateUntagged(RdmapControl.Encode(opcode), queueNumber, 1);

    internal static IReadOnlyList<FpduMessage> FpduMessages { get; } =
    [
        new(SendHello, Untagged(RdmapOpcode.Send, 0), RdmapHeader.None, "hello"u8.ToArray()),
        new(WriteRtr, DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), 1, 1), RdmapHeader.None, []),
        new(ReadRtr, Untagged(RdmapOpcode.RdmaReadRequest, 1), new ReadRequestHeader(SinkSTag: 1, SinkTO: 1, ReadSize: 0, SourceSTag: 1, SourceTO: 1), []),
        new(TerminateCrc, Untagged(RdmapOpcode.Terminate, 2), new TerminateHeader(TerminateErrors.MpaCrcError), []),
        new(Figure5Unmarked, Untagged(RdmapOpcode.Send, 0), RdmapHeader.None, new byte[24]),
    ];
}
