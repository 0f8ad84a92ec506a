using System.Buffers;

namespace RdmaDiag.Capture;

/// <summary>What one segment did to its stream.</summary>
internal enum SegmentOutcome : byte
{
    /// <summary>New bytes (delivered now or buffered).</summary>
    New,
    /// <summary>Every byte had been seen already.</summary>
    Retransmission,
    /// <summary>One old byte at NextSeq-1 (or none): a TCP keep-alive, not a retransmission.</summary>
    KeepAlive,
}

/// <summary>
/// In-order delivery for one direction of one flow. Positions are kept as 64-bit stream offsets (octets since
/// the first tracked sequence number), so 32-bit sequence wrap-around is handled by one signed difference at the
/// edge. Out-of-order segments are copied into pooled buffers, sorted and non-overlapping (the first copy wins);
/// the last <see cref="TcpTrackerOptions.OverlapCheckBytes"/> delivered octets are kept in a ring so that a
/// retransmission of already delivered bytes can be compared too.
/// </summary>
internal sealed class Reassembler
{
    private readonly TcpTracker _tracker;
    private readonly TcpFlow _flow;
    private readonly FlowDirection _direction;
    private readonly FlowSide _sender;
    private readonly IStreamConsumer? _consumer;
    private readonly List<Pending> _pending = [];
    private uint _nextSeq;
    private long _nextOffset;
    private long _highestEnd;
    private long _bufferedBytes;
    private byte[]? _history;
    private long _historyStart;
    private long _finOffset = -1;
    private bool _finDelivered;
    private bool _limitReported;

    /// <summary>A buffered range: bytes (from the pool) or, with <see cref="Data"/> null, octets known to be missing (snaplen).</summary>
    private readonly record struct Pending(long Offset, int Length, byte[]? Data, long Frame, long Timestamp)
    {
        public long End => Offset + Length;
    }

    public Reassembler(TcpTracker tracker, TcpFlow flow, FlowDirection direction, uint firstSeq)
    {
        _tracker = tracker;
        _flow = flow;
        _direction = direction;
        _sender = flow.Sender(direction);
        _consumer = flow.Consumer;
        _nextSeq = firstSeq;
    }

    public uint NextSeq => _nextSeq;
    public bool FinDelivered => _finDelivered;
    public long BufferedBytes => _bufferedBytes;

    /// <summary>Stream offset of <paramref name="seq"/> relative to the next expected octet.</summary>
    private long OffsetOf(uint seq) => _nextOffset + (int)(seq - _nextSeq);

    private uint SeqOf(long offset) => _nextSeq + (uint)(offset - _nextOffset);

    public SegmentOutcome Segment(uint seq, ReadOnlySpan<byte> captured, int wireLength, long frame, long ts)
    {
        var offset = OffsetOf(seq);
        var end = offset + wireLength;
        var isRetransmission = offset < _highestEnd;
        if (end > _highestEnd)
        {
            _highestEnd = end;
        }
        if (offset == _nextOffset && _pending.Count == 0)
        {
            Deliver(captured, frame, ts);
            if (wireLength > captured.Length)
            {
                Gap(_nextOffset + wireLength - captured.Length, GapReason.Snaplen, frame, ts);
            }
            TryFin(frame, ts);
            return isRetransmission ? SegmentOutcome.Retransmission : SegmentOutcome.New;
        }
        if (offset < _nextOffset)
        {
            var old = (int)Math.Min(_nextOffset - offset, wireLength);
            CompareOld(offset, captured[..Math.Min(old, captured.Length)], frame);
            if (old == wireLength)
            {
                return wireLength <= 1 && end == _nextOffset ? SegmentOutcome.KeepAlive : SegmentOutcome.Retransmission;
            }
            captured = captured.Length > old ? captured[old..] : [];
            wireLength -= old;
            offset = _nextOffset;
        }
        var added = Insert(offset, captured, frame, ts);
        if (wireLength > captured.Length)
        {
            added |= InsertMissing(offset + captured.Length, wireLength - captured.Length, frame, ts);
        }
        Drain(frame, ts);
        EnforceLimit(frame, ts);
        return added && !isRetransmission ? SegmentOutcome.New : SegmentOutcome.Retransmission;
    }

    /// <summary>A FIN at <paramref name="finSeq"/>; delivered once every octet before it is delivered or declared missing.</summary>
    public void Fin(uint finSeq, long frame, long ts)
    {
        var at = OffsetOf(finSeq);
        if (_finDelivered || at < _nextOffset)
        {
            return;
        }
        _finOffset = _finOffset < 0 ? at : Math.Min(_finOffset, at);
        TryFin(frame, ts);
    }

    /// <summary>
    /// The peer acknowledged everything before <paramref name="ackSeq"/>: whatever of it was not captured is a gap
    /// now, and buffered data behind it can go.
    /// </summary>
    public void AcknowledgedUpTo(uint ackSeq, long frame, long ts)
    {
        var target = OffsetOf(ackSeq);
        if (target <= _nextOffset)
        {
            return;
        }
        if (_finOffset >= 0 && target > _finOffset)
        {
            target = _finOffset;
        }
        AdvanceTo(target, GapReason.NotCaptured, frame, ts);
        TryFin(frame, ts);
    }

    /// <summary>End of capture or of the connection: deliver what is buffered, declaring the holes between as gaps.</summary>
    public void Flush(long frame, long ts)
    {
        if (_pending.Count > 0)
        {
            AdvanceTo(_pending[^1].End, GapReason.CaptureEnded, frame, ts);
        }
        if (_finOffset > _nextOffset && !_finDelivered)
        {
            Gap(_finOffset, GapReason.CaptureEnded, frame, ts);
        }
        TryFin(frame, ts);
    }

    public void Release()
    {
        foreach (var s in _pending)
        {
            if (s.Data is not null)
            {
                ArrayPool<byte>.Shared.Return(s.Data);
            }
        }
        _pending.Clear();
        _bufferedBytes = 0;
        if (_history is not null)
        {
            ArrayPool<byte>.Shared.Return(_history);
            _history = null;
        }
    }

    private void AdvanceTo(long target, GapReason reason, long frame, long ts)
    {
        while (_nextOffset < target)
        {
            if (_pending.Count > 0 && _pending[0].Offset <= _nextOffset)
            {
                Drain(frame, ts);
                continue;
            }
            var gapEnd = _pending.Count > 0 ? Math.Min(target, _pending[0].Offset) : target;
            Gap(gapEnd, reason, frame, ts);
        }
        Drain(frame, ts);
    }

    private void Drain(long frame, long ts)
    {
        while (_pending.Count > 0 && _pending[0].Offset <= _nextOffset)
        {
            var s = _pending[0];
            _pending.RemoveAt(0);
            _bufferedBytes -= s.Length;
            if (s.Data is null)
            {
                Gap(s.End, GapReason.Snaplen, s.Frame, s.Timestamp);
            }
            else
            {
                Deliver(s.Data.AsSpan(0, s.Length), s.Frame, s.Timestamp);
                ArrayPool<byte>.Shared.Return(s.Data);
            }
        }
        TryFin(frame, ts);
    }

    private void EnforceLimit(long frame, long ts)
    {
        var options = _tracker.Options;
        while (_pending.Count > 0 && (_bufferedBytes > options.MaxBufferedBytes || _pending.Count > options.MaxBufferedSegments))
        {
            if (!_limitReported)
            {
                _limitReported = true;
                _tracker.ReportLimit(_flow, _direction, _bufferedBytes, _pending.Count, SeqOf(_nextOffset), frame);
            }
            AdvanceTo(_pending[0].End, GapReason.ReassemblyLimit, frame, ts);
        }
    }

    private void Deliver(ReadOnlySpan<byte> data, long frame, long ts)
    {
        if (data.IsEmpty)
        {
            return;
        }
        _consumer?.OnData(_direction, _nextSeq, data, frame, ts);
        Remember(data);
        _nextSeq += (uint)data.Length;
        _nextOffset += data.Length;
        _sender.StreamBytes += data.Length;
    }

    private void Gap(long until, GapReason reason, long frame, long ts)
    {
        var length = until - _nextOffset;
        if (length <= 0)
        {
            return;
        }
        var seq = _nextSeq;
        _consumer?.OnGap(_direction, seq, (uint)length, reason, frame, ts);
        _nextSeq += (uint)length;
        _nextOffset = until;
        _historyStart = until;
        _sender.GapBytes += length;
        _sender.Gaps++;
        _tracker.ReportGap(_flow, _direction, seq, length, reason, frame);
    }

    private void TryFin(long frame, long ts)
    {
        if (_finOffset >= 0 && !_finDelivered && _nextOffset == _finOffset)
        {
            _finDelivered = true;
            _consumer?.OnFin(_direction, _nextSeq, frame, ts);
            _nextSeq++;
            _nextOffset++;
            _historyStart = _nextOffset;
            _tracker.FinDelivered(_flow, _direction);
        }
    }

    /// <summary>Adds the new parts of [offset, offset+data.Length) to the pending list; compares the overlapping parts.</summary>
    private bool Insert(long offset, ReadOnlySpan<byte> data, long frame, long ts)
    {
        var added = false;
        var i = FirstEndingAfter(offset);
        while (!data.IsEmpty)
        {
            if (i == _pending.Count || _pending[i].Offset >= offset + data.Length)
            {
                Add(i, offset, data, frame, ts);
                return true;
            }
            var s = _pending[i];
            if (offset < s.Offset)
            {
                var before = (int)(s.Offset - offset);
                Add(i, offset, data[..before], frame, ts);
                added = true;
                i++;
                offset += before;
                data = data[before..];
                continue;
            }
            var overlap = (int)(Math.Min(offset + data.Length, s.End) - offset);
            if (s.Data is not null && !data[..overlap].SequenceEqual(s.Data.AsSpan((int)(offset - s.Offset), overlap)))
            {
                _tracker.ReportOverlapMismatch(_flow, _direction, SeqOf(offset), overlap, s.Frame, frame);
            }
            offset += overlap;
            data = data[overlap..];
            i++;
        }
        return added;
    }

    private bool InsertMissing(long offset, int length, long frame, long ts)
    {
        var i = FirstEndingAfter(offset);
        var end = offset + length;
        var added = false;
        while (offset < end)
        {
            var next = i < _pending.Count ? _pending[i].Offset : long.MaxValue;
            if (offset < next)
            {
                var piece = (int)(Math.Min(end, next) - offset);
                _pending.Insert(i, new Pending(offset, piece, null, frame, ts));
                _bufferedBytes += piece;
                added = true;
                offset += piece;
                i++;
                continue;
            }
            offset = Math.Max(offset, _pending[i].End);
            i++;
        }
        return added;
    }

    private void Add(int index, long offset, ReadOnlySpan<byte> data, long frame, long ts)
    {
        var copy = ArrayPool<byte>.Shared.Rent(data.Length);
        data.CopyTo(copy);
        _pending.Insert(index, new Pending(offset, data.Length, copy, frame, ts));
        _bufferedBytes += data.Length;
    }

    private int FirstEndingAfter(long offset)
    {
        int lo = 0, hi = _pending.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_pending[mid].End <= offset)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    /// <summary>Keeps the octets being delivered (they start at the next expected offset) in the overlap-check ring.</summary>
    private void Remember(ReadOnlySpan<byte> data)
    {
        if (_tracker.Options.OverlapCheckBytes == 0)
        {
            return;
        }
        _history ??= ArrayPool<byte>.Shared.Rent(_tracker.Options.OverlapCheckBytes);
        var size = _history.Length;
        var start = _nextOffset;
        if (data.Length > size)
        {
            start += data.Length - size;
            data = data[^size..];
        }
        var at = (int)(start % size);
        var first = Math.Min(size - at, data.Length);
        data[..first].CopyTo(_history.AsSpan(at));
        data[first..].CopyTo(_history);
        var end = start + data.Length;
        if (end - _historyStart > size)
        {
            _historyStart = end - size;
        }
    }

    /// <summary>Compares a retransmitted copy of already delivered octets with what was delivered, as far as the ring reaches.</summary>
    private void CompareOld(long offset, ReadOnlySpan<byte> data, long frame)
    {
        if (_history is null || data.IsEmpty)
        {
            return;
        }
        var from = Math.Max(offset, _historyStart);
        var to = Math.Min(offset + data.Length, _nextOffset);
        if (from >= to)
        {
            return;
        }
        var size = _history.Length;
        var probe = data.Slice((int)(from - offset), (int)(to - from));
        var at = (int)(from % size);
        var first = Math.Min(size - at, probe.Length);
        if (!probe[..first].SequenceEqual(_history.AsSpan(at, first)) || !probe[first..].SequenceEqual(_history.AsSpan(0, probe.Length - first)))
        {
            _tracker.ReportOverlapMismatch(_flow, _direction, SeqOf(from), probe.Length, 0, frame);
        }
    }
}
