using RdmaDiag.Latency;

namespace RdmaDiag.Tests.Latency;

/// <summary>Run settings short enough for the unit and netns tiers: 300 samples a size after 30 warm-up exchanges.</summary>
internal static class LatencyRuns
{
    public static LatencyRunSettings Short(params int[] sizes) => new()
    {
        Sizes = sizes,
        Iterations = 300,
        Warmup = 30,
    };
}
