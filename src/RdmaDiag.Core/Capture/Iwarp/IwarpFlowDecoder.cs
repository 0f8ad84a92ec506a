using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>
/// The MPA/DDP/RDMAP consumer of one TCP flow: runs the two <see cref="MpaDirectionDecoder"/>s, settles the
/// handshake (roles, CRC, markers, RFC 6581 values), follows MSNs per queue and RDMA Reads across the two
/// directions, and makes the per-flow findings. State is bounded: two direction decoders, 8 MSN counters,
/// two queues of outstanding Read Requests of at most <see cref="MaxOutstandingReads"/> each.
/// </summary>
internal sealed class IwarpFlowDecoder : IStreamConsumer
{
    internal const int MaxOutstandingReads = 4096;

    private readonly IwarpCaptureDecoder _context;
    private readonly MpaDirectionDecoder[] _directions;
    private readonly MsnState[] _msn = new MsnState[8];
    private readonly bool[] _msnFromStart = [true, true];
    private readonly ReadQueue[] _reads = [new(), new()];
    private readonly bool[] _mssReported = new bool[2];
    private readonly int[] _payloadPerSegment = [-1, -1];
    private bool _readTrackingOff;
    private bool _startFailed;
    private bool _crcNoteReported;
    private bool _ended;
    private (string What, long Frame, long Timestamp)? _close;

    private struct MsnState
    {
        public uint Last;
        public bool Known;
        /// <summary>The last segment seen had L=0: the message continues.</summary>
        public bool Open;
    }

    private readonly record struct OutstandingRead(uint SinkSTag, ulong NextTo, long Remaining, long Frame);

    /// <summary>Read Requests waiting for their Read Responses, oldest first (responders answer in order).</summary>
    private sealed class ReadQueue
    {
        private OutstandingRead[] _items = new OutstandingRead[8];
        private int _head;

        public int Count { get; private set; }

        public ref OutstandingRead Peek() => ref _items[_head];

        public ref OutstandingRead At(int i) => ref _items[(_head + i) % _items.Length];

        public bool Enqueue(in OutstandingRead read)
        {
            if (Count == MaxOutstandingReads)
            {
                return false;
            }
            if (Count == _items.Length)
            {
                var bigger = new OutstandingRead[_items.Length * 2];
                for (var i = 0; i < Count; i++)
                {
                    bigger[i] = At(i);
                }
                _items = bigger;
                _head = 0;
            }
            _items[(_head + Count) % _items.Length] = read;
            Count++;
            return true;
        }

        public void Dequeue(int n = 1)
        {
            _head = (_head + n) % _items.Length;
            Count -= n;
        }

        public void Clear()
        {
            _head = 0;
            Count = 0;
        }
    }

    public IwarpFlowDecoder(IwarpCaptureDecoder context, TcpFlow tcp)
    {
        _context = context;
        Tcp = tcp;
        Info = new IwarpFlowInfo(tcp);
        _directions = [new MpaDirectionDecoder(this, FlowDirection.ClientToServer), new MpaDirectionDecoder(this, FlowDirection.ServerToClient)];
        if (!tcp.HandshakeSeen)
        {
            _msnFromStart[0] = _msnFromStart[1] = false;
        }
    }

    public TcpFlow Tcp { get; }

    public IwarpFlowInfo Info { get; }

    /// <summary>The last frame that delivered octets to this flow.</summary>
    public long LastFrame { get; private set; }

    internal MpaDirectionDecoder Direction(FlowDirection d) => _directions[(int)d];

    public string Describe(FlowDirection d) => Tcp.Describe(d);

    private string Sender(FlowDirection d) => Tcp.Sender(d).Endpoint.ToString();

    private string Receiver(FlowDirection d) => Tcp.Receiver(d).Endpoint.ToString();

    /// <summary>Counts the finding; true when it is to be listed (the flow has not had its share of this rule).</summary>
    public bool Admit(FindingRule rule) => _context.Admit(rule, Tcp.Id);

    /// <summary>Reports a finding; the message is only formatted when <see cref="Admit"/> lets it through.</summary>
    public void Report(FindingRule rule, long frame, [InterpolatedStringHandlerArgument("", "rule")] ref FindingMessage message, string? fix = null)
    {
        if (message.Admitted)
        {
            _context.Add(rule, Tcp.Id, frame, message.ToStringAndClear(), fix);
        }
    }

    // ---- IStreamConsumer ----

    public void OnData(FlowDirection direction, uint seq, ReadOnlySpan<byte> data, long frame, long timestampNanos)
    {
        LastFrame = frame;
        _directions[(int)direction].OnData(data, frame, timestampNanos);
    }

    public void OnGap(FlowDirection direction, uint seq, uint length, GapReason reason, long frame, long timestampNanos) =>
        _directions[(int)direction].OnGap(length, frame, timestampNanos);

    public void OnFin(FlowDirection direction, uint seq, long frame, long timestampNanos)
    {
        _close ??= ($"{Sender(direction)} closed its side (FIN, frame {frame})", frame, timestampNanos);
        _directions[(int)direction].OnEnd(frame);
    }

    public void OnRst(FlowDirection direction, uint seq, long frame, long timestampNanos)
    {
        _close ??= ($"{Sender(direction)} reset the connection (frame {frame})", frame, timestampNanos);
        foreach (var d in _directions)
        {
            d.OnEnd(frame);
        }
    }

    public void OnEnd()
    {
        if (_ended)
        {
            return;
        }
        _ended = true;
        foreach (var d in _directions)
        {
            d.OnEnd(LastFrame);
        }
        if (Info.Request is { } request && Info.Reply is null && !_startFailed)
        {
            var (until, endTs) = _close is { } c
                ? (c.What, c.Timestamp)
                : ("the capture ended", Math.Max(_context.LastTimestampNanos, Tcp.LastTimestampNanos));
            var seconds = (endTs - request.TimestampNanos) / 1e9;
            Report(IwarpRules.RequestNoReply, request.FrameNumber,
                $"{Sender(request.Direction)} sent an MPA Request (frame {request.FrameNumber}) to {Receiver(request.Direction)}; no MPA Reply came in the {seconds:0.###} s until {until}.");
        }
    }

    // ---- Start frames ----

    internal void OnStartFrame(MpaDirectionDecoder d, in MpaStartFrame frame, long frameNumber, long ts)
    {
        var seen = new MpaStartFrameSeen(frame, d.Direction, frameNumber, ts);
        Info.StartFrameList.Add(seen);
        if (!frame.IsReply)
        {
            if (Info.Request is { } earlier)
            {
                var what = earlier.Direction == d.Direction ? "a second MPA Request in the same direction" : "an MPA Request too: both ends act as initiator (active/active), which MPA does not support";
                Report(IwarpRules.InvalidStartFrame, frameNumber, $"{Sender(d.Direction)} sent {what} (the first was frame {earlier.FrameNumber}).");
                CloseAll();
                return;
            }
            Info.Request = seen;
            CheckStartFrame(seen);
            d.AwaitReply();
            if (Info.Reply is { } early && early.Direction != d.Direction && !early.Frame.Rejected)
            {
                // The capture holds the Reply before the Request (frames from two interfaces, reordered): settle now.
                Negotiate(early.Frame);
                d.EnterFullOperation(Info.MarkersIn(d.Direction));
            }
            return;
        }
        if (Info.Reply is { } first)
        {
            Report(IwarpRules.InvalidStartFrame, frameNumber, $"{Sender(d.Direction)} sent a second MPA Reply (the first was frame {first.FrameNumber}).");
            d.Close();
            return;
        }
        if (Info.Request is { } req && req.Direction == d.Direction)
        {
            Report(IwarpRules.InvalidStartFrame, frameNumber, $"{Sender(d.Direction)} sent both the MPA Request (frame {req.FrameNumber}) and an MPA Reply.");
            CloseAll();
            return;
        }
        Info.Reply = seen;
        CheckStartFrame(seen);
        var initiator = _directions[1 - (int)d.Direction];
        if (frame.Rejected)
        {
            Report(IwarpRules.ReplyRejected, frameNumber,
                $"{Sender(d.Direction)} rejected the connection from {Receiver(d.Direction)}: MPA Reply (frame {frameNumber}) with R=1{(Info.Request is { } r ? $", {(ts - r.TimestampNanos) / 1e6:0.###} ms after the Request" : "")}. {DescribePrivateData(frame)}");
            CloseAll();
            return;
        }
        Negotiate(frame);
        Info.FullOperation = true;
        if (initiator.HeldEarlyOctets)
        {
            Report(IwarpRules.EarlyFpdu, initiator.FirstHeldFrame,
                $"{Sender(initiator.Direction)} sent octets after its MPA Request (frame {Info.Request?.FrameNumber}) before the Reply (frame {frameNumber}) arrived.");
        }
        d.EnterFullOperation(Info.MarkersIn(d.Direction));
        // A silent initiator of a connection captured from its SYN has its Request still to come (frames reordered);
        // one captured mid-connection sent it before the capture began, so what it sends next is FPDUs.
        if (initiator.Phase == DirectionPhase.AwaitReply || initiator.Phase == DirectionPhase.Detect && !Tcp.HandshakeSeen)
        {
            initiator.EnterFullOperation(Info.MarkersIn(initiator.Direction));
            initiator.Resume();
        }
    }

    private void CheckStartFrame(MpaStartFrameSeen seen)
    {
        var f = seen.Frame;
        var kind = f.IsReply ? "Reply" : "Request";
        if (f.MarkersRequired)
        {
            Report(IwarpRules.MarkersRequested, seen.FrameNumber,
                $"The MPA {kind} (frame {seen.FrameNumber}) from {Sender(seen.Direction)} has M=1: it asks {Receiver(seen.Direction)} to insert markers into everything it sends.");
        }
        if (f.IsEnhancedBlockMissing)
        {
            Report(IwarpRules.InvalidStartFrame, seen.FrameNumber,
                $"The MPA {kind} (frame {seen.FrameNumber}) from {Sender(seen.Direction)} has S=1 at Rev {f.Rev} but PD_Length {f.PrivateData.Length}: no room for the 4-octet RFC 6581 block (Linux siw answers R=1).");
        }
    }

    private void Negotiate(in MpaStartFrame reply)
    {
        var responder = Info.Reply!.Direction;
        var initiator = IwarpFlowInfo.Opposite(responder);
        if (Info.Request is not { } seenRequest)
        {
            // The capture starts between Request and Reply: only the Reply's half of the parameters is known.
            Info.CrcNegotiated = reply.CrcPreferred;
            Info.MarkersByDirection[(int)initiator] = reply.MarkersRequired;
            return;
        }
        var request = seenRequest.Frame;
        Info.CrcNegotiated = request.CrcPreferred || reply.CrcPreferred;
        Info.MarkersByDirection[(int)initiator] = reply.MarkersRequired;
        Info.MarkersByDirection[(int)responder] = request.MarkersRequired;
        if (request.Rev != reply.Rev)
        {
            Report(IwarpRules.RevisionMismatch, Info.Reply.FrameNumber,
                $"The MPA Request (frame {seenRequest.FrameNumber}) has Rev {request.Rev}, the Reply (frame {Info.Reply.FrameNumber}) Rev {reply.Rev}.");
        }
        if (request.V2Block is { } ask && reply.V2Block is { } got)
        {
            var problems = new List<string>();
            if (ask.Ord != MpaV2Block.NoNegotiation && got.Ird != MpaV2Block.NoNegotiation && got.Ird < ask.Ord)
            {
                problems.Add($"the responder's IRD {got.Ird} is below the initiator's ORD {ask.Ord} (the initiator would need Terminate code 6, insufficient IRD, unless it lowers its ORD)");
            }
            if (ask.Ird != MpaV2Block.NoNegotiation && got.Ord != MpaV2Block.NoNegotiation && got.Ord > ask.Ird)
            {
                problems.Add($"the responder's ORD {got.Ord} exceeds the initiator's IRD {ask.Ird}");
            }
            if (ask.PeerToPeer && !got.PeerToPeer)
            {
                problems.Add("the initiator asked for peer-to-peer mode (A=1) but the Reply has A=0");
            }
            if (ask.PeerToPeer && got.PeerToPeer && !(ask.SendRtr && got.SendRtr || ask.WriteRtr && got.WriteRtr || ask.ReadRtr && got.ReadRtr))
            {
                problems.Add($"no RTR type both sides support (initiator can send {Rtrs(ask)}, responder accepts {Rtrs(got)}): the initiator must send Terminate code 7");
            }
            if (problems.Count > 0)
            {
                var reply1 = Info.Reply.FrameNumber;
                Report(IwarpRules.V2Negotiation, reply1, $"RFC 6581 values ({ask} in frame {seenRequest.FrameNumber}; {got} in frame {reply1}): {string.Join("; ", problems)}.");
            }
        }
    }

    private static string Rtrs(MpaV2Block b) => Names("none", "/", (b.SendRtr, "Send"), (b.WriteRtr, "Write"), (b.ReadRtr, "Read"));

    /// <summary>The names whose flag is set, joined, or <paramref name="none"/>.</summary>
    internal static string Names(string none, string separator, params ReadOnlySpan<(bool Set, string Name)> flags)
    {
        var names = new List<string>(flags.Length);
        foreach (var (set, name) in flags)
        {
            if (set)
            {
                names.Add(name);
            }
        }
        return names.Count == 0 ? none : string.Join(separator, names);
    }

    /// <summary>Private data as hex, with the printable ASCII beside it, and the RFC 6581 block.</summary>
    internal static string DescribePrivateData(in MpaStartFrame frame)
    {
        var pd = frame.PrivateData.Span;
        var sb = new StringBuilder();
        if (frame.V2Block is { } block)
        {
            sb.Append($"RFC 6581 block: {block}. ");
        }
        if (pd.IsEmpty)
        {
            sb.Append("No private data.");
            return sb.ToString();
        }
        const int shown = 64;
        sb.Append($"Private data ({pd.Length} octets): {Convert.ToHexString(pd[..Math.Min(pd.Length, shown)])}{(pd.Length > shown ? "…" : "")}");
        var printable = 0;
        foreach (var b in pd)
        {
            printable += b is >= 0x20 and < 0x7F ? 1 : 0;
        }
        if (printable * 4 >= pd.Length * 3)
        {
            var text = new StringBuilder();
            foreach (var b in pd[..Math.Min(pd.Length, shown)])
            {
                text.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
            }
            sb.Append($" \"{text}\"");
        }
        sb.Append('.');
        return sb.ToString();
    }

    internal void OnNotStartFrame(MpaDirectionDecoder d, long frame)
    {
        if (Info.Request is { } request && request.Direction != d.Direction)
        {
            Report(IwarpRules.InvalidStartFrame, frame,
                $"{Sender(d.Direction)} answered the MPA Request (frame {request.FrameNumber}) with octets that are not an MPA Reply.");
            CloseAll();
            return;
        }
        if (Tcp.HandshakeSeen)
        {
            // The stream was seen from its first octet and does not start with an MPA start frame: not MPA.
            d.Close();
            return;
        }
        d.SearchFromHere(frame);
    }

    internal void OnInvalidStartFrame(MpaDirectionDecoder d, WireError error, long frame)
    {
        Report(IwarpRules.InvalidStartFrame, frame, $"{Sender(d.Direction)} sent an MPA start frame that cannot be read: {error.Message}.");
        CloseAll();
    }

    internal void OnAwaitOverflow(MpaDirectionDecoder d, long frame)
    {
        Report(IwarpRules.EarlyFpdu, frame,
            $"{Sender(d.Direction)} kept sending after its MPA Request (frame {Info.Request?.FrameNumber}) without an MPA Reply; those octets are not decoded.");
        d.Close();
    }

    internal void OnNoFraming(MpaDirectionDecoder d) => d.Close();

    private void CloseAll()
    {
        _startFailed = true;
        foreach (var d in _directions)
        {
            d.Close();
        }
    }

    // ---- Framing events ----

    internal void OnDirectionGap(MpaDirectionDecoder d)
    {
        ResetMsn(d.Direction);
        // A lost Read Request or Read Response would make every later match wrong: stop matching.
        _readTrackingOff = true;
        foreach (var q in _reads)
        {
            q.Clear();
        }
    }

    private void ResetMsn(FlowDirection d)
    {
        _msnFromStart[(int)d] = false;
        for (var qn = 0; qn < 4; qn++)
        {
            _msn[(int)d * 4 + qn] = default;
        }
    }

    internal void OnResynchronised(MpaDirectionDecoder d, SearchReason reason, long searchFrame, long frame, long offset, long skipped,
        long gapOctets, int chain, bool crcVerified, bool byMarker)
    {
        var how = byMarker ? "a marker's FPDU pointer"
            : crcVerified ? "an FPDU whose CRC32c verifies"
            : $"a chain of {chain} valid FPDUs";
        ResetMsn(d.Direction);
        switch (reason)
        {
            case SearchReason.MidStream:
                var first = !Info.RecoveredMidStream;
                Info.RecoveredMidStream = true;
                Info.FullOperation = true;
                _readTrackingOff = true;
                if (crcVerified && !Info.CrcNegotiated && Info.Request is null && Info.Reply is null)
                {
                    Info.CrcInferred = true;
                }
                Report(IwarpRules.MidStream, frame,
                    $"{Describe(d.Direction)}: {(first ? "the capture starts after the MPA handshake; " : "")}FPDU framing recovered at frame {frame} (stream offset {offset}) from {how}, after {skipped} octets{(Info.CrcInferred ? "; CRCs verify, so they are checked" : "")}.");
                break;
            case SearchReason.Gap:
                Report(IwarpRules.Resync, frame,
                    $"{Describe(d.Direction)}: after {(gapOctets > 0 ? $"{gapOctets} octets" : "octets")} missing from the capture (known at frame {searchFrame}), FPDU boundaries were found again at frame {frame} (stream offset {offset}) from {how}; {skipped} captured octets were passed over.");
                break;
            case SearchReason.FramingLost:
                Report(IwarpRules.Resync, frame,
                    $"{Describe(d.Direction)}: after the framing was lost (frame {searchFrame}), FPDU boundaries were found again at frame {frame} (stream offset {offset}) from {how}; {skipped} octets were passed over.");
                break;
        }
    }

    internal void OnUnnegotiatedCrcVerified(FlowDirection d, long frame)
    {
        if (Info.Request is null && Info.Reply is null)
        {
            // No handshake seen: valid CRCs mean the flow uses them.
            Info.CrcInferred = true;
            return;
        }
        if (!_crcNoteReported)
        {
            _crcNoteReported = true;
            Report(IwarpRules.CrcUnnegotiated, frame,
                $"FPDUs from {Sender(d)} carry valid CRC32c values although neither start frame set C=1.");
        }
    }

    // ---- FPDUs ----

    internal void OnFpdu(in IwarpFpdu f)
    {
        var dir = f.Direction;
        var stats = Info.Stats(dir);
        stats.Fpdus++;
        stats.WireOctets += f.WireLength;
        if (f.WireLength > stats.LargestFpdu)
        {
            stats.LargestFpdu = f.WireLength;
        }
        switch (f.Crc)
        {
            case CrcStatus.Good:
                stats.CrcGood++;
                break;
            case CrcStatus.Bad:
                stats.CrcBad++;
                Report(IwarpRules.CrcBad, f.Frame,
                    $"{Describe(dir)}: the FPDU at stream offset {f.StreamOffset} (ULPDU_Length {f.UlpduLength}) carries CRC 0x{ReverseBytes(f.CrcFieldValue):X8}, its contents give 0x{f.ComputedCrc:X8}.");
                break;
        }
        CheckMss(f, stats);
        if (f.HasDdp)
        {
            stats.Opcodes[(int)f.Opcode]++;
        }
        var error = f.Error.Kind;
        if (error == WireErrorKind.None)
        {
            Follow(f);
        }
        else if (error is WireErrorKind.DdpVersion or WireErrorKind.RdmapVersion)
        {
            CheckVersions(f);
            Follow(f);
        }
        else
        {
            stats.Malformed++;
            Report(IwarpRules.Malformed, f.Frame, $"{Describe(dir)}: {f.Error.Message} (FPDU at stream offset {f.StreamOffset}, ULPDU_Length {f.UlpduLength}).");
            if (f.HasDdp)
            {
                CheckVersions(f);
            }
        }
        _context.Emit(in f);
    }

    /// <summary>
    /// Counts a valid header-less message (see <see cref="MpaDirectionDecoder"/>) straight from its octets when
    /// nothing about it needs a record: no FPDU sink, CRC not bad, within the MSS, not a Read Response, and for
    /// untagged messages the right queue and the expected MSN. Exactly what <see cref="OnFpdu"/> would do for
    /// it; false, with nothing changed, when <see cref="OnFpdu"/> has to look.
    /// </summary>
    internal bool TryCountPlain(FlowDirection dir, ReadOnlySpan<byte> ulpdu, int wireLength, CrcStatus crc)
    {
        if (crc == CrcStatus.Bad || _context.HasFrameSink || wireLength > _payloadPerSegment[(int)dir])
        {
            return false;
        }
        var opcode = (RdmapOpcode)(ulpdu[1] & RdmapControl.OpcodeMask);
        if ((ulpdu[0] & Wire.Ddp.DdpHeader.TaggedFlag) == 0)
        {
            // Untagged: RsvdULP(4) QN(4) MSN(4) MO(4) after the two control octets.
            int qn = QueueByOpcode[(int)opcode];
            if (qn > 3 || BinaryPrimitives.ReadUInt32BigEndian(ulpdu[6..]) != (uint)qn)
            {
                return false;
            }
            ref var s = ref _msn[(int)dir * 4 + qn];
            var msn = BinaryPrimitives.ReadUInt32BigEndian(ulpdu[10..]);
            if (!s.Known || msn != (s.Open ? s.Last : unchecked(s.Last + 1)))
            {
                return false;
            }
            s.Last = msn;
            s.Open = (ulpdu[0] & Wire.Ddp.DdpHeader.LastFlag) == 0;
        }
        else if (opcode == RdmapOpcode.RdmaReadResponse)
        {
            return false;
        }
        var stats = Info.Stats(dir);
        stats.Fpdus++;
        stats.WireOctets += wireLength;
        if (wireLength > stats.LargestFpdu)
        {
            stats.LargestFpdu = wireLength;
        }
        if (crc == CrcStatus.Good)
        {
            stats.CrcGood++;
        }
        stats.Opcodes[(int)opcode]++;
        return true;
    }

    /// <summary><see cref="RdmapOpcodes.QueueNumber"/> for the 16 opcodes, 0xFF where it is -1.</summary>
    private static readonly byte[] QueueByOpcode = Enumerable.Range(0, 16).Select(o => (byte)RdmapOpcodes.QueueNumber((RdmapOpcode)o)).ToArray();

    private static uint ReverseBytes(uint v) => BinaryPrimitives.ReverseEndianness(v);

    private void CheckMss(in IwarpFpdu f, IwarpDirectionStats stats)
    {
        ref var effective = ref _payloadPerSegment[(int)f.Direction];
        if (effective < 0)
        {
            // Known once the FPDUs flow (the SYNs came first); with TCP timestamps on both sides every segment carries 12 option octets.
            var announced = Tcp.Receiver(f.Direction).Mss;
            effective = announced == 0 ? int.MaxValue : announced - (Tcp.Client.Timestamps && Tcp.Server.Timestamps ? 12 : 0);
        }
        if (f.WireLength <= effective)
        {
            return;
        }
        var mss = Tcp.Receiver(f.Direction).Mss;
        stats.OverMss++;
        if (!_mssReported[(int)f.Direction])
        {
            _mssReported[(int)f.Direction] = true;
            Report(IwarpRules.FpduExceedsMss, f.Frame,
                $"{Describe(f.Direction)}: an FPDU of {f.WireLength} octets (ULPDU_Length {f.UlpduLength}) exceeds the {effective} octets of payload a segment to {Receiver(f.Direction)} can carry (MSS {mss}{(effective != mss ? " less 12 for TCP timestamps" : "")}).");
        }
    }

    private void CheckVersions(in IwarpFpdu f)
    {
        if (f.Ddp.Dv != Wire.Ddp.DdpHeader.CurrentVersion)
        {
            Report(IwarpRules.DdpVersion, f.Frame, $"{Describe(f.Direction)}: {RdmapOpcodes.GetSpecName(f.Opcode)} segment with DDP version {f.Ddp.Dv} (stream offset {f.StreamOffset}).{Rdmac()}");
        }
        if (f.Control.Version != RdmapControl.CurrentVersion)
        {
            Report(IwarpRules.RdmapVersion, f.Frame, $"{Describe(f.Direction)}: {RdmapOpcodes.GetSpecName(f.Opcode)} with RDMAP version {f.Control.Version} (stream offset {f.StreamOffset}).{Rdmac()}");
        }
    }

    private string Rdmac() => Info.Request?.Frame.Rev == 0 || Info.Reply?.Frame.Rev == 0 ? " The MPA handshake used Rev 0 (RDMAC)." : "";

    /// <summary>Follows the message sequence: MSNs per queue, Read Requests and their Responses, Terminates.</summary>
    private void Follow(in IwarpFpdu f)
    {
        var dir = f.Direction;
        var opcode = f.Opcode;
        if (!f.Ddp.Tagged)
        {
            var expectedQn = RdmapOpcodes.QueueNumber(opcode);
            if (f.Ddp.QueueNumber != (uint)expectedQn)
            {
                Info.Stats(dir).Malformed++;
                Report(IwarpRules.Malformed, f.Frame,
                    $"{Describe(dir)}: {RdmapOpcodes.GetSpecName(opcode)} on DDP queue {f.Ddp.QueueNumber}; it belongs on queue {expectedQn} (stream offset {f.StreamOffset}).");
                return;
            }
            FollowMsn(f, expectedQn);
        }
        switch (opcode)
        {
            case RdmapOpcode.RdmaReadRequest:
                var rr = f.Header.ReadRequest;
                if (!_readTrackingOff && !_reads[(int)dir].Enqueue(new OutstandingRead(rr.SinkSTag, rr.SinkTO, rr.ReadSize, f.Frame)))
                {
                    _readTrackingOff = true;
                }
                break;
            case RdmapOpcode.RdmaReadResponse:
                MatchReadResponse(f);
                break;
            case RdmapOpcode.Terminate:
                ReportTerminate(f);
                break;
        }
    }

    private void FollowMsn(in IwarpFpdu f, int qn)
    {
        ref var s = ref _msn[(int)f.Direction * 4 + qn];
        var msn = f.Ddp.MessageSequenceNumber;
        var last = f.Ddp.Last;
        string? problem = null;
        if (!s.Known)
        {
            if (_msnFromStart[(int)f.Direction] && msn != 1)
            {
                problem = $"the first message on queue {qn} has MSN {msn}, expected 1";
            }
        }
        else if (s.Open)
        {
            if (msn != s.Last)
            {
                problem = $"message MSN {s.Last} on queue {qn} had no last segment (L=1) before MSN {msn} began";
            }
        }
        else if (msn != unchecked(s.Last + 1))
        {
            var ahead = unchecked(msn - (s.Last + 1));
            problem = msn == s.Last ? $"MSN {msn} on queue {qn} was used twice"
                : ahead < 0x8000_0000u ? $"MSN on queue {qn} jumped from {s.Last} to {msn}: {ahead} message{(ahead == 1 ? "" : "s")} missing"
                : $"MSN on queue {qn} went back from {s.Last} to {msn}";
        }
        if (problem is not null)
        {
            Report(IwarpRules.MsnGap, f.Frame, $"{Describe(f.Direction)}: {problem} ({RdmapOpcodes.GetSpecName(f.Opcode)} at stream offset {f.StreamOffset}).");
        }
        s.Known = true;
        s.Last = msn;
        s.Open = !last;
    }

    private void MatchReadResponse(in IwarpFpdu f)
    {
        if (_readTrackingOff)
        {
            return;
        }
        var requester = IwarpFlowInfo.Opposite(f.Direction);
        var queue = _reads[(int)requester];
        var stag = f.Ddp.STag;
        var to = f.Ddp.TaggedOffset;
        if (queue.Count == 0)
        {
            Report(IwarpRules.ReadResponseUnmatched, f.Frame,
                $"{Sender(f.Direction)} sent an RDMA Read Response (sink STag 0x{stag:X8}, TO 0x{to:X}, {f.PayloadLength} octets) but {Sender(requester)} had no RDMA Read Request outstanding.");
            return;
        }
        ref var head = ref queue.Peek();
        if (head.SinkSTag != stag)
        {
            var found = -1;
            for (var i = 1; i < queue.Count && found < 0; i++)
            {
                if (queue.At(i).SinkSTag == stag)
                {
                    found = i;
                }
            }
            Report(IwarpRules.ReadResponseUnmatched, f.Frame,
                $"{Sender(f.Direction)} sent an RDMA Read Response to sink STag 0x{stag:X8}, but the oldest outstanding RDMA Read Request (frame {head.Frame}) asked for sink STag 0x{head.SinkSTag:X8}{(found > 0 ? $"; it answers a later request (frame {queue.At(found).Frame}), so responses are out of order" : "; no outstanding request names that STag")}.");
            if (found < 0)
            {
                return;
            }
            queue.Dequeue(found);
            head = ref queue.Peek();
        }
        if (head.NextTo != to || f.PayloadLength > head.Remaining)
        {
            Report(IwarpRules.ReadResponseUnmatched, f.Frame,
                $"{Sender(f.Direction)} sent an RDMA Read Response at TO 0x{to:X} with {f.PayloadLength} octets; the RDMA Read Request (frame {head.Frame}) expects TO 0x{head.NextTo:X} with {head.Remaining} octets still to come.");
        }
        head = head with { NextTo = unchecked(to + (ulong)f.PayloadLength), Remaining = head.Remaining - f.PayloadLength };
        if (f.Ddp.Last)
        {
            if (head.Remaining > 0)
            {
                Report(IwarpRules.ReadResponseUnmatched, f.Frame,
                    $"{Sender(f.Direction)} ended an RDMA Read Response (L=1) {head.Remaining} octets short of the RDMA Read Request (frame {head.Frame}).");
            }
            queue.Dequeue();
        }
    }

    private void ReportTerminate(in IwarpFpdu f)
    {
        var t = f.Header.Terminate;
        Info.Terminates[(int)f.Direction] ??= t;
        if (!Admit(IwarpRules.Terminate))
        {
            return;
        }
        var e = t.Error;
        var sb = new StringBuilder();
        sb.Append($"{Sender(f.Direction)} terminated the connection: {e.Description} (layer {t.LayerValue} {TerminateErrors.LayerName(t.LayerValue)}, error type {t.EType}, code 0x{t.ErrorCode:X2}; {e.Name}).");
        if (TerminateErrors.IsCxgb4MpaEncoding(t.LayerValue, t.EType))
        {
            sb.Append(" Layer 2 with error type 3 is how Chelsio cxgb4 sends MPA errors.");
        }
        if (t.SiwBitfieldLayout)
        {
            sb.Append(" Terminate in Linux siw's little-endian bitfield layout (EType in the high nibble of the first octet, M/D/R as 0x01/0x02/0x04 of the third); decoded as siw meant it.");
        }
        if (t.CopiedDdpHeader is { } ddp)
        {
            sb.Append($" The offending segment: {ddp}; DDP segment length {t.DdpSegmentLength}{(t.SegmentLengthValid ? "" : " (M=0: not valid)")}.");
        }
        if (t.CopiedReadRequest is { } rr)
        {
            sb.Append($" Its RDMA Read Request: sink STag 0x{rr.SinkSTag:X8} TO 0x{rr.SinkTO:X}, {rr.ReadSize} octets from source STag 0x{rr.SourceSTag:X8} TO 0x{rr.SourceTO:X}.");
        }
        else if (t.RdmaHeaderMissing)
        {
            sb.Append(" R=1, but no RDMA header copy follows (as Linux siw sends for Send errors).");
        }
        _context.Add(IwarpRules.Terminate, Tcp.Id, f.Frame, sb.ToString(), TerminateAdvice.For(e));
    }
}
