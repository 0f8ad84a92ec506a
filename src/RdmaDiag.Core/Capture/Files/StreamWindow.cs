namespace RdmaDiag.Capture;

/// <summary>
/// A sliding window over a stream: readers ask for the next N octets, parse them in place, then advance.
/// One buffer is reused for the whole file (it grows only when a single record is larger than it), so a
/// reader allocates nothing per packet and memory stays flat whatever the file's size.
/// </summary>
internal sealed class StreamWindow : IDisposable
{
    private readonly Stream _stream;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private long _offsetOfStart;
    private bool _eof;

    public StreamWindow(Stream stream, int initialSize = 1 << 20)
    {
        _stream = stream;
        _buffer = new byte[initialSize];
    }

    /// <summary>Octets available at the current position without another read.</summary>
    public int Available => _end - _start;

    /// <summary>File offset of the current position.</summary>
    public long Position => _offsetOfStart;

    /// <summary>
    /// Makes <paramref name="count"/> octets available at the current position. False when the stream ends
    /// first; <see cref="Available"/> then says how many there are. Callers check <paramref name="count"/>
    /// against their own limit before calling: this grows the buffer to fit.
    /// </summary>
    public bool Ensure(int count)
    {
        if (_end - _start >= count)
        {
            return true;
        }
        if (_eof)
        {
            return false;
        }
        if (count > _buffer.Length)
        {
            var bigger = new byte[Math.Max(count, _buffer.Length * 2)];
            Buffer.BlockCopy(_buffer, _start, bigger, 0, _end - _start);
            _buffer = bigger;
            _end -= _start;
            _start = 0;
        }
        else if (_start + count > _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        while (_end - _start < count)
        {
            var n = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (n == 0)
            {
                _eof = true;
                return false;
            }
            _end += n;
        }
        return true;
    }

    /// <summary>The next <paramref name="count"/> octets; <see cref="Ensure"/> must have returned true for at least that many.</summary>
    public ReadOnlySpan<byte> Peek(int count) => new(_buffer, _start, count);

    /// <summary>Everything available at the current position (for truncated tails).</summary>
    public ReadOnlySpan<byte> PeekAvailable() => new(_buffer, _start, _end - _start);

    public void Advance(int count)
    {
        _start += count;
        _offsetOfStart += count;
    }

    /// <summary>Skips <paramref name="count"/> octets that need not be looked at. False when the stream ends first.</summary>
    public bool Skip(long count)
    {
        var buffered = _end - _start;
        if (count <= buffered)
        {
            Advance((int)count);
            return true;
        }
        count -= buffered;
        _offsetOfStart += buffered;
        _start = _end = 0;
        if (_stream.CanSeek)
        {
            var target = _stream.Position + count;
            if (target > _stream.Length)
            {
                _offsetOfStart += _stream.Length - _stream.Position;
                _stream.Position = _stream.Length;
                _eof = true;
                return false;
            }
            _stream.Position = target;
            _offsetOfStart += count;
            return true;
        }
        while (count > 0)
        {
            var n = _stream.Read(_buffer, 0, (int)Math.Min(count, _buffer.Length));
            if (n == 0)
            {
                _eof = true;
                return false;
            }
            count -= n;
            _offsetOfStart += n;
        }
        return true;
    }

    public void Dispose() => _stream.Dispose();
}
