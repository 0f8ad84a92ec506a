using System.CommandLine;
using System.Globalization;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag capture [-i IFACE] [--port P ...] [-w FILE.pcapng] [--count N] [--duration S] [--snaplen N]`:
/// live libpcap capture of iWARP-looking TCP (or of the given ports), per-flow summary lines while it runs,
/// TCP findings and the drop count at the end. Ctrl-C stops it and still leaves a valid file.
/// Exit 0, or 1 when an error-severity finding was made (a reset or unanswered SYN, an ICMP reject).
/// </summary>
public sealed class CaptureCommand : Command
{
    private readonly Option<string> _interface = new("--interface", "-i")
    {
        Description = "Interface to capture on; 'any' (default) captures on every interface.",
        DefaultValueFactory = _ => "any",
    };

    private readonly Option<string[]> _ports = new("--port")
    {
        Description = "Capture only TCP on this port (repeatable). Without it, every flow whose first payload is an MPA Request.",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string?> _write = new("--write", "-w")
    {
        Description = "Write the kept packets to this pcapng file (written as FILE.tmp, renamed when done).",
    };

    private readonly Option<string?> _count = new("--count")
    {
        Description = "Stop after this many kept packets.",
    };

    private readonly Option<string?> _duration = new("--duration")
    {
        Description = "Stop after this many seconds.",
    };

    private readonly Option<string?> _snaplen = new("--snaplen")
    {
        Description = "Octets kept of each packet (default 262144: everything).",
    };

    public CaptureCommand() : base("capture", "Capture iWARP traffic live (libpcap), show per-flow summaries and TCP findings, optionally write pcapng.")
    {
        Options.Add(_interface);
        Options.Add(_ports);
        Options.Add(_write);
        Options.Add(_count);
        Options.Add(_duration);
        Options.Add(_snaplen);
        // On a thread of its own, so the Ctrl-C handler sees a running task it can wait for (the file is committed on cancel).
        SetAction((parse, cancel) => Task.Run(() => Run(parse, cancel), CancellationToken.None));
    }

    private int Run(ParseResult parse, CancellationToken cancel)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var iface = parse.GetValue(_interface) ?? "any";
        var ports = ParsePorts(parse.GetValue(_ports) ?? []);
        var count = ParseNumber(parse.GetValue(_count), "--count", 1, long.MaxValue);
        var seconds = ParseSeconds(parse.GetValue(_duration));
        var snaplen = (int)(ParseNumber(parse.GetValue(_snaplen), "--snaplen", 64, 262144) ?? 262144);
        var path = parse.GetValue(_write);
        if (!PcapLibrary.IsAvailable)
        {
            error.WriteLine($"rdmadiag: {PcapLibrary.UnavailableReason}");
            return ExitCodes.Unavailable;
        }
        var filter = CaptureSelector.BuildFilter(ports);
        var selector = new CaptureSelector(ports);
        PcapNgWriter? writer = null;
        LiveCapture? capture = null;
        try
        {
            if (path is not null)
            {
                writer = PcapNgWriter.Create(path, $"rdmadiag capture -i {iface}: {selector.Describe()}; filter: {filter}");
            }
            capture = LiveCapture.Open(new LiveCaptureOptions { Interface = iface, Filter = filter, SnapLength = snaplen });
            var interfaceId = writer?.AddInterface(capture.LinkType, snaplen, iface, filter) ?? 0;
            output.WriteLine($"capturing on {iface} ({capture.LinkType}): {selector.Describe()}{(path is null ? "" : $", writing {path}")}; Ctrl-C stops");
            var findings = new FindingList();
            var tracker = new TcpTracker(CaptureLoop.Printer(output, findings));
            var loop = new CaptureLoop(capture, selector, writer, interfaceId, tracker, output);
            using var stop = cancel.Register(capture.Stop);
            var result = loop.Run(new CaptureLimits(count, seconds is null ? null : TimeSpan.FromSeconds(seconds.Value)), cancel);
            tracker.Complete();
            loop.PrintActiveFlows();
            writer?.Commit();
            var stats = capture.GetStatistics();
            output.WriteLine($"{result.PacketsKept} packets kept of {result.PacketsSeen} seen in {tracker.Flows.Count} flows{(path is null ? "" : $", written to {path}")}" +
                             $"{(result.Cancelled ? " (stopped by Ctrl-C)" : "")}");
            output.WriteLine($"dropped: {stats.DroppedByKernel} by the kernel (buffer full), {stats.DroppedByInterface} by the interface; libpcap received {stats.Received}");
            var errors = findings.Items.Count(f => f.Severity == FindingSeverity.Error);
            return errors > 0 ? ExitCodes.Failed : ExitCodes.Ok;
        }
        catch (CaptureUnavailableException e)
        {
            error.WriteLine($"rdmadiag: {e.Message}");
            return ExitCodes.Unavailable;
        }
        finally
        {
            writer?.Dispose();
            capture?.Dispose();
        }
    }

    internal static List<int> ParsePorts(IEnumerable<string> values)
    {
        var ports = new List<int>();
        foreach (var value in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                throw new UserInputException($"--port '{value}': expected a TCP port number from 1 to 65535");
            }
            if (!ports.Contains(port))
            {
                ports.Add(port);
            }
        }
        return ports;
    }

    internal static long? ParseNumber(string? value, string option, long min, long max)
    {
        if (value is null)
        {
            return null;
        }
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            throw new UserInputException($"{option} '{value}': expected a whole number from {min} to {max}");
        }
        return n;
    }

    internal static double? ParseSeconds(string? value)
    {
        if (value is null)
        {
            return null;
        }
        if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var s) || s <= 0 || s > 31_536_000)
        {
            throw new UserInputException($"--duration '{value}': expected a number of seconds greater than 0 (e.g. 10 or 0.5)");
        }
        return s;
    }
}
