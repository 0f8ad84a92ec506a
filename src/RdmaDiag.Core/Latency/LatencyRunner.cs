using System.Runtime.ExceptionServices;

namespace RdmaDiag.Latency;

/// <summary>
/// Runs a mode over every requested size on one dedicated thread, pinned when asked, so the
/// measuring thread is never a thread-pool thread that other work shares.
/// </summary>
public static class LatencyRunner
{
    public static LatencyReport Run(ILatencyMode mode, LatencyRunSettings settings)
    {
        LatencyReport? report = null;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                report = RunHere(mode, settings);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }, maxStackSize: 1 << 20)
        {
            Name = $"latency {mode.Name}",
            IsBackground = true,
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return report!;
    }

    private static LatencyReport RunHere(ILatencyMode mode, LatencyRunSettings settings)
    {
        var notes = new List<string>();
        if (settings.Cpu is { } cpu)
        {
            CpuAffinity.PinCurrentThread(cpu);
            notes.Add($"measuring thread pinned to CPU {cpu}");
        }
        var overhead = MeasurementOverhead.Measure();
        var series = new List<LatencySeries>();
        using (var session = mode.Open(settings))
        {
            foreach (var size in settings.Sizes)
            {
                series.AddRange(session.Measure(size, settings.Plan));
            }
            notes.AddRange(session.Notes);
        }
        return new LatencyReport(mode.Name, settings, overhead, notes, series);
    }
}
