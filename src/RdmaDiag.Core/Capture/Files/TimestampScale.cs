namespace RdmaDiag.Capture;

/// <summary>
/// Converts pcapng timestamp units to nanoseconds. <c>if_tsresol</c>: high bit clear → units of 10^-v s,
/// high bit set → units of 2^-(v &amp; 0x7F) s. Default (no option) is 10^-6.
/// </summary>
internal readonly struct TimestampScale
{
    private readonly long _multiply;
    private readonly long _divide;
    private readonly int _shift;

    private TimestampScale(long multiply, long divide, int shift)
    {
        _multiply = multiply;
        _divide = divide;
        _shift = shift;
    }

    public static TimestampScale Microseconds => FromTsresol(6);

    public static TimestampScale FromTsresol(byte tsresol)
    {
        if ((tsresol & 0x80) != 0)
        {
            return new TimestampScale(0, 0, tsresol & 0x7F);
        }
        int v = tsresol;
        if (v <= 9)
        {
            return new TimestampScale(Pow10(9 - v), 1, -1);
        }
        // Finer than a nanosecond: 10^-v units; v up to 19 fits a long divisor, beyond that every value rounds to 0.
        return new TimestampScale(1, v - 9 <= 18 ? Pow10(v - 9) : long.MaxValue, -1);
    }

    public long ToNanos(ulong units)
    {
        if (_shift >= 0)
        {
            return (long)(((UInt128)units * 1_000_000_000UL) >> _shift);
        }
        return _divide == 1 ? unchecked((long)units * _multiply) : (long)(units / (ulong)_divide);
    }

    private static long Pow10(int n)
    {
        long r = 1;
        for (var i = 0; i < n; i++)
        {
            r *= 10;
        }
        return r;
    }
}
