using System.CommandLine;
using System.Net.Sockets;
using RdmaDiag.Cli.Output;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag latency MODE [HOST]`: ping-pong and kernel-to-user latency with every percentile, the
/// measurement's own overhead, --json and an --svg picture. Modes come from <see cref="LatencyModeCatalog"/>.
/// </summary>
public sealed class LatencyCommand : Command
{
    private readonly Argument<string> _mode = new("mode")
    {
        Description = "What to measure: " + string.Join("; ", LatencyModeCatalog.All.Select(m => $"{m.Name} = {m.Description}")),
    };

    private readonly Argument<string?> _host = new("host")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description = "Host running the latency responder (rdmadiag serve); omitted: an in-process responder on loopback",
    };

    private readonly Option<string?> _port = new("--port") { Description = $"Responder port (default {LatencyResponder.DefaultPort}; ephemeral on loopback)" };
    private readonly Option<string?> _size = new("--size") { Description = "Message size in bytes (default 64)" };
    private readonly Option<string?> _sizes = new("--sizes") { Description = "Several message sizes, e.g. 64,4096" };
    private readonly Option<bool> _sweep = new("--sweep") { Description = "Every power of two from 2 B up to the mode's limit (at most 8 MiB), like perftest -a" };
    private readonly Option<string?> _iterations = new("--iterations", "-n") { Description = $"Measured iterations per size (default {LatencyRunSettings.DefaultIterations})" };
    private readonly Option<string?> _duration = new("--duration") { Description = "Measure each size for this many seconds instead of a count" };
    private readonly Option<string?> _warmup = new("--warmup") { Description = $"Unrecorded iterations before each size (default {LatencyRunSettings.DefaultWarmup})" };
    private readonly Option<bool> _busyPoll = new("--busy-poll") { Description = "Spin on non-blocking receives instead of sleeping in the kernel (uses a whole CPU per end)" };
    private readonly Option<string?> _cpu = new("--cpu") { Description = "Pin the measuring thread to this CPU" };
    private readonly Option<string?> _transport = new("--transport") { Description = "rx-stamp: udp, tcp or both (default both)" };
    private readonly Option<string?> _timestamps = new("--timestamps") { Description = "rx-stamp: auto (software, and hardware when on), sw or hw (default auto)" };
    private readonly Option<bool> _json = new("--json") { Description = "Print the report as JSON" };
    private readonly Option<string?> _svg = new("--svg") { Description = "Write a histogram and CDF of every series to this SVG file" };

    public LatencyCommand() : base("latency", "Measure latency percentiles: tcp ping-pong, rx-stamp (kernel receive timestamp to user space).")
    {
        Arguments.Add(_mode);
        Arguments.Add(_host);
        foreach (var option in new Option[] { _port, _size, _sizes, _sweep, _iterations, _duration, _warmup, _busyPoll, _cpu, _transport, _timestamps, _json, _svg })
        {
            Options.Add(option);
        }
        SetAction(Execute);
    }

    private int Execute(ParseResult parse)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var (mode, settings) = ReadSettings(parse);
        var svgPath = parse.GetValue(_svg);
        using var svg = svgPath is null ? null : AtomicFile.Create(svgPath, "--svg");

        LatencyReport report;
        try
        {
            report = LatencyRunner.Run(mode, settings);
        }
        catch (Exception e) when (e is IOException or TimeoutException or SocketException)
        {
            error.WriteLine($"rdmadiag: latency {mode.Name}: {e.Message}");
            return ExitCodes.Failed;
        }

        if (svg is not null)
        {
            var subtitle = $"{report.Mode}, {(settings.BusyPoll ? "busy-poll" : "blocking")}; {LatencyText.OverheadLine(report.Overhead)}";
            LatencySvg.Write(svg.Stream, $"rdmadiag latency {report.Mode}", subtitle, report.Series);
            svg.Commit();
        }
        if (parse.GetValue(_json))
        {
            LatencyJson.Write(output, report, svgPath is null ? null : Path.GetFullPath(svgPath));
        }
        else
        {
            LatencyText.Write(output, report);
            if (svgPath is not null)
            {
                output.WriteLine($"svg: {Path.GetFullPath(svgPath)}");
            }
        }
        return ExitCodes.Ok;
    }

    private (ILatencyMode Mode, LatencyRunSettings Settings) ReadSettings(ParseResult parse)
    {
        var modeName = parse.GetValue(_mode) ?? "";
        var mode = LatencyModeCatalog.Find(modeName)
            ?? throw new UserInputException($"MODE '{modeName}': expected one of {string.Join(", ", LatencyModeCatalog.All.Select(m => m.Name))}");
        var iterations = parse.GetValue(_iterations);
        var duration = parse.GetValue(_duration);
        if (iterations is not null && duration is not null)
        {
            throw new UserInputException("--iterations and --duration: give one of them, not both");
        }
        var settings = new LatencyRunSettings
        {
            Host = parse.GetValue(_host),
            Port = parse.GetValue(_port) is { } port ? LatencyOptionParser.ParsePort(port) : 0,
            Iterations = iterations is null ? LatencyRunSettings.DefaultIterations : LatencyOptionParser.ParseCount("--iterations", iterations, 1, 1_000_000_000),
            Duration = duration is null ? null : LatencyOptionParser.ParseDuration("--duration", duration),
            Warmup = parse.GetValue(_warmup) is { } warmup ? (int)LatencyOptionParser.ParseCount("--warmup", warmup, 0, 10_000_000) : LatencyRunSettings.DefaultWarmup,
            BusyPoll = parse.GetValue(_busyPoll),
            Cpu = parse.GetValue(_cpu) is { } cpu ? (int)LatencyOptionParser.ParseCount("--cpu", cpu, 0, 1023) : null,
            Transports = parse.GetValue(_transport) is { } transport ? LatencyOptionParser.ParseTransports(transport) : RxStampTransports.Both,
            Timestamps = parse.GetValue(_timestamps) is { } timestamps ? LatencyOptionParser.ParseTimestamps(timestamps) : TimestampSource.Auto,
        };
        return (mode, settings with
        {
            Sizes = LatencyOptionParser.ParseSizes(parse.GetValue(_size), parse.GetValue(_sizes), parse.GetValue(_sweep), mode, settings),
        });
    }
}
