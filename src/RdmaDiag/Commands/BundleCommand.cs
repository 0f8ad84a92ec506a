using System.CommandLine;
using System.Globalization;
using System.Reflection;
using RdmaDiag.Cli.Output;
using RdmaDiag.Diagnostics.Bundle;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Endpoint;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag bundle HOST`: one tar.gz to attach to a vendor ticket: the check with its capture decoded, a
/// short latency run when the check passed, the host's environment, SUMMARY.txt and manifest.json.
/// Exit 2 for bad input (and no file); otherwise the check's exit code, with the archive written.
/// </summary>
public sealed class BundleCommand : Command
{
    private readonly Argument<string> _host = new("host") { Description = "The server: a host name or an IP address" };
    private readonly Option<int> _port = new("--port") { Description = "TCP port of the iWARP listener", DefaultValueFactory = _ => IwarpSetupOptions.DefaultPort };
    private readonly Option<string?> _output = new("--output", "-o") { Description = "The archive to write (default rdmadiag-bundle-HOST-YYYYmmdd-HHMMSS.tar.gz here); written as FILE.tmp, renamed when complete", HelpName = "FILE.tar.gz" };
    private readonly Option<bool> _soft = new("--soft") { Description = "Check with RdmaDiag's userspace iWARP endpoint (the only engine in this build, so the default)" };
    private readonly Option<bool> _noLatency = new("--no-latency") { Description = "Skip the latency run (it runs only when the check's verdict is ok)" };
    private readonly Option<string?> _duration = new("--duration") { Description = $"Measure each latency mode and size for this many seconds (default {BundleOptions.DefaultLatencyIterations} iterations)", HelpName = "S" };
    private readonly Option<string?> _iterations = new("--iterations", "-n") { Description = $"Measured latency iterations per mode and size (default {BundleOptions.DefaultLatencyIterations})" };
    private readonly Option<string[]> _pcap = new("--pcap") { Description = "A capture you already have (repeatable): copied in and decoded", AllowMultipleArgumentsPerToken = true, HelpName = "FILE" };
    private readonly Option<bool> _redact = new("--redact") { Description = "Replace IP and MAC addresses in the text files with stable placeholders (the pcapng files are not redacted)" };
    private readonly Option<bool> _noCapture = new("--no-capture") { Description = "Do not capture the check's traffic" };
    private readonly Option<int?> _mpaRev = new("--mpa-rev") { Description = "check: MPA revision to request, 1 or 2 (default)" };
    private readonly Option<string> _crc = new("--crc") { Description = "check: CRC policy", HelpName = "required|preferred|off|forbidden" };
    private readonly Option<bool> _markers = new("--markers") { Description = "check: ask the server to insert MPA markers" };
    private readonly Option<string> _p2p = new("--p2p") { Description = "check: peer-to-peer mode with these RTR types", HelpName = "none|send|write|read|all" };
    private readonly Option<string> _sizes = new("--sizes") { Description = "check: message sizes for Send, Write and Read (default 64,4k,64k,1m)", HelpName = "LIST" };
    private readonly Option<int> _latencyTcpPort = new("--latency-tcp-port") { Description = "Port of HOST's tcp echo responder", DefaultValueFactory = _ => LatencyResponder.DefaultPort };
    private readonly Option<int> _latencySoftPort = new("--latency-soft-port") { Description = "Port of HOST's soft iWARP latency responder", DefaultValueFactory = _ => SoftLatencyProtocol.DefaultPort };
    private readonly Option<string?> _commandTimeout = new("--command-timeout") { Description = "Seconds each environment command may run (default 5)", HelpName = "S" };

    public BundleCommand() : base("bundle", "Write one archive with the check, its capture decoded, latency, the environment and a summary, to attach to a vendor ticket.")
    {
        Arguments.Add(_host);
        foreach (Option option in (Option[])[_port, _output, _soft, _noLatency, _duration, _iterations, _pcap, _redact, _noCapture, _mpaRev, _crc, _markers, _p2p,
                     _sizes, _latencyTcpPort, _latencySoftPort, _commandTimeout])
        {
            Options.Add(option);
        }
        // On a thread of its own, so a Ctrl-C cancels the token while the bundle runs and the .tmp is deleted at once.
        SetAction((parse, cancel) => Task.Run(() => Run(parse, cancel), CancellationToken.None));
    }

    private int Run(ParseResult parse, CancellationToken cancel)
    {
        TextWriter output = parse.InvocationConfiguration.Output;
        TextWriter error = parse.InvocationConfiguration.Error;
        string? p2p = parse.GetValue(_p2p);
        var check = new CheckOptions
        {
            Host = parse.GetValue(_host)!,
            Port = IwarpSetupOptions.CheckPort(parse.GetValue(_port)),
            Setup = IwarpSetupOptions.FromCommandLine(
                mpaRevision: parse.GetValue(_mpaRev),
                crc: parse.GetValue(_crc),
                markers: parse.GetValue(_markers),
                p2p: p2p is null || p2p.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : p2p,
                ird: null,
                ord: null),
            Sizes = parse.GetValue(_sizes) is { } sizes ? CheckOptions.ParseSizes(sizes) : CheckOptions.DefaultSizes,
            Capture = !parse.GetValue(_noCapture),
        };
        string? iterations = parse.GetValue(_iterations);
        string? duration = parse.GetValue(_duration);
        if (iterations is not null && duration is not null)
        {
            throw new UserInputException("--iterations and --duration: give one of them, not both");
        }
        var options = new BundleOptions
        {
            Check = check,
            OutputPath = parse.GetValue(_output),
            Latency = !parse.GetValue(_noLatency),
            LatencyIterations = iterations is null ? BundleOptions.DefaultLatencyIterations : LatencyOptionParser.ParseCount("--iterations", iterations, 1, 10_000_000),
            LatencyDuration = duration is null ? null : LatencyOptionParser.ParseDuration("--duration", duration),
            LatencyTcpPort = parse.GetValue(_latencyTcpPort),
            LatencySoftPort = parse.GetValue(_latencySoftPort),
            ExtraCaptures = parse.GetValue(_pcap) ?? [],
            Redact = parse.GetValue(_redact),
            CommandTimeout = parse.GetValue(_commandTimeout) is { } seconds ? CommandTimeout(seconds) : TimeSpan.FromSeconds(5),
            ToolVersion = Version,
            LatencyFormat = new LatencyFormat(),
        };
        try
        {
            BundleResult result = BundleBuilder.Run(options, output, cancel);
            CheckVerdict v = result.Check.Verdict;
            output.WriteLine($"verdict: {v.Cause.Id} (exit {v.Cause.ExitCode}): {v.Sentence}");
            output.WriteLine($"bundle: {result.Path} ({result.Entries.Count} files, {new FileInfo(result.Path).Length} bytes)");
            return result.ExitCode;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("rdmadiag bundle: interrupted; no archive was written");
            return 130;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"rdmadiag bundle: the archive could not be written: {e.Message}");
            return ExitCodes.Failed;
        }
    }

    private static TimeSpan CommandTimeout(string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double s) && s is > 0 and <= 600
            ? TimeSpan.FromSeconds(s)
            : throw new UserInputException($"--command-timeout '{text}': expected seconds greater than 0 and at most 600");

    internal static string Version =>
        typeof(BundleCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>The latency command's JSON and SVG, one file pair per mode.</summary>
    private sealed class LatencyFormat : ILatencyReportFormat
    {
        public void WriteJson(Stream stream, LatencyReport report)
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            LatencyJson.Write(writer, report, $"{report.Mode}.svg");
        }

        public void WriteSvg(Stream stream, LatencyReport report) =>
            LatencySvg.Write(stream, $"rdmadiag bundle: latency {report.Mode}", LatencyText.OverheadLine(report.Overhead), report.Series);
    }
}
