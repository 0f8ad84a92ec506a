using System.Buffers;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>One decoded DDP segment / RDMAP message: a view over the caller's ULPDU.</summary>
public readonly ref struct RdmapSegment
{
    internal RdmapSegment(DdpHeader ddp, RdmapControl control, RdmapHeader header, ReadOnlySpan<byte> payload)
    {
        Ddp = ddp;
        Control = control;
        Header = header;
        Payload = payload;
    }

    public DdpHeader Ddp { get; }

    public RdmapControl Control { get; }

    public RdmapOpcode Opcode => Control.Opcode;

    /// <summary>The opcode-specific header (Kind None for Write, Read Response and the Send family).</summary>
    public RdmapHeader Header { get; }

    /// <summary>ULP payload after the headers (for a Terminate, any octets after its header).</summary>
    public ReadOnlySpan<byte> Payload { get; }
}

/// <summary>
/// One-call decode and encode of a whole ULPDU (DDP header, RDMAP control, RDMAP header, payload).
/// </summary>
public static class RdmapCodec
{
    /// <summary>
    /// Decodes a complete ULPDU (one DDP segment, as given by <see cref="FpduView.Ulpdu"/>). Returns Done or
    /// InvalidData, never NeedMoreData: DDP header shorter than its T bit says, DV ≠ 1, RV ≠ 1, unassigned
    /// opcode, opcode in the wrong buffer model, or a header length that is not the opcode's (Read Request 28,
    /// Immediate Data 8, Atomic Request 52, Atomic Response 12, a Terminate shorter than its D/R flags say).
    /// On InvalidData <paramref name="segment"/> still holds the DDP header and control octet once they were read.
    /// </summary>
    public static OperationStatus TryDecode(ReadOnlySpan<byte> ulpdu, out RdmapSegment segment, out WireError error)
    {
        segment = default;
        error = default;
        int ddpLength = ulpdu.IsEmpty ? DdpHeader.TaggedLength : DdpHeader.LengthFor(ulpdu[0]);
        if (DdpHeader.TryRead(ulpdu, out var ddp) != OperationStatus.Done)
        {
            error = new WireError(WireErrorKind.DdpTruncated, ulpdu.Length, ddpLength);
            return OperationStatus.InvalidData;
        }
        var control = new RdmapControl(ddp.RdmapControl);
        ReadOnlySpan<byte> rest = ulpdu[ddpLength..];
        segment = new RdmapSegment(ddp, control, RdmapHeader.None, rest);
        if (ddp.Dv != DdpHeader.CurrentVersion)
        {
            error = new WireError(WireErrorKind.DdpVersion, ddp.Dv, DdpHeader.CurrentVersion);
            return OperationStatus.InvalidData;
        }
        if (control.Version != RdmapControl.CurrentVersion)
        {
            error = new WireError(WireErrorKind.RdmapVersion, control.Version, RdmapControl.CurrentVersion);
            return OperationStatus.InvalidData;
        }
        RdmapOpcode opcode = control.Opcode;
        if (!RdmapOpcodes.IsAssigned(opcode))
        {
            error = new WireError(WireErrorKind.RdmapOpcodeUnassigned, (byte)opcode, (byte)RdmapOpcodes.Highest);
            return OperationStatus.InvalidData;
        }
        bool tagged = RdmapOpcodes.IsTagged(opcode);
        if (tagged != ddp.Tagged)
        {
            error = new WireError(WireErrorKind.RdmapWrongBufferModel, (byte)opcode, tagged ? 1 : 0);
            return OperationStatus.InvalidData;
        }

        RdmapHeaderKind kind = RdmapHeader.KindFor(opcode);
        RdmapHeader header = RdmapHeader.None;
        int headerLength = 0;
        if (kind == RdmapHeaderKind.Terminate)
        {
            if (TerminateHeader.TryRead(rest, out var terminate, out headerLength, out error) != OperationStatus.Done)
            {
                return OperationStatus.InvalidData;
            }
            header = terminate;
        }
        else if (kind != RdmapHeaderKind.None)
        {
            headerLength = RdmapHeader.FixedLength(kind);
            if (rest.Length != headerLength)
            {
                error = new WireError(LengthError(kind), rest.Length, headerLength);
                return OperationStatus.InvalidData;
            }
            header = RdmapHeader.ReadFixed(kind, rest);
        }
        segment = new RdmapSegment(ddp, control, header, rest[headerLength..]);
        return OperationStatus.Done;
    }

    private static WireErrorKind LengthError(RdmapHeaderKind kind) => kind switch
    {
        RdmapHeaderKind.ReadRequest => WireErrorKind.ReadRequestLength,
        RdmapHeaderKind.ImmediateData => WireErrorKind.ImmediateDataLength,
        RdmapHeaderKind.AtomicRequest => WireErrorKind.AtomicRequestLength,
        _ => WireErrorKind.AtomicResponseLength,
    };

    /// <summary>ULPDU length for these parts.</summary>
    public static int GetUlpduLength(in DdpHeader ddp, in RdmapHeader header, int payloadLength) => ddp.Length + header.Length + payloadLength;

    /// <summary>Writes DDP header, RDMAP header and payload as one ULPDU. Returns its length.</summary>
    public static int WriteUlpdu(Span<byte> destination, in DdpHeader ddp, in RdmapHeader header, ReadOnlySpan<byte> payload)
    {
        int length = GetUlpduLength(ddp, header, payload.Length);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        int at = ddp.Write(destination);
        at += header.Write(destination[at..]);
        payload.CopyTo(destination[at..]);
        return length;
    }

    /// <summary>
    /// Writes a whole unmarked FPDU: ULPDU_Length, the ULPDU, zero pad and the CRC (0 when
    /// <paramref name="crcEnabled"/> is false). Returns the FPDU length.
    /// </summary>
    public static int WriteFpdu(Span<byte> destination, in DdpHeader ddp, in RdmapHeader header, ReadOnlySpan<byte> payload, bool crcEnabled)
    {
        int ulpduLength = GetUlpduLength(ddp, header, payload.Length);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Fpdu.TotalLength(ulpduLength), nameof(destination));
        WriteUlpdu(destination[Fpdu.LengthFieldSize..], ddp, header, payload);
        return Fpdu.Seal(destination, ulpduLength, crcEnabled);
    }
}
