namespace RdmaDiag.Wire.Ddp;

/// <summary>One segment of a DDP message: its payload's place in the message and its header.</summary>
public readonly record struct DdpSegment(long Offset, int Length, DdpHeader Header);

/// <summary>
/// Cuts one DDP message into segments of at most MULPDU octets, header included (RFC 5041 §5.3):
/// untagged MO (tagged TO) advances by the payload carried so far, L is set only on the last segment,
/// and a zero-length message is one segment. Enumerates without allocating.
/// </summary>
/// <example>2048 octets untagged at MULPDU 1500 give MO 0 carrying 1482, then MO 1482 carrying 566 with L.</example>
public readonly struct DdpSegmenter
{
    /// <summary>Largest DDP message: shorter than 2^32 octets.</summary>
    public const long MaxMessageLength = uint.MaxValue;

    private readonly DdpHeader _first;
    private readonly long _messageLength;
    private readonly int _payloadPerSegment;

    /// <param name="first">Header of the first segment: STag and initial TO (tagged), or QN, MSN and starting MO
    /// (untagged), RDMAP control, RsvdULP. Its L bit is ignored.</param>
    public DdpSegmenter(DdpHeader first, long messageLength, int mulpdu)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(messageLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(messageLength, MaxMessageLength);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(mulpdu, first.Length);
        _first = first;
        _messageLength = messageLength;
        _payloadPerSegment = mulpdu - first.Length;
    }

    public long MessageLength => _messageLength;

    public int PayloadPerSegment => _payloadPerSegment;

    public long SegmentCount => _messageLength == 0 ? 1 : (_messageLength + _payloadPerSegment - 1) / _payloadPerSegment;

    public Enumerator GetEnumerator() => new(this);

    public struct Enumerator
    {
        private readonly DdpSegmenter _owner;
        private long _offset;
        private bool _started;

        internal Enumerator(DdpSegmenter owner)
        {
            _owner = owner;
            _offset = 0;
            _started = false;
            Current = default;
        }

        public DdpSegment Current { get; private set; }

        public bool MoveNext()
        {
            long offset = _started ? _offset + Current.Length : 0;
            if (_started && offset >= _owner._messageLength)
            {
                return false;
            }
            _started = true;
            _offset = offset;
            int length = (int)Math.Min(_owner._payloadPerSegment, _owner._messageLength - offset);
            bool last = offset + length == _owner._messageLength;
            DdpHeader first = _owner._first;
            DdpHeader header = first.Tagged
                ? first.WithTaggedOffset(unchecked(first.TaggedOffset + (ulong)offset))
                : first.WithMessageOffset(unchecked(first.MessageOffset + (uint)offset));
            Current = new DdpSegment(offset, length, header.WithLast(last));
            return true;
        }
    }
}
