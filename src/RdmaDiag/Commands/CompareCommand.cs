using System.CommandLine;
using RdmaDiag.Cli.Output;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag compare --a SPEC --b SPEC [MODE...]`: the same RDMA modes and sizes on two paths (the
/// userspace endpoint, a verbs device, TCP; loopback or a host), side by side with B/A ratios of p50,
/// p99 and p99.9, --json, and one --svg with every series of both paths overlaid.
/// </summary>
public sealed class CompareCommand : Command
{
    private const string SpecHelp = "soft, soft:HOST[:PORT], soft+crc[:HOST], verbs[:DEV]@HOST[:PORT], tcp[:HOST[:PORT]]";

    private readonly Option<string> _a = new("--a") { Description = $"Path A: {SpecHelp}", Required = true, HelpName = "SPEC" };
    private readonly Option<string> _b = new("--b") { Description = $"Path B: {SpecHelp}", Required = true, HelpName = "SPEC" };

    private readonly Argument<string[]> _modes = new("mode")
    {
        Arity = ArgumentArity.ZeroOrMore,
        Description = "send, write, read (default all three); a tcp path runs TCP ping-pong in their place",
    };

    private readonly Option<string?> _size = new("--size") { Description = "Message size in bytes (default 64)" };
    private readonly Option<string?> _sizes = new("--sizes") { Description = "Several message sizes, e.g. 64,4096" };
    private readonly Option<bool> _sweep = new("--sweep") { Description = "Every power of two from 2 B to 8 MiB, like perftest -a" };
    private readonly Option<bool> _json = new("--json") { Description = "Print the comparison as JSON" };
    private readonly Option<string?> _svg = new("--svg") { Description = "Write one SVG with the histogram and CDF of every series of both paths" };
    private readonly LatencyRunOptions _run = new();

    public CompareCommand() : base("compare", "Run the same latency modes and sizes on two paths and show them side by side with ratios.")
    {
        Options.Add(_a);
        Options.Add(_b);
        Arguments.Add(_modes);
        Options.Add(_size);
        Options.Add(_sizes);
        Options.Add(_sweep);
        _run.AddTo(this);
        Options.Add(_json);
        Options.Add(_svg);
        SetAction(Execute);
    }

    private int Execute(ParseResult parse)
    {
        var output = parse.InvocationConfiguration.Output;
        var a = LatencyPath.Parse("--a", parse.GetValue(_a)!);
        var b = LatencyPath.Parse("--b", parse.GetValue(_b)!);
        var modes = LatencyComparison.ParseModes(parse.GetValue(_modes) ?? []);
        var settings = _run.Read(parse);
        settings = settings with
        {
            Sizes = LatencyOptionParser.ParseSizes(parse.GetValue(_size), parse.GetValue(_sizes), parse.GetValue(_sweep),
                modes.Cast<ILatencyMode>().Append(new TcpPingPongMode()).MinBy(m => m.MaxMessageSize(settings))!, settings),
        };
        var svgPath = parse.GetValue(_svg);
        using var svg = svgPath is null ? null : AtomicFile.Create(svgPath, "--svg");

        LatencyComparison comparison;
        try
        {
            comparison = LatencyComparison.Run(a, b, modes, settings);
        }
        catch (Exception e) when (LatencyRunOptions.IsRunFailure(e))
        {
            return LatencyRunOptions.ReportFailure(parse.InvocationConfiguration.Error, "compare", e);
        }

        if (svg is not null)
        {
            LatencySvg.Write(svg.Stream, $"rdmadiag compare: A {a.Spec} vs B {b.Spec}",
                $"{LatencyText.RunLine(settings)}; timer {comparison.Overhead.TimerNs:0} ns, loop {comparison.Overhead.LoopNs:0} ns", comparison.Overlay());
            svg.Commit();
        }
        if (parse.GetValue(_json))
        {
            LatencyCompareJson.Write(output, comparison, svgPath is null ? null : Path.GetFullPath(svgPath));
        }
        else
        {
            LatencyCompareText.Write(output, comparison);
            if (svgPath is not null)
            {
                output.WriteLine($"svg: {Path.GetFullPath(svgPath)}");
            }
        }
        return ExitCodes.Ok;
    }
}
