using System.CommandLine;
using System.Net.Sockets;
using RdmaDiag.Cli.Output;
using RdmaDiag.Endpoint;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag latency MODE [HOST]`: ping-pong, RDMA Read and kernel-to-user latency with every
/// percentile, the measurement's own overhead, --json and an --svg picture. Modes come from
/// <see cref="LatencyModeCatalog"/>.
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
        Description = "Host running `rdmadiag serve --soft` (its latency responders); omitted: an in-process responder on loopback",
    };

    private readonly Option<string?> _port = new("--port")
    {
        Description = $"Responder port (default {SoftLatencyProtocol.DefaultPort} for send/write/read, {LatencyResponder.DefaultPort} for tcp/rx-stamp; ephemeral on loopback)",
    };

    private readonly Option<string?> _size = new("--size") { Description = "Message size in bytes (default 64)" };
    private readonly Option<string?> _sizes = new("--sizes") { Description = "Several message sizes, e.g. 64,4096" };
    private readonly Option<bool> _sweep = new("--sweep") { Description = "Every power of two from 2 B up to the mode's limit (at most 8 MiB), like perftest -a" };
    private readonly Option<bool> _soft = new("--soft") { Description = "send/write/read: over RdmaDiag's userspace iWARP endpoint (the default)" };
    private readonly Option<bool> _verbs = new("--verbs") { Description = "send/write/read: over an RDMA device through libibverbs (exit 3 when there is none)" };
    private readonly Option<string?> _transport = new("--transport") { Description = "rx-stamp: udp, tcp or both (default both)" };
    private readonly Option<string?> _timestamps = new("--timestamps") { Description = "rx-stamp: auto (software, and hardware when on), sw or hw (default auto)" };
    private readonly Option<bool> _json = new("--json") { Description = "Print the report as JSON" };
    private readonly Option<string?> _svg = new("--svg") { Description = "Write a histogram and CDF of every series to this SVG file" };
    private readonly LatencyRunOptions _run = new();

    public LatencyCommand() : base("latency", "Measure latency percentiles: RDMA send, write and read, tcp ping-pong, rx-stamp (kernel receive timestamp to user space).")
    {
        Arguments.Add(_mode);
        Arguments.Add(_host);
        foreach (var option in new Option[] { _port, _size, _sizes, _sweep, _soft, _verbs })
        {
            Options.Add(option);
        }
        _run.AddTo(this);
        foreach (var option in new Option[] { _transport, _timestamps, _json, _svg })
        {
            Options.Add(option);
        }
        Subcommands.Add(new LatencyServeCommand());
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
        catch (Exception e) when (LatencyRunOptions.IsRunFailure(e))
        {
            return LatencyRunOptions.ReportFailure(error, $"latency {mode.Name}", e);
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
        var soft = parse.GetValue(_soft);
        var verbs = parse.GetValue(_verbs);
        if (soft && verbs)
        {
            throw new UserInputException("--soft and --verbs: give one of them, not both");
        }
        if (mode is not RdmaLatencyMode)
        {
            foreach (var (given, name) in new[] { (soft, "--soft"), (verbs, "--verbs"), (parse.GetValue(_run.Crc), "--crc") })
            {
                if (given)
                {
                    throw new UserInputException($"{name} applies to the RDMA modes (send, write, read), not to {mode.Name}");
                }
            }
        }
        var settings = _run.Read(parse) with
        {
            Host = parse.GetValue(_host),
            Port = parse.GetValue(_port) is { } port ? LatencyOptionParser.ParsePort(port) : 0,
            Transport = verbs ? RdmaTransport.Verbs : RdmaTransport.Soft,
            Transports = parse.GetValue(_transport) is { } transport ? LatencyOptionParser.ParseTransports(transport) : RxStampTransports.Both,
            Timestamps = parse.GetValue(_timestamps) is { } timestamps ? LatencyOptionParser.ParseTimestamps(timestamps) : TimestampSource.Auto,
        };
        return (mode, settings with
        {
            Sizes = LatencyOptionParser.ParseSizes(parse.GetValue(_size), parse.GetValue(_sizes), parse.GetValue(_sweep), mode, settings),
        });
    }
}

/// <summary>
/// `rdmadiag latency serve --soft|--verbs`: the responders `latency` measures against (the tcp/udp echo
/// responder and the RDMA latency responder), without the probe server, until SIGINT or SIGTERM. With
/// --verbs the RDMA responder listens through rdma_cm on the device holding --listen.
/// </summary>
internal sealed class LatencyServeCommand : Command
{
    private readonly Option<bool> _soft = new("--soft") { Description = "Serve send/write/read on RdmaDiag's userspace iWARP endpoint (the default)" };
    private readonly Option<bool> _verbs = new("--verbs") { Description = "Serve send/write/read through rdma_cm on this host's RDMA device (exit 3 when there is none)" };
    private readonly Option<string> _listen = new("--listen") { Description = "Local address to listen on", DefaultValueFactory = _ => "0.0.0.0" };
    private readonly Option<string?> _port = new("--port") { Description = $"RDMA latency responder port (default {SoftLatencyProtocol.DefaultPort}); the tcp/udp echo responder takes {LatencyResponder.DefaultPort}" };

    public LatencyServeCommand() : base("serve", "Serve the latency responders (RDMA send/write/read on --soft or --verbs, tcp/udp echo) until Ctrl-C.")
    {
        foreach (var option in new Option[] { _soft, _verbs, _listen, _port })
        {
            Options.Add(option);
        }
        SetAction(Run);
    }

    private int Run(ParseResult parse)
    {
        var output = parse.InvocationConfiguration.Output;
        var verbs = parse.GetValue(_verbs);
        if (verbs && parse.GetValue(_soft))
        {
            throw new UserInputException("--soft and --verbs: give one of them, not both");
        }
        var listen = parse.GetValue(_listen)!;
        if (!System.Net.IPAddress.TryParse(listen, out var address))
        {
            throw new UserInputException($"--listen '{listen}': expected an IP address to listen on");
        }
        var port = parse.GetValue(_port) is { } text ? LatencyOptionParser.ParsePort(text) : SoftLatencyProtocol.DefaultPort;
        if (verbs)
        {
            try
            {
                VerbsTransport.CheckAvailable(null);
            }
            catch (LatencyUnavailableException e)
            {
                return LatencyRunOptions.ReportFailure(parse.InvocationConfiguration.Error, "latency serve", e);
            }
        }
        using var stop = new CancellationTokenSource();
        void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);
        using var services = verbs
            ? LatencyServices.StartVerbs(address, output, verbsPort: port)
            : LatencyServices.Start(address, new IwarpSetupOptions(), output, softPort: port);
        if (services.SoftEndPoint is null)
        {
            parse.InvocationConfiguration.Error.WriteLine($"rdmadiag: latency serve: the {(verbs ? "verbs" : "soft")} latency responder could not listen on {address}:{port} (see above)");
            return ExitCodes.Failed;
        }
        output.WriteLine($"rdmadiag latency serve --{(verbs ? "verbs" : "soft")}: listening on {services.SoftEndPoint}; Ctrl-C stops");
        output.Flush();
        stop.Token.WaitHandle.WaitOne();
        output.WriteLine("rdmadiag latency serve: stopped");
        return ExitCodes.Ok;
    }
}

/// <summary>
/// The options `latency` and `compare` share: how long and how to measure. Both commands add them
/// with <see cref="AddTo"/> and read them with <see cref="Read"/>.
/// </summary>
internal sealed class LatencyRunOptions
{
    private readonly Option<string?> _iterations = new("--iterations", "-n") { Description = $"Measured iterations per size (default {LatencyRunSettings.DefaultIterations})" };
    private readonly Option<string?> _duration = new("--duration") { Description = "Measure each size for this many seconds instead of a count" };
    private readonly Option<string?> _warmup = new("--warmup") { Description = $"Unrecorded iterations before each size (default {LatencyRunSettings.DefaultWarmup})" };
    private readonly Option<bool> _busyPoll = new("--busy-poll") { Description = "Spin instead of sleeping in the kernel while waiting (uses a whole CPU per end)" };
    private readonly Option<string?> _cpu = new("--cpu") { Description = "Pin the measuring thread to this CPU" };

    public Option<bool> Crc { get; } = new("--crc") { Description = "send/write/read: require MPA CRC32c on every FPDU (the main cost of soft iWARP); default off unless the responder asks" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _iterations, _duration, _warmup, _busyPoll, _cpu, Crc })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The settings these options give; Host, Port, Sizes and the transports are the caller's.</summary>
    public LatencyRunSettings Read(ParseResult parse)
    {
        var iterations = parse.GetValue(_iterations);
        var duration = parse.GetValue(_duration);
        if (iterations is not null && duration is not null)
        {
            throw new UserInputException("--iterations and --duration: give one of them, not both");
        }
        return new LatencyRunSettings
        {
            Iterations = iterations is null ? LatencyRunSettings.DefaultIterations : LatencyOptionParser.ParseCount("--iterations", iterations, 1, 1_000_000_000),
            Duration = duration is null ? null : LatencyOptionParser.ParseDuration("--duration", duration),
            Warmup = parse.GetValue(_warmup) is { } warmup ? (int)LatencyOptionParser.ParseCount("--warmup", warmup, 0, 10_000_000) : LatencyRunSettings.DefaultWarmup,
            BusyPoll = parse.GetValue(_busyPoll),
            Cpu = parse.GetValue(_cpu) is { } cpu ? (int)LatencyOptionParser.ParseCount("--cpu", cpu, 0, 1023) : null,
            Crc = parse.GetValue(Crc),
        };
    }

    /// <summary>A failure of the measured path (not of the user's input): the run ends with exit 1, or 3 when something is missing.</summary>
    public static bool IsRunFailure(Exception e) =>
        e is IOException or TimeoutException or SocketException or IwarpException or LatencyUnavailableException;

    public static int ReportFailure(TextWriter error, string what, Exception e)
    {
        if (e is LatencyUnavailableException)
        {
            error.WriteLine($"rdmadiag: {what} {e.Message}");
            return ExitCodes.Unavailable;
        }
        error.WriteLine($"rdmadiag: {what}: {e.Message}");
        return ExitCodes.Failed;
    }
}
