namespace RdmaDiag.Capture;

/// <summary>Limits and thresholds of <see cref="TcpTracker"/>.</summary>
public sealed record TcpTrackerOptions
{
    /// <summary>Out-of-order octets buffered per direction before the missing range is declared a gap.</summary>
    public int MaxBufferedBytes { get; init; } = 8 << 20;

    /// <summary>Out-of-order segments buffered per direction before the missing range is declared a gap.</summary>
    public int MaxBufferedSegments { get; init; } = 8192;

    /// <summary>Delivered octets kept per direction to compare retransmissions against (0 turns the check off).</summary>
    public int OverlapCheckBytes { get; init; } = 64 * 1024;

    /// <summary>Retransmissions closer together than this belong to one burst.</summary>
    public TimeSpan BurstWindow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A burst with at least this many retransmitted segments is a finding.</summary>
    public int BurstThreshold { get; init; } = 3;

    /// <summary>Findings of one rule in one flow beyond this are counted, not listed; a note at the end gives the count.</summary>
    public int MaxFindingsPerRulePerFlow { get; init; } = 5;
}
