namespace RdmaDiag.Latency;

/// <summary>
/// Every sample of a run, in nanoseconds, in arrival order. Grows by doubling so that adding a sample
/// allocates only on the rare growth step; give the expected count up front to avoid even that inside a
/// measurement loop.
/// </summary>
public sealed class SampleBuffer
{
    private long[] _items;
    private int _count;

    public SampleBuffer(int initialCapacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _items = initialCapacity == 0 ? [] : new long[initialCapacity];
    }

    public int Count => _count;

    public int Capacity => _items.Length;

    public ReadOnlySpan<long> AsSpan() => _items.AsSpan(0, _count);

    public void Add(long value)
    {
        if (_count == _items.Length)
        {
            Grow(_count + 1);
        }
        _items[_count++] = value;
    }

    public void EnsureCapacity(int capacity)
    {
        if (capacity > _items.Length)
        {
            Grow(capacity);
        }
    }

    public void Clear() => _count = 0;

    private void Grow(int needed)
    {
        var next = Math.Max(needed, _items.Length == 0 ? 1024 : (int)Math.Min(Array.MaxLength, 2L * _items.Length));
        if (next < needed)
        {
            throw new InvalidOperationException($"a sample buffer holds at most {Array.MaxLength} samples");
        }
        Array.Resize(ref _items, next);
    }
}
