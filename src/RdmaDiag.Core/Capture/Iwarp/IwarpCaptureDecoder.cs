using System.Runtime.InteropServices;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>What a decode found: counts, every flow with its MPA parameters and verdict, and the capture's verdict.</summary>
public sealed class DecodeSummary
{
    internal DecodeSummary(CaptureCounters counters, IReadOnlyList<IwarpFlowInfo> flows, FlowVerdict verdict)
    {
        Counters = counters;
        Flows = flows;
        Verdict = verdict;
    }

    public CaptureCounters Counters { get; }

    /// <summary>Every TCP flow, in order of first packet (index = flow id).</summary>
    public IReadOnlyList<IwarpFlowInfo> Flows { get; }

    public FlowVerdict Verdict { get; }

    public long Fpdus => Flows.Sum(f => f.TotalFpdus);

    public int IwarpFlows => Flows.Count(f => f.IsIwarp);
}

/// <summary>
/// Decodes iWARP in a capture: TCP reassembly (<see cref="TcpTracker"/>) feeding one MPA/DDP/RDMAP consumer per
/// flow, findings from every layer into one sink, every FPDU to an optional <see cref="IFpduSink"/>, and a
/// verdict per flow and for the capture. Streaming: memory depends on the number of flows, not on the
/// capture's size.
/// <code>
/// var findings = new FindingList();
/// var summary = new IwarpCaptureDecoder(findings).DecodeFile("trace.pcapng");
/// Console.WriteLine(summary.Verdict.Summary);
/// </code>
/// </summary>
public sealed class IwarpCaptureDecoder : IStreamConsumerFactory
{
    private readonly FindingTally _findings;
    private readonly IFpduSink? _frames;
    private readonly TcpTrackerOptions _options;
    private readonly Dictionary<(int Flow, string Rule), int> _ruleCounts = [];
    private readonly List<IwarpFlowDecoder> _flows = [];
    private TcpTracker? _tracker;

    public IwarpCaptureDecoder(IFindingSink findings, IFpduSink? frames = null, TcpTrackerOptions? options = null)
    {
        _findings = new FindingTally(findings);
        _frames = frames;
        _options = options ?? new TcpTrackerOptions();
    }

    /// <summary>Opens <paramref name="path"/> and decodes it; <see cref="UserInputException"/> when it is not a readable capture.</summary>
    public DecodeSummary DecodeFile(string path)
    {
        using var source = CaptureFile.Open(path, _findings);
        return Decode(source);
    }

    /// <summary>Reads every packet of <paramref name="source"/> and decodes it. Call once per decoder.</summary>
    public DecodeSummary Decode(IPacketSource source)
    {
        if (_tracker is not null)
        {
            throw new InvalidOperationException("an IwarpCaptureDecoder decodes one capture");
        }
        var tracker = _tracker = new TcpTracker(_findings, this, _options);
        while (source.Read(out var packet) == PacketReadResult.Packet)
        {
            tracker.Process(packet);
        }
        tracker.Complete();
        ReportSuppressed();
        var infos = new List<IwarpFlowInfo>(_flows.Count);
        foreach (var flow in _flows)
        {
            flow.Info.Verdict = Judge(flow.Info);
            infos.Add(flow.Info);
        }
        return new DecodeSummary(tracker.Counters, infos, JudgeCapture(infos));
    }

    IStreamConsumer? IStreamConsumerFactory.Create(TcpFlow flow)
    {
        var decoder = new IwarpFlowDecoder(this, flow);
        _flows.Add(decoder);
        return decoder;
    }

    /// <summary>Timestamp of the last packet read so far.</summary>
    internal long LastTimestampNanos => _tracker?.Counters.LastTimestampNanos ?? 0;

    internal bool HasFrameSink => _frames is not null;

    internal void Emit(in IwarpFpdu fpdu) => _frames?.OnFpdu(in fpdu);

    /// <summary>Counts a finding of <paramref name="rule"/> in <paramref name="flow"/>; true while the flow has not had its share (the rest are counted for a closing note).</summary>
    internal bool Admit(FindingRule rule, int flow)
    {
        ref var n = ref CollectionsMarshal.GetValueRefOrAddDefault(_ruleCounts, (flow, rule.Id), out _);
        return n++ < _options.MaxFindingsPerRulePerFlow;
    }

    /// <summary>Lists an admitted finding.</summary>
    internal void Add(FindingRule rule, int flow, long frame, string message, string? fix) =>
        _findings.Report(new Finding(rule.Id, rule.Severity, frame, flow, message, fix ?? rule.Fix));

    private void ReportSuppressed()
    {
        foreach (var ((flow, rule), count) in _ruleCounts)
        {
            var max = _options.MaxFindingsPerRulePerFlow;
            if (count > max)
            {
                _findings.Report(new Finding(rule, FindingSeverity.Note, null, flow,
                    $"{count - max} more '{rule}' findings in flow {flow} were not listed ({count} in all).", "See the listed ones; they share the cause."));
            }
        }
    }

    private FlowVerdict Judge(IwarpFlowInfo info)
    {
        var tally = _findings.For(info.Id);
        if (tally?.First is { } worst && worst.Severity == FindingSeverity.Error)
        {
            return new FlowVerdict(VerdictStatus.Failed, $"{worst.RuleId}: {worst.Message}");
        }
        if (tally?.First is { } warning && warning.Severity == FindingSeverity.Warning)
        {
            return new FlowVerdict(VerdictStatus.Warning, $"{warning.RuleId}: {warning.Message}");
        }
        if (!info.IsIwarp)
        {
            var octets = info.Tcp.Client.StreamBytes + info.Tcp.Server.StreamBytes;
            return new FlowVerdict(VerdictStatus.NotIwarp, $"not iWARP: no MPA start frame or FPDUs in {octets} octets of TCP payload");
        }
        var how = info.RecoveredMidStream ? "framing recovered mid-stream" : "MPA handshake completed";
        return new FlowVerdict(VerdictStatus.Ok, $"{how}, {info.TotalFpdus} FPDUs decoded, no problems found");
    }

    private FlowVerdict JudgeCapture(List<IwarpFlowInfo> flows)
    {
        var capture = _findings.Capture;
        var failed = flows.Where(f => f.Verdict.Status == VerdictStatus.Failed).ToList();
        if (failed.Count > 0 || capture.Worst == FindingSeverity.Error && capture.First is not null)
        {
            var parts = failed.Take(3).Select(f => $"flow {f.Id}: {f.Verdict.Summary}").ToList();
            if (capture.Worst == FindingSeverity.Error && capture.First is { } c)
            {
                parts.Insert(0, $"{c.RuleId}: {c.Message}");
            }
            var more = failed.Count > 3 ? $" (and {failed.Count - 3} more)" : "";
            return new FlowVerdict(VerdictStatus.Failed, $"{failed.Count} of {flows.Count} flows failed{more}. {string.Join(" | ", parts)}");
        }
        var warned = flows.Where(f => f.Verdict.Status == VerdictStatus.Warning).ToList();
        if (warned.Count > 0 || capture.Worst == FindingSeverity.Warning && capture.First is not null)
        {
            var first = warned.Count > 0 ? $"flow {warned[0].Id}: {warned[0].Verdict.Summary}" : $"{capture.First!.RuleId}: {capture.First.Message}";
            return new FlowVerdict(VerdictStatus.Warning, $"{warned.Count} of {flows.Count} flows with warnings. {first}");
        }
        var iwarp = flows.Count(f => f.IsIwarp);
        if (iwarp == 0)
        {
            return new FlowVerdict(VerdictStatus.NotIwarp, $"no iWARP traffic: {flows.Count} TCP flow{(flows.Count == 1 ? "" : "s")}, none with an MPA start frame or FPDUs");
        }
        var fpdus = flows.Sum(f => f.TotalFpdus);
        return new FlowVerdict(VerdictStatus.Ok, $"{iwarp} iWARP flow{(iwarp == 1 ? "" : "s")}, {fpdus} FPDUs, no problems found");
    }
}
