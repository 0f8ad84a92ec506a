using System.CommandLine;
using System.Diagnostics;
using System.Net;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag selftest`: the main job on loopback. The wire codecs against the RFC vectors, then
/// `serve --soft` and `check --soft` end to end over 127.0.0.1 with the MPA variants that matter for
/// interop (siw's defaults, CRC, markers, Rev 1, peer-to-peer RTR), each with Send, Write and Read from
/// 64 B to 1 MiB verified, and the check's own capture decoded when libpcap and privileges allow.
/// </summary>
public sealed class SelftestCommand : Command
{
    private static readonly (string Name, IwarpSetupOptions Setup)[] Variants =
    [
        ("siw defaults (Rev 2, CRC off, no markers)", IwarpSetupOptions.Default),
        ("CRC required", IwarpSetupOptions.Default with { Crc = CrcPolicy.Required }),
        ("markers both ways and CRC", IwarpSetupOptions.Default with { RequestMarkers = true, Crc = CrcPolicy.Preferred }),
        ("MPA Rev 1", IwarpSetupOptions.Default with { MpaRevision = 1 }),
        ("peer-to-peer with Read RTR", IwarpSetupOptions.Default with { PeerToPeer = RtrTypes.Read }),
    ];

    private readonly Option<bool> _noCapture = new("--no-capture") { Description = "Do not capture and decode the loopback traffic." };

    public SelftestCommand() : base("selftest", "Run RdmaDiag's own checks end to end on this host: wire codecs against the RFC vectors, then serve --soft and check --soft over loopback.")
    {
        Options.Add(_noCapture);
        SetAction(parse => Run(parse.InvocationConfiguration.Output, capture: !parse.GetValue(_noCapture)));
    }

    private static int Run(TextWriter output, bool capture)
    {
        var failed = 0;
        output.WriteLine("wire codecs against the RFC 5044/7143 vectors and iwarp-wire.md §8:");
        foreach (var check in WireSelfCheck.Run())
        {
            failed += Report(output, check.Passed, check.Name, check.Detail);
        }

        output.WriteLine("serve --soft and check --soft on loopback (Send, Write, Read; 64 B to 1 MiB, verified):");
        foreach (var (name, setup) in Variants)
        {
            failed += LoopbackCheck(output, name, setup, capture);
        }

        output.WriteLine(failed == 0 ? "selftest: ok" : $"selftest: {failed} check(s) failed");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static int LoopbackCheck(TextWriter output, string name, IwarpSetupOptions setup, bool capture)
    {
        var serverLog = new StringWriter();
        using var server = SoftServer.Start(new IPEndPoint(IPAddress.Loopback, 0), setup, serverLog);
        using var stop = new CancellationTokenSource();
        var serving = server.RunAsync(stop.Token);
        var started = Stopwatch.GetTimestamp();
        CheckReport report;
        try
        {
            report = CheckRunner.Run(new CheckOptions
            {
                Host = "127.0.0.1",
                Port = server.LocalEndPoint.Port,
                Setup = setup,
                Capture = capture,
            });
        }
        finally
        {
            stop.Cancel();
            serving.Wait(TimeSpan.FromSeconds(5));
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        var ok = report.Verdict.Cause.IsOk;
        var errors = report.Capture?.Findings.Count(f => f.Severity == Diagnostics.Findings.FindingSeverity.Error) ?? 0;
        var captured = report.Capture is null ? "no capture" : $"capture decoded, {errors} error finding(s)";
        var detail = ok
            ? $"{elapsed.TotalMilliseconds:F0} ms, {report.Operations.Count} operations; {CheckOutput.MpaText(report)}; {captured}"
            : $"{report.Verdict.Cause.Id}: {report.Verdict.Sentence}";
        return Report(output, ok && errors == 0, name, detail, alwaysDetail: true);
    }

    private static int Report(TextWriter output, bool passed, string name, string detail, bool alwaysDetail = false)
    {
        output.WriteLine($"  {(passed ? "ok  " : "FAIL")} {name}{(passed && !alwaysDetail ? "" : ": " + detail)}");
        return passed ? 0 : 1;
    }
}
