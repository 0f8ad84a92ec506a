using System.Diagnostics;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>Limits for <see cref="CaptureLoop.Run"/>; null means no limit.</summary>
public sealed record CaptureLimits(long? Count, TimeSpan? Duration)
{
    /// <summary>How often flows with new packets get a summary line.</summary>
    public TimeSpan SummaryInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>What a capture loop did.</summary>
public readonly record struct CaptureLoopResult(long PacketsSeen, long PacketsKept, bool Cancelled);

/// <summary>
/// The body of <c>rdmadiag capture</c>: reads a packet source, keeps what the <see cref="CaptureSelector"/>
/// chooses, writes it (optional) and follows it with a <see cref="TcpTracker"/> whose frame numbers are the
/// kept packets' numbers in the written file. Prints a summary line per active flow every interval.
/// </summary>
public sealed class CaptureLoop(IPacketSource source, CaptureSelector selector, PcapNgWriter? writer, int interfaceId, TcpTracker tracker, TextWriter output)
{
    private readonly Dictionary<int, long> _printedAt = [];
    private long _kept;
    private LinkType _linkType;

    public CaptureLoopResult Run(CaptureLimits limits, CancellationToken cancel)
    {
        long seen = 0;
        var started = Stopwatch.GetTimestamp();
        var lastSummary = started;
        var emit = new SelectedPacket(Keep);
        while (!cancel.IsCancellationRequested)
        {
            if (limits.Duration is { } d && Stopwatch.GetElapsedTime(started) >= d)
            {
                break;
            }
            var r = source.Read(out var packet);
            if (r == PacketReadResult.End)
            {
                break;
            }
            if (r == PacketReadResult.Packet)
            {
                seen++;
                _linkType = packet.LinkType;
                var parsed = PacketParser.Parse(packet.LinkType, packet.Data);
                selector.Offer(packet, ref parsed, emit);
                if (limits.Count is { } c && _kept >= c)
                {
                    break;
                }
            }
            if (Stopwatch.GetElapsedTime(lastSummary) >= limits.SummaryInterval)
            {
                lastSummary = Stopwatch.GetTimestamp();
                PrintActiveFlows();
            }
        }
        return new CaptureLoopResult(seen, _kept, cancel.IsCancellationRequested);
    }

    private void Keep(long ts, int originalLength, ReadOnlySpan<byte> data)
    {
        if (writer is not null)
        {
            writer.Write(interfaceId, ts, originalLength, data);
        }
        _kept++;
        var parsed = PacketParser.Parse(_linkType, data);
        tracker.Process(ref parsed, _kept, ts, originalLength > data.Length);
    }

    /// <summary>One line for each flow that had packets since its last line.</summary>
    public void PrintActiveFlows()
    {
        foreach (var flow in tracker.Flows)
        {
            if (_printedAt.TryGetValue(flow.Id, out var at) && at == flow.LastFrame)
            {
                continue;
            }
            _printedAt[flow.Id] = flow.LastFrame;
            output.WriteLine(FlowSummary(flow));
        }
    }

    /// <summary><c>flow 0 10.0.0.1:40000 → 10.0.0.2:7174 Established  c→s 12 pkts 3456 B  s→c 10 pkts 1200 B  retrans 0/0  gaps 0/0</c></summary>
    public static string FlowSummary(TcpFlow flow)
    {
        var c = flow.Client;
        var s = flow.Server;
        return $"flow {flow.Id} {flow.Describe()} {flow.State}  c→s {c.Packets} pkts {c.PayloadBytes} B  s→c {s.Packets} pkts {s.PayloadBytes} B" +
               $"  retrans {c.Retransmissions}/{s.Retransmissions}  gaps {c.GapBytes}/{s.GapBytes} B";
    }

    /// <summary>A sink that prints each finding as one line as soon as it is made.</summary>
    public static IFindingSink Printer(TextWriter output, FindingList keep) => new DelegateFindingSink(f =>
    {
        keep.Report(f);
        output.WriteLine(f.ToString());
    });
}
