using System.Buffers.Binary;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>What the decoder knows about an FPDU's CRC field.</summary>
public enum CrcStatus : byte
{
    /// <summary>CRCs were not negotiated (nor inferred): the field is not checked.</summary>
    NotChecked,
    Good,
    Bad,
}

/// <summary>
/// One FPDU as the decoder saw it: where it was, its framing and its decoded DDP/RDMAP headers. A view
/// valid only during <see cref="IFpduSink.OnFpdu"/>: <see cref="Ulpdu"/> points into the decoder's buffers.
/// </summary>
public readonly ref struct IwarpFpdu
{
    internal IwarpFpdu(TcpFlow flow, FlowDirection direction, long frame, long lastFrame, long timestampNanos, long streamOffset,
        int wireLength, ReadOnlySpan<byte> ulpdu, uint crcField, CrcStatus crc, uint computedCrc, in RdmapSegment segment)
        : this(flow, direction, frame, lastFrame, timestampNanos, streamOffset, wireLength, ulpdu, crcField, crc, computedCrc, true,
            segment.Ddp, segment.Control, segment.Header, segment.Payload.Length, default)
    {
    }

    internal IwarpFpdu(TcpFlow flow, FlowDirection direction, long frame, long lastFrame, long timestampNanos, long streamOffset,
        int wireLength, ReadOnlySpan<byte> ulpdu, uint crcField, CrcStatus crc, uint computedCrc, bool hasDdp, DdpHeader ddp, RdmapControl control,
        RdmapHeader header, int payloadLength, WireError error)
    {
        Flow = flow;
        Direction = direction;
        Frame = frame;
        LastFrame = lastFrame;
        TimestampNanos = timestampNanos;
        StreamOffset = streamOffset;
        WireLength = wireLength;
        Ulpdu = ulpdu;
        CrcFieldValue = crcField;
        Crc = crc;
        ComputedCrc = computedCrc;
        HasDdp = hasDdp;
        Ddp = ddp;
        Control = control;
        Header = header;
        PayloadLength = payloadLength;
        Error = error;
    }

    public TcpFlow Flow { get; }

    public FlowDirection Direction { get; }

    /// <summary>The frame that carried the FPDU's first octet (a leading marker counts).</summary>
    public long Frame { get; }

    /// <summary>The frame that carried its last octet: where Wireshark shows the reassembled FPDU.</summary>
    public long LastFrame { get; }

    public long TimestampNanos { get; }

    /// <summary>Offset of the first octet in this direction's stream, counted from the first octet the capture delivered.</summary>
    public long StreamOffset { get; }

    /// <summary>Octets on the wire: ULPDU_Length field, ULPDU, pad, CRC and any markers.</summary>
    public int WireLength { get; }

    /// <summary>The DDP segment (ULPDU_Length octets), without markers.</summary>
    public ReadOnlySpan<byte> Ulpdu { get; }

    public int UlpduLength => Ulpdu.Length;

    /// <summary>
    /// The CRC field's four octets read big-endian: the number Wireshark shows as <c>iwarp_mpa.crc_check</c> /
    /// <c>iwarp_mpa.crc</c>. (The CRC32c itself travels least-significant octet first.)
    /// </summary>
    public uint CrcFieldValue { get; }

    public CrcStatus Crc { get; }

    /// <summary>The CRC32c computed over the FPDU when it was checked (<see cref="Crc"/> not NotChecked), else 0.</summary>
    public uint ComputedCrc { get; }

    /// <summary>True when the ULPDU holds a whole DDP header (the <see cref="Ddp"/> and <see cref="Control"/> fields are read).</summary>
    public bool HasDdp { get; }

    // Fields rather than properties: these structs are large and read many times per FPDU; a field is read in place.
#pragma warning disable CA1051
    /// <summary>The DDP header (valid when <see cref="HasDdp"/>).</summary>
    public readonly DdpHeader Ddp;

    public readonly RdmapControl Control;

    /// <summary>The opcode's RDMAP header; Kind None when the message has none or could not be decoded (<see cref="Error"/>).</summary>
    public readonly RdmapHeader Header;
#pragma warning restore CA1051

    public RdmapOpcode Opcode => Control.Opcode;


    /// <summary>ULP payload octets after the headers.</summary>
    public int PayloadLength { get; }

    /// <summary>Why the segment is not a valid RDMAP message; None when it is.</summary>
    public WireError Error { get; }

    /// <summary>Raw octets of a Terminate's DDP header copy (by the copy's own T bit), or empty.</summary>
    public ReadOnlySpan<byte> TerminatedDdpHeader => TerminateCopy(out var ddp, out _) ? ddp : default;

    /// <summary>Raw octets of a Terminate's RDMA header copy (up to 28), or empty.</summary>
    public ReadOnlySpan<byte> TerminatedRdmaHeader => TerminateCopy(out _, out var rdma) ? rdma : default;

    /// <summary>Raw DDP Segment Length field of a Terminate with D=1, or -1.</summary>
    public int TerminateSegmentLengthField
    {
        get
        {
            var body = TerminateBody;
            return Header.Kind == RdmapHeaderKind.Terminate && Header.Terminate.DdpHeaderIncluded && body.Length >= 6
                ? BinaryPrimitives.ReadUInt16BigEndian(body[4..])
                : -1;
        }
    }

    private ReadOnlySpan<byte> TerminateBody => HasDdp && Ulpdu.Length > DdpHeader.UntaggedLength ? Ulpdu[DdpHeader.UntaggedLength..] : default;

    private bool TerminateCopy(out ReadOnlySpan<byte> ddp, out ReadOnlySpan<byte> rdma)
    {
        ddp = default;
        rdma = default;
        if (Header.Kind != RdmapHeaderKind.Terminate)
        {
            return false;
        }
        var t = Header.Terminate;
        var at = TerminateHeader.ControlLength;
        var body = TerminateBody;
        if (t.CopiedDdpHeader is { } copy)
        {
            at += TerminateHeader.SegmentLengthSize;
            ddp = body.Slice(at, copy.Length);
            at += copy.Length;
        }
        if (t.RdmaHeaderIncluded && body.Length > at)
        {
            rdma = body.Slice(at, Math.Min(ReadRequestHeader.Length, body.Length - at));
        }
        return true;
    }
}

/// <summary>Receives every FPDU the decoder frames, in stream order per direction.</summary>
public interface IFpduSink
{
    void OnFpdu(in IwarpFpdu fpdu);
}
