using System.Buffers;
using System.Buffers.Binary;

namespace RdmaDiag.Wire.Mpa;

/// <summary>
/// An MPA Request or Reply frame (RFC 5044 §7.1, RFC 6581 §5). No CRC, no markers, no padding.
/// <code>
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                                                               |
///  +         Key (16 octets): "MPA ID Req Frame" or                +
///  |                          "MPA ID Rep Frame"                   |
///  +                                                               +
///  |                                                               |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |M|C|R|S|  Res  |     Rev       |          PD_Length            |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  ~  Private Data (PD_Length octets; the first 4 are the          ~
///  ~  MpaV2Block when S=1 and Rev >= 2)                             ~
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly struct MpaStartFrame
{
    public const int HeaderLength = 20;
    public const int KeyLength = 16;
    public const byte MarkersFlag = 0x80;
    public const byte CrcFlag = 0x40;
    public const byte RejectFlag = 0x20;
    public const byte EnhancedFlag = 0x10;
    public const byte ReservedFlagsMask = 0x0F;

    /// <summary>Highest revision this codec understands: 2 (RFC 6581).</summary>
    public const byte MaxRevision = 2;

    /// <summary>The key differs from <see cref="ReplyKey"/> only at this offset ('q' versus 'p').</summary>
    private const int KeyDifferenceOffset = 9;

    public static ReadOnlySpan<byte> RequestKey => "MPA ID Req Frame"u8;
    public static ReadOnlySpan<byte> ReplyKey => "MPA ID Rep Frame"u8;

    public bool IsReply { get; init; }

    /// <summary>M: the sender of this frame wants the peer to insert markers in what the peer sends.</summary>
    public bool MarkersRequired { get; init; }

    /// <summary>C: CRC preferred. If either side sends C=1, both generate and check CRCs.</summary>
    public bool CrcPreferred { get; init; }

    /// <summary>R: the responder rejects (meaningful only in a Reply).</summary>
    public bool Rejected { get; init; }

    /// <summary>S: private data starts with the RFC 6581 block (as sent; see <see cref="V2Block"/>).</summary>
    public bool Enhanced { get; init; }

    /// <summary>The Res bits (mask 0x0F) as received. Never checked; always written as zero.</summary>
    public byte ReservedFlags { get; init; }

    /// <summary>Rev: 0 pre-IETF RDMAC, 1 RFC 5044, 2 RFC 6581.</summary>
    public byte Rev { get; init; }

    /// <summary>
    /// The RFC 6581 block. On read it is present when S=1, Rev ≥ 2 and PD_Length ≥ 4; a frame with
    /// S=1, Rev ≥ 2 and a shorter PD_Length reads with this null (siw answers such a Request with R=1).
    /// </summary>
    public MpaV2Block? V2Block { get; init; }

    /// <summary>The ULP's private data, after the RFC 6581 block if there is one.</summary>
    public ReadOnlyMemory<byte> PrivateData { get; init; }

    /// <summary>The PD_Length field: ULP private data plus the RFC 6581 block.</summary>
    public int PrivateDataLength => (V2Block is null ? 0 : MpaV2Block.Length) + PrivateData.Length;

    public int EncodedLength => HeaderLength + PrivateDataLength;

    /// <summary>True for S=1 at Rev ≥ 2 without room for the RFC 6581 block.</summary>
    public bool IsEnhancedBlockMissing => Enhanced && Rev >= 2 && V2Block is null;

    /// <summary>A Request: Rev 2 with S=1 when <paramref name="v2Block"/> is given, else Rev 1.</summary>
    public static MpaStartFrame Request(bool crc, MpaV2Block? v2Block, ReadOnlyMemory<byte> privateData, bool markersRequired = false) => new()
    {
        IsReply = false,
        CrcPreferred = crc,
        MarkersRequired = markersRequired,
        Enhanced = v2Block is not null,
        Rev = v2Block is null ? (byte)1 : (byte)2,
        V2Block = v2Block,
        PrivateData = privateData,
    };

    /// <summary>A Reply: Rev 2 with S=1 when <paramref name="v2Block"/> is given, else Rev 1.</summary>
    public static MpaStartFrame Reply(bool crc, MpaV2Block? v2Block, ReadOnlyMemory<byte> privateData, bool rejected = false, bool markersRequired = false) =>
        Request(crc, v2Block, privateData, markersRequired) with { IsReply = true, Rejected = rejected };

    /// <summary>
    /// Writes the frame exactly as described (S from <see cref="Enhanced"/>, Rev as given, so malformed
    /// frames can be produced on purpose); Res bits are always zero. Returns <see cref="EncodedLength"/>.
    /// </summary>
    public int Write(Span<byte> destination)
    {
        int pdLength = PrivateDataLength;
        if (pdLength > ushort.MaxValue)
        {
            throw new ArgumentException($"private data of {pdLength} octets does not fit the 16-bit PD_Length field");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, HeaderLength + pdLength, nameof(destination));

        (IsReply ? ReplyKey : RequestKey).CopyTo(destination);
        destination[16] = (byte)((MarkersRequired ? MarkersFlag : 0) | (CrcPreferred ? CrcFlag : 0)
                               | (Rejected ? RejectFlag : 0) | (Enhanced ? EnhancedFlag : 0));
        destination[17] = Rev;
        BinaryPrimitives.WriteUInt16BigEndian(destination[18..], (ushort)pdLength);
        Span<byte> body = destination[HeaderLength..];
        if (V2Block is { } block)
        {
            block.Write(body);
            body = body[MpaV2Block.Length..];
        }
        PrivateData.Span.CopyTo(body);
        return HeaderLength + pdLength;
    }

    /// <summary>
    /// Reads one start-up frame from the front of <paramref name="source"/>.
    /// NeedMoreData while the frame is incomplete (and the octets seen so far could still be a key);
    /// InvalidData for a wrong key, Rev above 2 or PD_Length over <paramref name="limits"/>, decided as
    /// soon as the offending octets are present, before waiting for the private data.
    /// On Done the private data is copied, so <paramref name="frame"/> outlives the buffer.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, MpaLimits limits, out MpaStartFrame frame, out int consumed, out WireError error)
    {
        frame = default;
        consumed = 0;
        error = default;

        int keyOctets = Math.Min(source.Length, KeyLength);
        ReadOnlySpan<byte> key = source[..keyOctets];
        bool request = key.SequenceEqual(RequestKey[..keyOctets]);
        bool reply = key.SequenceEqual(ReplyKey[..keyOctets]);
        if (!request && !reply)
        {
            error = new WireError(WireErrorKind.MpaKey);
            return OperationStatus.InvalidData;
        }
        if (source.Length < HeaderLength)
        {
            return OperationStatus.NeedMoreData;
        }

        byte flags = source[16];
        byte rev = source[17];
        int pdLength = BinaryPrimitives.ReadUInt16BigEndian(source[18..]);
        if (rev > MaxRevision)
        {
            error = new WireError(WireErrorKind.MpaRevision, rev, MaxRevision);
            return OperationStatus.InvalidData;
        }
        if (pdLength > limits.MaxPrivateDataLength)
        {
            error = new WireError(WireErrorKind.MpaPrivateDataTooLong, pdLength, limits.MaxPrivateDataLength);
            return OperationStatus.InvalidData;
        }
        if (source.Length < HeaderLength + pdLength)
        {
            return OperationStatus.NeedMoreData;
        }

        ReadOnlySpan<byte> privateData = source.Slice(HeaderLength, pdLength);
        bool enhanced = (flags & EnhancedFlag) != 0;
        MpaV2Block? v2 = null;
        if (enhanced && rev >= 2 && MpaV2Block.TryRead(privateData, out var block))
        {
            v2 = block;
            privateData = privateData[MpaV2Block.Length..];
        }

        frame = new MpaStartFrame
        {
            IsReply = source[KeyDifferenceOffset] == ReplyKey[KeyDifferenceOffset],
            MarkersRequired = (flags & MarkersFlag) != 0,
            CrcPreferred = (flags & CrcFlag) != 0,
            Rejected = (flags & RejectFlag) != 0,
            Enhanced = enhanced,
            ReservedFlags = (byte)(flags & ReservedFlagsMask),
            Rev = rev,
            V2Block = v2,
            PrivateData = privateData.ToArray(),
        };
        consumed = HeaderLength + pdLength;
        return OperationStatus.Done;
    }

    public override string ToString() =>
        $"MPA {(IsReply ? "Reply" : "Request")} Rev {Rev}{(MarkersRequired ? " M" : "")}{(CrcPreferred ? " C" : "")}{(Rejected ? " R" : "")}{(Enhanced ? " S" : "")} PD_Length {PrivateDataLength}{(V2Block is { } b ? $" [{b}]" : "")}";
}
