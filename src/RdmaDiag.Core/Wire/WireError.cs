namespace RdmaDiag.Wire;

/// <summary>Why a decoder returned <see cref="System.Buffers.OperationStatus.InvalidData"/>.</summary>
/// <remarks>Stable values: the capture decoder turns them into finding ids.</remarks>
public enum WireErrorKind : byte
{
    None = 0,
    MpaKey,
    MpaRevision,
    MpaPrivateDataTooLong,
    MpaCrcMismatch,
    MpaMarkerPointer,
    DdpTruncated,
    DdpVersion,
    RdmapVersion,
    RdmapOpcodeUnassigned,
    RdmapWrongBufferModel,
    ReadRequestLength,
    ImmediateDataLength,
    AtomicRequestLength,
    AtomicResponseLength,
    TerminateTruncated,
    TerminateDdpCopyTruncated,
    TerminateRdmaCopyTruncated,
}

/// <summary>
/// The reason a decoder rejected its input: a kind plus the value seen and the value or limit expected.
/// Formatting is deferred to <see cref="Message"/> so the decode path never allocates.
/// </summary>
public readonly struct WireError(WireErrorKind kind, long seen = 0, long expected = 0)
{
    public WireErrorKind Kind { get; } = kind;

    /// <summary>The offending value as read from the wire (a length, a version, an opcode...).</summary>
    public long Seen { get; } = seen;

    /// <summary>The value or limit the decoder wanted.</summary>
    public long Expected { get; } = expected;

    public bool IsNone => Kind == WireErrorKind.None;

    public string Message => Kind switch
    {
        WireErrorKind.None => "no error",
        WireErrorKind.MpaKey => "MPA key is neither \"MPA ID Req Frame\" nor \"MPA ID Rep Frame\"",
        WireErrorKind.MpaRevision => $"MPA Rev {Seen} is not supported; expected 0, 1 or 2",
        WireErrorKind.MpaPrivateDataTooLong => $"MPA PD_Length {Seen} exceeds the limit of {Expected} octets",
        WireErrorKind.MpaCrcMismatch => $"MPA CRC mismatch: the FPDU carries 0x{Seen:X8}, computed 0x{Expected:X8}",
        WireErrorKind.MpaMarkerPointer => $"MPA marker FPDUPTR is {Seen}, expected {Expected} (marker and ULPDU_Length disagree)",
        WireErrorKind.DdpTruncated => $"ULPDU of {Seen} octets is shorter than the {Expected}-octet DDP header",
        WireErrorKind.DdpVersion => $"DDP version (DV) {Seen}, expected 1",
        WireErrorKind.RdmapVersion => $"RDMAP version (RV) {Seen}, expected 1",
        WireErrorKind.RdmapOpcodeUnassigned => $"RDMAP opcode 0x{Seen:X} is unassigned (assigned: 0x0 to 0xB)",
        WireErrorKind.RdmapWrongBufferModel =>
            $"RDMAP {Rdmap.RdmapOpcodes.GetSpecName((Rdmap.RdmapOpcode)Seen)} must travel in a {(Expected != 0 ? "tagged" : "untagged")} DDP segment",
        WireErrorKind.ReadRequestLength => $"RDMA Read Request carries {Seen} octets after the DDP header, expected {Expected}",
        WireErrorKind.ImmediateDataLength => $"Immediate Data carries {Seen} octets after the DDP header, expected {Expected}",
        WireErrorKind.AtomicRequestLength => $"Atomic Request carries {Seen} octets after the DDP header, expected {Expected}",
        WireErrorKind.AtomicResponseLength => $"Atomic Response carries {Seen} octets after the DDP header, expected {Expected}",
        WireErrorKind.TerminateTruncated => $"Terminate carries {Seen} octets after the DDP header, expected at least {Expected}",
        WireErrorKind.TerminateDdpCopyTruncated => $"Terminate has D=1 but {Seen} octets follow the control word, expected {Expected} (segment length + DDP header copy)",
        WireErrorKind.TerminateRdmaCopyTruncated => $"Terminate has R=1 but {Seen} octets remain for the RDMA header copy, expected {Expected} (or none)",
        _ => $"wire error {(int)Kind}",
    };

    public override string ToString() => Message;
}
