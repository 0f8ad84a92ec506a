using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>Where one direction of a flow is in the MPA protocol, as far as the decoder can tell.</summary>
internal enum DirectionPhase : byte
{
    /// <summary>Nothing decided: the first octets should be an MPA start frame.</summary>
    Detect,
    /// <summary>The initiator's Request was seen; its later octets wait for the Reply's parameters.</summary>
    AwaitReply,
    /// <summary>Full operation with known FPDU boundaries.</summary>
    Fpdus,
    /// <summary>FPDU boundaries are unknown (mid-stream start, after a gap, after lost framing): searching.</summary>
    Search,
    /// <summary>Nothing more to decode in this direction (not MPA, rejected, a broken start frame).</summary>
    Closed,
}

/// <summary>Why a direction is searching for FPDU boundaries.</summary>
internal enum SearchReason : byte
{
    MidStream,
    Gap,
    FramingLost,
}

/// <summary>
/// Frames one direction of a flow: the MPA start frame, then FPDUs across and within segments (de-marked when
/// markers are on, CRC-checked when negotiated), handing each to the flow. While boundaries are known and no
/// FPDU straddles a segment, FPDUs are decoded straight from the segment's span; octets are copied only to
/// complete a straddling FPDU or while searching. Buffers are rented, bounded (<see cref="MaxHeld"/>) and
/// returned when the flow ends.
/// </summary>
internal sealed class MpaDirectionDecoder
{
    /// <summary>Most octets held while searching or waiting: four of the longest marked FPDUs, so a chain always fits.</summary>
    internal const int MaxHeld = 4 * (Fpdu.MaxLength + 4 * 132) + 64;

    /// <summary>A mid-stream direction that shows no FPDU chain within this many octets is not MPA.</summary>
    internal const int MidStreamGiveUp = 1 << 20;

    private const int CrcProbes = 8;

    private readonly IwarpFlowDecoder _flow;
    private readonly List<Mark> _marks = [];
    private byte[]? _held;
    private int _front;
    private int _end;
    private byte[]? _scratch;
    private long _pos;
    private long _skip;
    private int _need;
    private int _unverifiedMalformed;
    private int _crcProbesLeft = CrcProbes;
    private SearchReason _searchReason;
    private long _searchFrame;
    private long _searchSkipped;
    private long _searchGapOctets;
    private long _searchFrom;
    private bool _gapWhileWaiting;

    /// <summary>Which frame delivered the octets from <paramref name="Offset"/> on.</summary>
    private readonly record struct Mark(long Offset, long Frame, long Timestamp);

    public MpaDirectionDecoder(IwarpFlowDecoder flow, FlowDirection direction)
    {
        _flow = flow;
        Direction = direction;
    }

    public FlowDirection Direction { get; }

    public DirectionPhase Phase { get; private set; }

    /// <summary>Stream offset of the first octet of full operation (the marker origin), or -1 while unknown.</summary>
    public long SeqStart { get; private set; } = -1;

    /// <summary>This direction's sender inserts markers.</summary>
    public bool Markers { get; private set; }

    /// <summary>True while the initiator's octets after its Request wait for the Reply.</summary>
    public bool HeldEarlyOctets => Phase == DirectionPhase.AwaitReply && _end > _front;

    /// <summary>The frame that delivered the first held octet.</summary>
    public long FirstHeldFrame => FrameAt(HeldStart);

    private IwarpDirectionStats Stats => _flow.Info.Stats(Direction);

    private int HeldCount => _end - _front;

    private long HeldStart => _pos - HeldCount;

    private ReadOnlySpan<byte> Held => _held.AsSpan(_front, HeldCount);

    // ---- Octets in ----

    public void OnData(ReadOnlySpan<byte> data, long frame, long ts)
    {
        if (_skip > 0)
        {
            var n = (int)Math.Min(_skip, data.Length);
            _skip -= n;
            _pos += n;
            data = data[n..];
        }
        if (data.IsEmpty)
        {
            return;
        }
        if (Phase == DirectionPhase.Closed)
        {
            _pos += data.Length;
            return;
        }
        if (Phase == DirectionPhase.Fpdus)
        {
            data = CompleteHeld(data, frame, ts);
            if (HeldCount == 0 && Phase == DirectionPhase.Fpdus && !data.IsEmpty)
            {
                data = FromSegment(data, frame, ts);
            }
            if (data.IsEmpty)
            {
                return;
            }
        }
        if (Phase == DirectionPhase.Closed)
        {
            _pos += data.Length;
            return;
        }
        Hold(data, frame, ts);
        Drain(atEnd: false);
    }

    public void OnGap(long length, long frame, long ts)
    {
        _flow.OnDirectionGap(this);
        switch (Phase)
        {
            case DirectionPhase.Closed:
                break;
            case DirectionPhase.Detect:
                DropHeld();
                StartSearch(SearchReason.Gap, frame, length);
                break;
            case DirectionPhase.AwaitReply:
                DropHeld();
                _gapWhileWaiting = true;
                break;
            case DirectionPhase.Search:
                _searchSkipped += HeldCount;
                _searchGapOctets += length;
                DropHeld();
                break;
            case DirectionPhase.Fpdus:
                GapInFpdus(length, frame);
                break;
        }
        _pos += length;
    }

    /// <summary>No more octets in this direction (FIN, RST, end of capture).</summary>
    public void OnEnd(long frame)
    {
        if (Phase == DirectionPhase.Search && HeldCount > 0)
        {
            Drain(atEnd: true);
        }
        if (Phase == DirectionPhase.Fpdus && _skip > 0)
        {
            _flow.Report(IwarpRules.Truncated, frame,
                $"{_flow.Describe(Direction)}: the stream ended inside an FPDU whose last {_skip} octets were never captured.");
            _skip = 0;
        }
        if (HeldCount > 0)
        {
            switch (Phase)
            {
                case DirectionPhase.Fpdus:
                    var total = Need(Held, HeldStart);
                    var need = total > 0 ? $" of {total}" : "";
                    _flow.Report(IwarpRules.Truncated, FrameAt(HeldStart),
                        $"{_flow.Describe(Direction)}: the stream ended {HeldCount}{need} octets into an FPDU (at stream offset {HeldStart}).");
                    break;
                case DirectionPhase.Detect:
                    _flow.Report(IwarpRules.Truncated, FrameAt(HeldStart),
                        $"{_flow.Describe(Direction)}: the stream ended after {HeldCount} octets of what starts like an MPA start frame.");
                    break;
                case DirectionPhase.Search:
                    Stats.SkippedOctets += HeldCount;
                    break;
            }
        }
        Release();
    }

    public void Release()
    {
        DropHeld();
        if (_held is not null)
        {
            ArrayPool<byte>.Shared.Return(_held);
            _held = null;
        }
        if (_scratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = null;
        }
    }

    // ---- Phase changes made by the flow ----

    /// <summary>Full operation starts: at the octet after this direction's start frame (known since <see cref="AwaitReply"/>), or here.</summary>
    public void EnterFullOperation(bool markers)
    {
        Markers = markers;
        if (SeqStart < 0)
        {
            SeqStart = HeldStart;
        }
        _need = 0;
        if (_gapWhileWaiting)
        {
            StartSearch(SearchReason.Gap, FrameAt(HeldStart), 0);
        }
        else
        {
            Phase = DirectionPhase.Fpdus;
        }
    }

    /// <summary>Decodes what is held after a phase change made from the other direction (the Reply releasing the initiator's octets).</summary>
    public void Resume() => Drain(atEnd: false);

    /// <summary>
    /// The initiator's Request was seen: hold what follows until the Reply says how to read it. Full operation
    /// starts right here, even if octets get lost before the Reply comes.
    /// </summary>
    public void AwaitReply()
    {
        Phase = DirectionPhase.AwaitReply;
        SeqStart = HeldStart;
    }

    public void Close()
    {
        Phase = DirectionPhase.Closed;
        DropHeld();
    }

    // ---- Framing ----

    /// <summary>Decodes whole FPDUs straight from a segment; returns the octets left over (the start of a straddling FPDU).</summary>
    private ReadOnlySpan<byte> FromSegment(ReadOnlySpan<byte> data, long frame, long ts)
    {
        while (Phase == DirectionPhase.Fpdus)
        {
            var need = Need(data, _pos);
            if (need < 0 || data.Length < need)
            {
                break;
            }
            if (!DecodeOne(data[..need], _pos, frame, frame, ts))
            {
                LoseFraming(_pos, frame);
                break;
            }
            data = data[need..];
            _pos += need;
        }
        return data;
    }

    /// <summary>Adds just enough of <paramref name="data"/> to the held start of an FPDU to decode it; returns the rest.</summary>
    private ReadOnlySpan<byte> CompleteHeld(ReadOnlySpan<byte> data, long frame, long ts)
    {
        while (HeldCount > 0 && Phase == DirectionPhase.Fpdus && !data.IsEmpty)
        {
            var need = Need(Held, HeldStart);
            var want = need < 0 ? -need : need;
            var take = Math.Min(want - HeldCount, data.Length);
            Hold(data[..take], frame, ts);
            data = data[take..];
            if (need > 0 && HeldCount >= need)
            {
                DecodeHeldFront(need);
            }
        }
        return data;
    }

    private void DecodeHeldFront(int need)
    {
        var start = HeldStart;
        if (DecodeOne(Held[..need], start, FrameAt(start), FrameAt(start + need - 1), TimestampAt(start)))
        {
            Consume(need);
        }
        else
        {
            LoseFraming(start, FrameAt(start));
        }
    }

    /// <summary>
    /// Octets the FPDU at <paramref name="offset"/> occupies on the wire (markers included), or minus the octets
    /// needed to learn its length.
    /// </summary>
    private int Need(ReadOnlySpan<byte> at, long offset)
    {
        var lead = Markers && MpaMarkers.StartsAt((uint)(offset - SeqStart)) ? MpaMarkers.Length : 0;
        if (at.Length < lead + Fpdu.LengthFieldSize)
        {
            _need = 0;
            return -(lead + Fpdu.LengthFieldSize);
        }
        var total = Fpdu.TotalLength(BinaryPrimitives.ReadUInt16BigEndian(at[lead..]));
        _need = Markers ? new MarkerInserter((uint)(offset - SeqStart)).GetEncodedLength(total) : total;
        return _need;
    }

    /// <summary>Decodes the FPDU in <paramref name="wire"/>; false when it cannot be trusted to be an FPDU at all (framing lost).</summary>
    private bool DecodeOne(ReadOnlySpan<byte> wire, long offset, long frame, long lastFrame, long ts)
    {
        if (Markers)
        {
            return DecodeMarked(wire, offset, frame, lastFrame, ts);
        }
        int n = BinaryPrimitives.ReadUInt16BigEndian(wire);
        var coverage = Fpdu.CrcCoverage(n);
        var crc = CrcStatus.NotChecked;
        uint computed = 0;
        if (_flow.Info.CrcChecked)
        {
            computed = Crc32c.Compute(wire[..coverage]);
            crc = Crc32c.ReadWire(wire[coverage..]) == computed ? CrcStatus.Good : CrcStatus.Bad;
        }
        else if (_crcProbesLeft > 0 && CrcField(wire) != 0)
        {
            ProbeUnnegotiatedCrc(wire, coverage, frame);
        }
        return Decoded(wire, wire.Length, offset, frame, lastFrame, ts, crc, computed);
    }

    /// <summary>De-marks first (the CRC covers the markers), then decodes like an unmarked FPDU.</summary>
    private bool DecodeMarked(ReadOnlySpan<byte> wire, long offset, long frame, long lastFrame, long ts)
    {
        _scratch ??= ArrayPool<byte>.Shared.Rent(Fpdu.MaxLength);
        var verify = _flow.Info.CrcChecked;
        var probe = !verify && _crcProbesLeft > 0;
        var status = new MarkerRemover((uint)(offset - SeqStart)).TryRead(wire, _scratch, verify || probe, out _, out var length, out var error);
        if (status == OperationStatus.InvalidData && error.Kind == WireErrorKind.MpaMarkerPointer)
        {
            _flow.Report(IwarpRules.MarkerMismatch, frame, $"{_flow.Describe(Direction)}: {error.Message}, in the FPDU at stream offset {offset}.");
            return false;
        }
        if (status == OperationStatus.NeedMoreData)
        {
            return false;
        }
        var fpdu = _scratch.AsSpan(0, length);
        var good = status == OperationStatus.Done;
        var crc = CrcStatus.NotChecked;
        uint computed = 0;
        if (verify)
        {
            crc = good ? CrcStatus.Good : CrcStatus.Bad;
            computed = good ? Crc32c.ReadWire(fpdu[^Crc32c.Size..]) : (uint)error.Expected;
        }
        else if (probe && CrcField(fpdu) != 0)
        {
            _crcProbesLeft--;
            if (good)
            {
                _flow.OnUnnegotiatedCrcVerified(Direction, frame);
            }
        }
        return Decoded(fpdu, wire.Length, offset, frame, lastFrame, ts, crc, computed);
    }

    /// <summary>CRCs were not negotiated: check a few non-zero CRC fields anyway, to tell the user they verify.</summary>
    private void ProbeUnnegotiatedCrc(ReadOnlySpan<byte> fpdu, int coverage, long frame)
    {
        _crcProbesLeft--;
        if (Crc32c.ReadWire(fpdu[coverage..]) == Crc32c.Compute(fpdu[..coverage]))
        {
            _flow.OnUnnegotiatedCrcVerified(Direction, frame);
        }
    }

    /// <summary>Decodes the DDP segment of an unmarked FPDU and hands it to the flow.</summary>
    private bool Decoded(ReadOnlySpan<byte> fpdu, int wireLength, long offset, long frame, long lastFrame, long ts, CrcStatus crc, uint computed)
    {
        var ulpdu = fpdu.Slice(Fpdu.LengthFieldSize, BinaryPrimitives.ReadUInt16BigEndian(fpdu));
        if (IsPlainMessage(ulpdu))
        {
            _unverifiedMalformed = 0;
            if (!_flow.TryCountPlain(Direction, ulpdu, wireLength, crc))
            {
                RecordPlain(fpdu, ulpdu, wireLength, offset, frame, lastFrame, ts, crc, computed);
            }
            return true;
        }
        return DecodedByCodec(fpdu, ulpdu, wireLength, offset, frame, lastFrame, ts, crc, computed);
    }

    /// <summary>A header-less message that needs its full record: a sink wants it, or the flow has something to say about it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordPlain(ReadOnlySpan<byte> fpdu, ReadOnlySpan<byte> ulpdu, int wireLength, long offset, long frame, long lastFrame, long ts,
        CrcStatus crc, uint computed)
    {
        DdpHeader.TryRead(ulpdu, out var ddp);
        var plain = new IwarpFpdu(_flow.Tcp, Direction, frame, lastFrame, ts, offset, wireLength, ulpdu, CrcField(fpdu), crc, computed,
            true, ddp, new RdmapControl(ddp.RdmapControl), RdmapHeader.None, ulpdu.Length - ddp.Length, default);
        _flow.OnFpdu(in plain);
    }

    /// <summary>Everything but a valid header-less message: the full codec, which also says what is wrong.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool DecodedByCodec(ReadOnlySpan<byte> fpdu, ReadOnlySpan<byte> ulpdu, int wireLength, long offset, long frame, long lastFrame, long ts,
        CrcStatus crc, uint computed)
    {
        if (RdmapCodec.TryDecode(ulpdu, out var segment, out var error) != OperationStatus.Done)
        {
            return Malformed(fpdu, ulpdu, segment, error, wireLength, offset, frame, lastFrame, ts, crc, computed);
        }
        _unverifiedMalformed = 0;
        var record = new IwarpFpdu(_flow.Tcp, Direction, frame, lastFrame, ts, offset, wireLength, ulpdu, CrcField(fpdu), crc, computed, segment);
        _flow.OnFpdu(in record);
        return true;
    }

    /// <summary>
    /// A valid message without an RDMAP header (RDMA Write, Read Response, the Sends: nearly all traffic), told
    /// from the first two octets alone: the whole DDP header present, DV = 1, and a control octet whose RV is 1
    /// and whose opcode is assigned, header-less and of the T bit's buffer model. <see cref="RdmapCodec.TryDecode"/>
    /// builds its result struct twice, which costs a third of the decode; it still decodes everything else and
    /// explains every invalid segment.
    /// </summary>
    private static bool IsPlainMessage(ReadOnlySpan<byte> ulpdu)
    {
        if (ulpdu.Length < DdpHeader.TaggedLength)
        {
            return false;
        }
        var control = ulpdu[0];
        var tagged = (control & DdpHeader.TaggedFlag) != 0;
        return (control & DdpHeader.VersionMask) == DdpHeader.CurrentVersion
            && (tagged || ulpdu.Length >= DdpHeader.UntaggedLength)
            && PlainModel[ulpdu[1]] == (tagged ? PlainTagged : PlainUntagged);
    }

    private const byte PlainTagged = 2;
    private const byte PlainUntagged = 1;

    /// <summary>Per RDMAP control octet: 0 when it does not start a valid header-less message, else the buffer model its opcode needs.</summary>
    private static readonly byte[] PlainModel = BuildPlainModel();

    private static byte[] BuildPlainModel()
    {
        var table = new byte[256];
        for (var raw = 0; raw < table.Length; raw++)
        {
            var control = new RdmapControl((byte)raw);
            var opcode = control.Opcode;
            if (control.Version == RdmapControl.CurrentVersion && RdmapOpcodes.IsAssigned(opcode) && RdmapHeader.KindFor(opcode) == RdmapHeaderKind.None)
            {
                table[raw] = RdmapOpcodes.IsTagged(opcode) ? PlainTagged : PlainUntagged;
            }
        }
        return table;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Malformed(ReadOnlySpan<byte> fpdu, ReadOnlySpan<byte> ulpdu, in RdmapSegment segment, WireError error, int wireLength, long offset,
        long frame, long lastFrame, long ts, CrcStatus crc, uint computed)
    {
        var header = segment.Header;
        var payload = segment.Payload.Length;
        if (error.Kind is WireErrorKind.DdpVersion or WireErrorKind.RdmapVersion)
        {
            DecodeIgnoringVersions(ulpdu, ref header, ref payload, ref error);
        }
        // Without a verified CRC, a segment that is not even shaped like DDP means the boundary is wrong, not the sender.
        if (crc != CrcStatus.Good && (!ShapedLikeDdp(ulpdu) || ++_unverifiedMalformed > 1))
        {
            return false;
        }
        var hasDdp = !ulpdu.IsEmpty && ulpdu.Length >= DdpHeader.LengthFor(ulpdu[0]);
        var record = new IwarpFpdu(_flow.Tcp, Direction, frame, lastFrame, ts, offset, wireLength, ulpdu, CrcField(fpdu), crc, computed,
            hasDdp, segment.Ddp, segment.Control, header, payload, error);
        _flow.OnFpdu(in record);
        return true;
    }

    /// <summary>The CRC field's octets read big-endian, as Wireshark shows them.</summary>
    private static uint CrcField(ReadOnlySpan<byte> fpdu) => BinaryPrimitives.ReadUInt32BigEndian(fpdu[^Crc32c.Size..]);

    /// <summary>
    /// Reserved bits zero and room for the DDP header: a segment a sender built on purpose, so a bad version,
    /// opcode or length is the sender's error rather than a framing error.
    /// </summary>
    private static bool ShapedLikeDdp(ReadOnlySpan<byte> ulpdu) =>
        ulpdu.Length >= 2 && ulpdu.Length >= DdpHeader.LengthFor(ulpdu[0])
        && (ulpdu[0] & DdpHeader.ReservedMask) == 0 && (ulpdu[1] & RdmapControl.ReservedMask) == 0;

    /// <summary>
    /// <see cref="RdmapCodec.TryDecode"/> stops at DV or RV ≠ 1; the headers behind are still worth showing (a
    /// pre-IETF peer sends version 0), so decode a copy whose version bits say 1. The versions stay as received.
    /// </summary>
    private void DecodeIgnoringVersions(ReadOnlySpan<byte> ulpdu, ref RdmapHeader header, ref int payload, ref WireError error)
    {
        var copy = ArrayPool<byte>.Shared.Rent(ulpdu.Length);
        try
        {
            ulpdu.CopyTo(copy);
            copy[0] = (byte)((copy[0] & ~DdpHeader.VersionMask) | DdpHeader.CurrentVersion);
            copy[1] = (byte)((copy[1] & ~RdmapControl.VersionMask) | (RdmapControl.CurrentVersion << 6));
            var status = RdmapCodec.TryDecode(copy.AsSpan(0, ulpdu.Length), out var segment, out var rest);
            header = segment.Header;
            payload = segment.Payload.Length;
            if (status != OperationStatus.Done && error.Kind == WireErrorKind.DdpVersion && (ulpdu[1] >> 6) == RdmapControl.CurrentVersion)
            {
                // Only the DDP version was wrong so far; report what else is wrong instead when that is worse.
                error = rest;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    private void GapInFpdus(long length, long frame)
    {
        if (_need > 0 && HeldCount > 0 && HeldCount < _need)
        {
            // The gap starts inside an FPDU whose length is known: its end is known too.
            var fpduEnd = HeldStart + _need;
            var gapEnd = _pos + length;
            if (gapEnd <= fpduEnd)
            {
                Stats.DamagedByGaps++;
                _skip = fpduEnd - gapEnd;
                DropHeld();
                return;
            }
        }
        var skipped = HeldCount;
        DropHeld();
        StartSearch(SearchReason.Gap, frame, length);
        _searchSkipped = skipped;
        if (skipped > 0)
        {
            Stats.DamagedByGaps++;
        }
    }

    /// <summary>The FPDU at <paramref name="offset"/> is not one: search again, from the octet after it.</summary>
    private void LoseFraming(long offset, long frame)
    {
        _flow.Report(IwarpRules.FramingLost, frame,
            $"{_flow.Describe(Direction)}: the octets at stream offset {offset} are not a valid FPDU; looking for FPDU boundaries again.");
        StartSearch(SearchReason.FramingLost, frame, 0);
        _searchFrom = offset + 1;
    }

    private void StartSearch(SearchReason reason, long frame, long gapOctets)
    {
        Phase = DirectionPhase.Search;
        _searchReason = reason;
        _searchFrame = frame;
        _searchSkipped = 0;
        _searchGapOctets = gapOctets;
        _searchFrom = 0;
        _unverifiedMalformed = 0;
        _need = 0;
    }

    // ---- Held octets: start frames, waiting, searching ----

    private void Drain(bool atEnd)
    {
        while (HeldCount > 0)
        {
            var before = (Phase, HeldCount);
            switch (Phase)
            {
                case DirectionPhase.Detect:
                    DetectStartFrame();
                    break;
                case DirectionPhase.Fpdus:
                    var need = Need(Held, HeldStart);
                    if (need < 0 || HeldCount < need)
                    {
                        return;
                    }
                    DecodeHeldFront(need);
                    break;
                case DirectionPhase.Search:
                    Search(atEnd);
                    break;
                case DirectionPhase.AwaitReply:
                    if (HeldCount > MaxHeld / 2)
                    {
                        _flow.OnAwaitOverflow(this, FrameAt(HeldStart));
                    }
                    return;
                case DirectionPhase.Closed:
                    DropHeld();
                    return;
            }
            if (before == (Phase, HeldCount))
            {
                return;
            }
        }
    }

    private void DetectStartFrame()
    {
        var status = MpaStartFrame.TryRead(Held, MpaLimits.Rfc, out var frame, out var consumed, out var error);
        switch (status)
        {
            case OperationStatus.Done:
                var at = HeldStart;
                var frameNumber = FrameAt(at);
                var ts = TimestampAt(at);
                Consume(consumed);
                _flow.OnStartFrame(this, frame, frameNumber, ts);
                break;
            case OperationStatus.InvalidData when error.Kind == WireErrorKind.MpaKey:
                _flow.OnNotStartFrame(this, FrameAt(HeldStart));
                break;
            case OperationStatus.InvalidData:
                _flow.OnInvalidStartFrame(this, error, FrameAt(HeldStart));
                break;
        }
    }

    /// <summary>Called by the flow when this direction should look for FPDUs without having seen a start frame.</summary>
    public void SearchFromHere(long frame) => StartSearch(SearchReason.MidStream, frame, 0);

    private void Search(bool atEnd)
    {
        if (Markers && SeqStart >= 0)
        {
            MarkerSearch();
            return;
        }
        var crcRequired = _flow.Info.CrcChecked;
        var aligned = SeqStart >= 0;
        var held = Held;
        var start = HeldStart;
        var at = (int)Math.Clamp(_searchFrom - start, 0, held.Length);
        while (at < held.Length)
        {
            if (aligned && ((start + at - SeqStart) & 3) != 0)
            {
                at++;
                continue;
            }
            var verdict = FramingProbe.Chain(held[at..], crcRequired, atEnd, out var count, out var crcVerified);
            if (verdict == ProbeVerdict.Accept)
            {
                Consume(at);
                _searchSkipped += at;
                Resynchronised(count, crcVerified, byMarker: false);
                return;
            }
            if (verdict == ProbeVerdict.NeedMore && held.Length - at < MaxHeld - Fpdu.MaxLength)
            {
                break;
            }
            at++;
        }
        Consume(at);
        _searchSkipped += at;
        if (_searchReason == SearchReason.MidStream && _searchSkipped > MidStreamGiveUp)
        {
            _flow.OnNoFraming(this);
        }
    }

    /// <summary>With markers and a known origin, every marker names the start of the FPDU it sits in: exact resynchronisation.</summary>
    private void MarkerSearch()
    {
        while (true)
        {
            var start = HeldStart;
            var sinceOrigin = start - SeqStart;
            var marker = start + ((MpaMarkers.Interval - (sinceOrigin & (MpaMarkers.Interval - 1))) & (MpaMarkers.Interval - 1));
            if (marker + MpaMarkers.Length > _pos)
            {
                return;
            }
            var pointer = BinaryPrimitives.ReadUInt16BigEndian(Held[(int)(marker - start + 2)..]) & ~3;
            var fpduStart = pointer == 0 ? marker : marker - pointer;
            if (((fpduStart - SeqStart) & (MpaMarkers.Interval - 1)) == MpaMarkers.Length && pointer != 0)
            {
                // The FPDU begins right after a marker with pointer 0, which is its leading marker (and in its CRC).
                fpduStart -= MpaMarkers.Length;
            }
            if (fpduStart >= start && fpduStart >= _searchFrom)
            {
                var candidate = Held[(int)(fpduStart - start)..];
                var need = Need(candidate, fpduStart);
                if (need < 0 || candidate.Length < need)
                {
                    // Wait for the whole FPDU; drop what lies before it.
                    Consume((int)(fpduStart - start));
                    _searchSkipped += fpduStart - start;
                    return;
                }
                if (MarkedFpduVerifies(candidate[..need], fpduStart))
                {
                    Consume((int)(fpduStart - start));
                    _searchSkipped += fpduStart - start;
                    Resynchronised(1, _flow.Info.CrcChecked, byMarker: true);
                    return;
                }
            }
            // The FPDU holding this marker began before the octets we have: nothing can start before the marker's end.
            var drop = (int)(marker + MpaMarkers.Length - start);
            Consume(drop);
            _searchSkipped += drop;
        }
    }

    /// <summary>A marker's candidate is taken when its markers agree and, where CRCs are checked, its CRC verifies.</summary>
    private bool MarkedFpduVerifies(ReadOnlySpan<byte> wire, long offset)
    {
        _scratch ??= ArrayPool<byte>.Shared.Rent(Fpdu.MaxLength);
        var status = new MarkerRemover((uint)(offset - SeqStart)).TryRead(wire, _scratch, _flow.Info.CrcChecked, out _, out var length, out _);
        return status == OperationStatus.Done && FramingProbe.Plausible(_scratch.AsSpan(0, length), BinaryPrimitives.ReadUInt16BigEndian(_scratch), checkPad: true);
    }

    private void Resynchronised(int chain, bool crcVerified, bool byMarker)
    {
        var at = HeldStart;
        if (SeqStart < 0)
        {
            SeqStart = at;
        }
        Stats.SkippedOctets += _searchSkipped;
        Stats.Resyncs++;
        Phase = DirectionPhase.Fpdus;
        _need = 0;
        _flow.OnResynchronised(this, _searchReason, _searchFrame, FrameAt(at), at, _searchSkipped, _searchGapOctets, chain, crcVerified, byMarker);
        _searchSkipped = 0;
    }

    // ---- The held buffer ----

    private void Hold(ReadOnlySpan<byte> data, long frame, long ts)
    {
        if (_held is null || _end + data.Length > _held.Length)
        {
            Grow(data.Length);
        }
        if (_marks.Count == 0 || _marks[^1].Frame != frame)
        {
            _marks.Add(new Mark(_pos, frame, ts));
        }
        data.CopyTo(_held.AsSpan(_end));
        _end += data.Length;
        _pos += data.Length;
    }

    private void Grow(int more)
    {
        var count = HeldCount;
        var needed = count + more;
        if (_held is not null && needed <= _held.Length)
        {
            Buffer.BlockCopy(_held, _front, _held, 0, count);
        }
        else
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(4096, (_held?.Length ?? 0) * 2)));
            if (_held is not null)
            {
                Buffer.BlockCopy(_held, _front, bigger, 0, count);
                ArrayPool<byte>.Shared.Return(_held);
            }
            _held = bigger;
        }
        _front = 0;
        _end = count;
    }

    private void Consume(int n)
    {
        _front += n;
        if (_front >= _end)
        {
            _front = _end = 0;
            _marks.Clear();
            return;
        }
        var start = HeldStart;
        var drop = 0;
        while (drop + 1 < _marks.Count && _marks[drop + 1].Offset <= start)
        {
            drop++;
        }
        if (drop > 0)
        {
            _marks.RemoveRange(0, drop);
        }
    }

    private void DropHeld()
    {
        _front = _end = 0;
        _marks.Clear();
        _need = 0;
    }

    private long FrameAt(long offset)
    {
        for (var i = _marks.Count - 1; i >= 0; i--)
        {
            if (_marks[i].Offset <= offset)
            {
                return _marks[i].Frame;
            }
        }
        return _marks.Count > 0 ? _marks[0].Frame : _flow.LastFrame;
    }

    private long TimestampAt(long offset)
    {
        for (var i = _marks.Count - 1; i >= 0; i--)
        {
            if (_marks[i].Offset <= offset)
            {
                return _marks[i].Timestamp;
            }
        }
        return _marks.Count > 0 ? _marks[0].Timestamp : 0;
    }
}
