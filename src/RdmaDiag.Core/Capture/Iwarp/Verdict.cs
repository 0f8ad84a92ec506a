using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>How a flow, or a whole capture, went.</summary>
public enum VerdictStatus : byte
{
    /// <summary>iWARP traffic and no problem worse than a note.</summary>
    Ok,
    /// <summary>Problems that do not break the connection (warnings).</summary>
    Warning,
    /// <summary>Something broke or prevented the connection (an error finding).</summary>
    Failed,
    /// <summary>No iWARP in it, and nothing wrong at the TCP level either.</summary>
    NotIwarp,
}

/// <summary>A verdict and the one line that explains it.</summary>
public sealed record FlowVerdict(VerdictStatus Status, string Summary)
{
    internal static FlowVerdict Pending { get; } = new(VerdictStatus.NotIwarp, "not decided yet");

    /// <summary><c>ok</c>, <c>warning</c>, <c>failed</c>, <c>not-iwarp</c>: the JSON spelling.</summary>
    public string StatusName => Name(Status);

    public static string Name(VerdictStatus status) => status switch
    {
        VerdictStatus.Ok => "ok",
        VerdictStatus.Warning => "warning",
        VerdictStatus.Failed => "failed",
        _ => "not-iwarp",
    };
}

/// <summary>Forwards findings and remembers, per flow and for the capture, the worst one and the first of that severity.</summary>
internal sealed class FindingTally(IFindingSink inner) : IFindingSink
{
    private readonly Dictionary<int, Entry> _flows = [];

    public sealed class Entry
    {
        public FindingSeverity Worst = FindingSeverity.Note;
        public Finding? First;
        public int Count;
    }

    /// <summary>Findings with no flow (the capture file itself).</summary>
    public Entry Capture { get; } = new();

    public void Report(Finding finding)
    {
        var entry = Capture;
        if (finding.Flow is int id && !_flows.TryGetValue(id, out entry))
        {
            entry = new Entry();
            _flows[id] = entry;
        }
        entry.Count++;
        if (entry.First is null || finding.Severity > entry.Worst)
        {
            entry.Worst = finding.Severity;
            entry.First = finding;
        }
        inner.Report(finding);
    }

    public Entry? For(int flow) => _flows.GetValueOrDefault(flow);
}
