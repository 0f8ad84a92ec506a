using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>An MPA Request or Reply as seen in the capture.</summary>
public sealed record MpaStartFrameSeen(MpaStartFrame Frame, FlowDirection Direction, long FrameNumber, long TimestampNanos);

/// <summary>Counts for one direction of an iWARP flow.</summary>
public sealed class IwarpDirectionStats
{
    public long Fpdus { get; internal set; }

    /// <summary>FPDU octets on the wire (ULPDU_Length fields, ULPDUs, pad, CRCs, markers).</summary>
    public long WireOctets { get; internal set; }

    /// <summary>FPDUs per RDMAP opcode (index = opcode, 0x0–0xF).</summary>
    public long[] Opcodes { get; } = new long[16];

    public long CrcGood { get; internal set; }
    public long CrcBad { get; internal set; }

    /// <summary>FPDUs that are not valid RDMAP messages (bad version, opcode, lengths).</summary>
    public long Malformed { get; internal set; }

    public int LargestFpdu { get; internal set; }

    /// <summary>FPDUs larger than the receiver's MSS.</summary>
    public long OverMss { get; internal set; }

    /// <summary>FPDUs that were partly in a capture gap (not decoded).</summary>
    public long DamagedByGaps { get; internal set; }

    /// <summary>Octets passed over while looking for FPDU boundaries (after gaps, lost framing, or at a mid-stream start).</summary>
    public long SkippedOctets { get; internal set; }

    /// <summary>Times framing had to be found again.</summary>
    public int Resyncs { get; internal set; }
}

/// <summary>What the decoder learned about one TCP flow: the MPA handshake, the negotiated parameters, counts and a verdict.</summary>
public sealed class IwarpFlowInfo
{
    private readonly IwarpDirectionStats[] _stats = [new(), new()];
    internal readonly bool[] MarkersByDirection = new bool[2];

    internal IwarpFlowInfo(TcpFlow tcp) => Tcp = tcp;

    public TcpFlow Tcp { get; }

    public int Id => Tcp.Id;

    public MpaStartFrameSeen? Request { get; internal set; }

    public MpaStartFrameSeen? Reply { get; internal set; }

    /// <summary>Every start frame that could be read, in order, including ones out of place (a second Request).</summary>
    public IReadOnlyList<MpaStartFrameSeen> StartFrames => StartFrameList;

    internal List<MpaStartFrameSeen> StartFrameList { get; } = [];

    /// <summary>The direction the MPA Request travelled (initiator → responder), when known.</summary>
    public FlowDirection? InitiatorDirection => Request?.Direction ?? (Reply is { } r ? Opposite(r.Direction) : null);

    /// <summary>True when either start frame had C=1: both sides generate and check CRCs.</summary>
    public bool CrcNegotiated { get; internal set; }

    /// <summary>True when the handshake was not seen and CRCs were found to verify, so they are checked as if negotiated.</summary>
    public bool CrcInferred { get; internal set; }

    /// <summary>CRCs are checked on this flow's FPDUs.</summary>
    public bool CrcChecked => CrcNegotiated || CrcInferred;

    /// <summary>True when the capture started after the handshake and framing was recovered from the FPDUs.</summary>
    public bool RecoveredMidStream { get; internal set; }

    /// <summary>Full operation was reached (an accepting Reply, or recovered framing).</summary>
    public bool FullOperation { get; internal set; }

    /// <summary>Any sign of MPA: a start frame or recovered FPDU framing.</summary>
    public bool IsIwarp => Request is not null || Reply is not null || RecoveredMidStream;

    /// <summary>First Terminate seen in each direction, if any.</summary>
    public TerminateHeader?[] Terminates { get; } = new TerminateHeader?[2];

    public FlowVerdict Verdict { get; internal set; } = FlowVerdict.Pending;

    /// <summary>True when the sender of <paramref name="direction"/> inserts markers (its peer's start frame had M=1).</summary>
    public bool MarkersIn(FlowDirection direction) => MarkersByDirection[(int)direction];

    public IwarpDirectionStats Stats(FlowDirection direction) => _stats[(int)direction];

    public long TotalFpdus => _stats[0].Fpdus + _stats[1].Fpdus;

    internal static FlowDirection Opposite(FlowDirection d) => d == FlowDirection.ClientToServer ? FlowDirection.ServerToClient : FlowDirection.ClientToServer;
}
