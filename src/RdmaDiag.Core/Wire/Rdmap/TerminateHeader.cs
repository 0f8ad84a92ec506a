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
/// <para>Linux siw (6.1, struct iwarp_terminate with little-endian bitfields) lays the control word out
/// as the C compiler does on x86, which is not the RFC's order:</para>
/// <code>
///   octet 0: EType (high nibble) | Layer (low nibble)
///   octet 1: Error Code
///   octet 2: Reserved (0xF8) | R 0x04 | D 0x02 | M 0x01
///   octet 3: Reserved
/// </code>
/// A control word whose RFC flag bits (0xE0 of octet 2) are clear while siw's (0x07) are set and the rest
/// of octets 2-3 is zero, or one with no flags either way whose nibbles only name a catalogued error when
/// swapped, is read in siw's layout and marked <see cref="SiwBitfieldLayout"/>.
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
    public const byte SiwSegmentLengthValidFlag = 0x01;
    public const byte SiwDdpHeaderIncludedFlag = 0x02;
    public const byte SiwRdmaHeaderIncludedFlag = 0x04;
    private const byte RfcFlagsInOctet2 = 0xE0;
    private const byte SiwFlagsInOctet2 = 0x07;

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

    /// <summary>
    /// The control word came (or is written) in Linux siw's little-endian bitfield layout: Layer and EType
    /// nibbles swapped, M/D/R as 0x01/0x02/0x04 of the third octet.
    /// </summary>
    public bool SiwBitfieldLayout { get; init; }

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
        bool siw = IsSiwBitfieldLayout(source);
        byte layer, etype;
        bool m, d, r;
        ushort reserved;
        if (siw)
        {
            layer = (byte)(source[0] & 0x0F);
            etype = (byte)(source[0] >> 4);
            m = (source[2] & SiwSegmentLengthValidFlag) != 0;
            d = (source[2] & SiwDdpHeaderIncludedFlag) != 0;
            r = (source[2] & SiwRdmaHeaderIncludedFlag) != 0;
            reserved = (ushort)((source[2] >> 3) | (source[3] << 5));
        }
        else
        {
            layer = (byte)((control & LayerMask) >> 28);
            etype = (byte)((control & ETypeMask) >> 24);
            m = (control & SegmentLengthValidFlag) != 0;
            d = (control & DdpHeaderIncludedFlag) != 0;
            r = (control & RdmaHeaderIncludedFlag) != 0;
            reserved = (ushort)(control & ReservedMask);
        }
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
            LayerValue = layer,
            EType = etype,
            ErrorCode = source[1],
            SegmentLengthValid = m,
            DdpHeaderIncluded = d,
            RdmaHeaderIncluded = r,
            SiwBitfieldLayout = siw,
            Reserved = reserved,
            DdpSegmentLength = segmentLength,
            CopiedDdpHeader = ddpHeader,
            CopiedReadRequest = readRequest,
        };
        consumed = at;
        return OperationStatus.Done;
    }

    /// <summary>Whether a control word (at least 4 octets) is in Linux siw's bitfield layout; see the type's remarks.</summary>
    public static bool IsSiwBitfieldLayout(ReadOnlySpan<byte> control)
    {
        if (control.Length < ControlLength || (control[2] & RfcFlagsInOctet2) != 0 || control[3] != 0)
        {
            return false;
        }
        if (control[2] != 0)
        {
            return (control[2] & ~SiwFlagsInOctet2) == 0;
        }
        // No flags either way: only the nibble order can tell, and only when one order names a known error.
        byte high = (byte)(control[0] >> 4), low = (byte)(control[0] & 0x0F);
        return high != low && !TerminateErrors.Lookup(high, low, control[1]).IsKnown && TerminateErrors.Lookup(low, high, control[1]).IsKnown;
    }

    /// <summary>
    /// Writes the header: flags as set on this value, reserved bits zero, the segment length and DDP copy
    /// only when a DDP header copy is present, the Read Request copy when present; the control word in siw's layout when
    /// <see cref="SiwBitfieldLayout"/> is set (a test peer acting as siw). Returns <see cref="Length"/>.
    /// </summary>
    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        if (SiwBitfieldLayout)
        {
            destination[0] = (byte)(((EType & 0xF) << 4) | (LayerValue & 0xF));
            destination[1] = ErrorCode;
            destination[2] = (byte)((SegmentLengthValid ? SiwSegmentLengthValidFlag : 0) | (DdpHeaderIncluded ? SiwDdpHeaderIncludedFlag : 0)
                | (RdmaHeaderIncluded ? SiwRdmaHeaderIncludedFlag : 0));
            destination[3] = 0;
        }
        else
        {
            uint control = ((uint)(LayerValue & 0xF) << 28) | ((uint)(EType & 0xF) << 24) | ((uint)ErrorCode << 16)
                | (SegmentLengthValid ? SegmentLengthValidFlag : 0) | (DdpHeaderIncluded ? DdpHeaderIncludedFlag : 0)
                | (RdmaHeaderIncluded ? RdmaHeaderIncludedFlag : 0);
            BinaryPrimitives.WriteUInt32BigEndian(destination, control);
        }
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
        $"Terminate {LayerValue}/{EType}/0x{ErrorCode:X2} {Error.Name}{(SegmentLengthValid ? $" M len {DdpSegmentLength}" : "")}{(DdpHeaderIncluded ? " D" : "")}{(RdmaHeaderIncluded ? " R" : "")}{(SiwBitfieldLayout ? " (siw bitfield layout)" : "")}";
}
