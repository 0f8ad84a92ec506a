namespace RdmaDiag.Wire.Mpa;

/// <summary>Maximum ULPDU that fits one TCP segment (RFC 5044 §5, iwarp-wire.md §2.6).</summary>
public static class Mulpdu
{
    /// <summary>MPA never offers DDP less than this.</summary>
    public const int Min = 128;

    /// <summary>DDP never posts a ULPDU larger than this.</summary>
    public const int Max = 64768;

    /// <summary>
    /// MULPDU for an EMSS (the smaller of MSS and path MTU), clamped to 128..64768.
    /// Without markers: EMSS − (6 + EMSS mod 4). With markers the worst-case marker count is also
    /// subtracted: EMSS − (6 + 4·⌈EMSS/512⌉ + EMSS mod 4).
    /// </summary>
    public static int FromEmss(int emss, bool markers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(emss);
        long overhead = Fpdu.Overhead + (emss & 3);
        if (markers)
        {
            overhead += MpaMarkers.Length * (((long)emss + MpaMarkers.Interval - 1) / MpaMarkers.Interval);
        }
        return (int)Math.Clamp(emss - overhead, Min, Max);
    }
}
