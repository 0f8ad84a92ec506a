using System.Buffers;
using System.Buffers.Binary;
using RdmaDiag.Wire.Ddp;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>
/// The RDMAP Terminate header, after the untagged DDP header (RFC 5040 §4.8, iwarp-wire.md §5.4).
/// <code>
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  | Layer | EType | Error Code    |M|D|R|       Reserved          |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |      DDP Segment Length       |                               |   present when D=1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
///  ~  Terminated DDP header: 14 octets if ITS T bit is 1, else 18  ~   present when D=1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  ~  Terminated RDMA header: the 28-octet Read Request            ~   present when R=1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// M: the DDP Segment Length is valid. siw sends R=1 without RDMA header octets for Send errors; that
/// reads as <see cref="RdmaHeaderMissing"/>. cxgb4 sends Layer 2 with EType 3 for MPA errors.
/// </summary>
public readonly struct TerminateHeader
{
    public const int ControlLength = 4;
    public const int SegmentLengthSize = 2;
    public const uint LayerMask = 0xF000_0000;
    public const uint ETypeMask = 0x0F00_0000;
    public const uint ErrorCodeMask = 0x00FF_0000;
    public const uint SegmentLengthValidFlag = 0x0000_8000;
    public const uint DdpHeaderIncludedFlag = 0x0000_4000;
    public const uint RdmaHeaderIncludedFlag = 0x0000_2000;
    public const uint ReservedMask = 0x0000_1FFF;

    /// <summary>
    /// A Terminate for <paramref name="error"/>. D and R follow from the copies given; M from
    /// <paramref name="segmentLength"/> being given (it is written only together with a DDP header copy).
    /// </summary>
    public TerminateHeader(TerminateError error, ushort? segmentLength = null, DdpHeader? ddpHeader = null, ReadRequestHeader? readRequest = null)
        : this((byte)error.Layer, error.EType, (byte)Math.Max(error.Code, 0), segmentLength, ddpHeader, readRequest)
    {
    }

    public TerminateHeader(byte layer, byte etype, byte errorCode, ushort? segmentLength = null, DdpHeader? ddpHeader = null, ReadRequestHeader? readRequest = null)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layer, (byte)0xF);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(etype, (byte)0xF);
        LayerValue = layer;
        EType = etype;
        ErrorCode = errorCode;
        SegmentLengthValid = segmentLength is not null;
        DdpSegmentLength = segmentLength ?? 0;
        DdpHeaderIncluded = ddpHeader is not null;
        CopiedDdpHeader = ddpHeader;
        RdmaHeaderIncluded = readRequest is not null;
        CopiedReadRequest = readRequest;
    }

    /// <summary>The layer nibble (0 RDMAP, 1 DDP, 2 LLP).</summary>
    public byte LayerValue { get; init; }

    public TerminateLayer Layer => (TerminateLayer)LayerValue;

    public byte EType { get; init; }

    public byte ErrorCode { get; init; }

    /// <summary>M flag as sent.</summary>
    public bool SegmentLengthValid { get; init; }

    /// <summary>D flag as sent.</summary>
    public bool DdpHeaderIncluded { get; init; }

    /// <summary>R flag as sent.</summary>
    public bool RdmaHeaderIncluded { get; init; }

    /// <summary>The 13 reserved bits as received; written as zero.</summary>
    public ushort Reserved { get; init; }

    /// <summary>The DDP Segment Length field (meaningful only when M=1; siw puts the payload-only length here).</summary>
    public ushort DdpSegmentLength { get; init; }

    /// <summary>Copy of the offending DDP header, when D=1.</summary>
    public DdpHeader? CopiedDdpHeader { get; init; }

    /// <summary>Copy of the offending RDMA Read Request header, when R=1 and the octets are there.</summary>
    public ReadRequestHeader? CopiedReadRequest { get; init; }

    /// <summary>R=1 but no RDMA header octets followed (what siw sends for Send-type protection errors).</summary>
    public bool RdmaHeaderMissing => RdmaHeaderIncluded && CopiedReadRequest is null;

    /// <summary>The catalogue entry for (layer, etype, code).</summary>
    public TerminateError Error => TerminateErrors.Lookup(LayerValue, EType, ErrorCode);

    /// <summary>Octets this header occupies when written.</summary>
    public int Length => ControlLength
        + (CopiedDdpHeader is { } ddp ? SegmentLengthSize + ddp.Length : 0)
        + (CopiedReadRequest is null ? 0 : ReadRequestHeader.Length);

    /// <summary>
    /// Reads a Terminate header from the RDMAP part of a segment (the octets after the untagged DDP header).
    /// Done or InvalidData; <paramref name="consumed"/> excludes any trailing octets.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out TerminateHeader header, out int consumed, out WireError error)
    {
        header = default;
        consumed = 0;
        error = default;
        if (source.Length < ControlLength)
        {
            error = new WireError(WireErrorKind.TerminateTruncated, source.Length, ControlLength);
            return OperationStatus.InvalidData;
        }
        uint control = BinaryPrimitives.ReadUInt32BigEndian(source);
        bool m = (control & SegmentLengthValidFlag) != 0;
        bool d = (control & DdpHeaderIncludedFlag) != 0;
        bool r = (control & RdmaHeaderIncludedFlag) != 0;
        int at = ControlLength;
        ushort segmentLength = 0;
        DdpHeader? ddpHeader = null;
        if (d)
        {
            ReadOnlySpan<byte> rest = source[at..];
            int needed = SegmentLengthSize + (rest.Length > SegmentLengthSize ? DdpHeader.LengthFor(rest[SegmentLengthSize]) : DdpHeader.TaggedLength);
            if (rest.Length < needed)
            {
                error = new WireError(WireErrorKind.TerminateDdpCopyTruncated, rest.Length, needed);
                return OperationStatus.InvalidData;
            }
            segmentLength = BinaryPrimitives.ReadUInt16BigEndian(rest);
            DdpHeader.TryRead(rest[SegmentLengthSize..], out var copy);
            ddpHeader = copy;
            at += needed;
        }
        ReadRequestHeader? readRequest = null;
        if (r && source.Length > at)
        {
            if (!ReadRequestHeader.TryRead(source[at..], out var copy))
            {
                error = new WireError(WireErrorKind.TerminateRdmaCopyTruncated, source.Length - at, ReadRequestHeader.Length);
                return OperationStatus.InvalidData;
            }
            readRequest = copy;
            at += ReadRequestHeader.Length;
        }
        header = new TerminateHeader
        {
            LayerValue = (byte)((control & LayerMask) >> 28),
            EType = (byte)((control & ETypeMask) >> 24),
            ErrorCode = (byte)((control & ErrorCodeMask) >> 16),
            SegmentLengthValid = m,
            DdpHeaderIncluded = d,
            RdmaHeaderIncluded = r,
            Reserved = (ushort)(control & ReservedMask),
            DdpSegmentLength = segmentLength,
            CopiedDdpHeader = ddpHeader,
            CopiedReadRequest = readRequest,
        };
        consumed = at;
        return OperationStatus.Done;
    }

    /// <summary>
    /// Writes the header: flags as set on this value, reserved bits zero, the segment length and DDP copy
    /// only when a DDP header copy is present, the Read Request copy when present. Returns <see cref="Length"/>.
    /// </summary>
    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        uint control = ((uint)(LayerValue & 0xF) << 28) | ((uint)(EType & 0xF) << 24) | ((uint)ErrorCode << 16)
            | (SegmentLengthValid ? SegmentLengthValidFlag : 0) | (DdpHeaderIncluded ? DdpHeaderIncludedFlag : 0)
            | (RdmaHeaderIncluded ? RdmaHeaderIncludedFlag : 0);
        BinaryPrimitives.WriteUInt32BigEndian(destination, control);
        int at = ControlLength;
        if (CopiedDdpHeader is { } ddp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[at..], DdpSegmentLength);
            at += SegmentLengthSize;
            at += ddp.Write(destination[at..]);
        }
        if (CopiedReadRequest is { } readRequest)
        {
            at += readRequest.Write(destination[at..]);
        }
        return at;
    }

    public override string ToString() =>
        $"Terminate {LayerValue}/{EType}/0x{ErrorCode:X2} {Error.Name}{(SegmentLengthValid ? $" M len {DdpSegmentLength}" : "")}{(DdpHeaderIncluded ? " D" : "")}{(RdmaHeaderIncluded ? " R" : "")}";
}
