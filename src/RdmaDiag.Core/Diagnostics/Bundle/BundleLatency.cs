using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Latency;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>One mode's latency run in the bundle: its report, or why it was skipped.</summary>
public sealed record BundleLatencyRun(string Mode, LatencyReport? Report, string? Skipped);

/// <summary>
/// The short latency run of a bundle: tcp ping-pong against HOST's echo responder, and soft send, write and
/// read against its soft iWARP latency responder, each at 64 B and 4 KiB. A mode whose responder does
/// not answer is skipped with a note; the others still run.
/// </summary>
internal static class BundleLatency
{
    public const string Folder = "latency/";

    private static readonly string[] Modes = ["tcp", "send", "write", "read"];

    public static IReadOnlyList<BundleLatencyRun> Run(BundleOptions options, BundleArchive archive, CancellationToken cancel)
    {
        var runs = new List<BundleLatencyRun>();
        foreach (string name in Modes)
        {
            cancel.ThrowIfCancellationRequested();
            ILatencyMode mode = LatencyModeCatalog.Find(name)!;
            int port = mode is RdmaLatencyMode ? options.LatencySoftPort : options.LatencyTcpPort;
            var settings = new LatencyRunSettings
            {
                Host = options.Host,
                Port = port,
                Sizes = BundleOptions.LatencySizes,
                Iterations = options.LatencyIterations,
                Duration = options.LatencyDuration,
                Warmup = (int)Math.Min(LatencyRunSettings.DefaultWarmup / 5, options.LatencyIterations),
                Transport = RdmaTransport.Soft,
            };
            LatencyReport report;
            try
            {
                report = LatencyRunner.Run(mode, settings);
            }
            catch (Exception e) when (e is UserInputException or IOException or TimeoutException or SocketException or IwarpException or LatencyUnavailableException)
            {
                string responder = mode is RdmaLatencyMode ? "soft iWARP latency responder" : "tcp echo responder";
                runs.Add(new BundleLatencyRun(name, null,
                    $"latency {name} skipped: the {responder} at {options.Host} port {port} (serve --soft) did not answer: {e.Message}"));
                continue;
            }
            runs.Add(new BundleLatencyRun(name, report, null));
            if (options.LatencyFormat is { } format)
            {
                using (var json = new MemoryStream())
                {
                    format.WriteJson(json, report);
                    archive.AddText($"{Folder}{name}.json", System.Text.Encoding.UTF8.GetString(json.ToArray()).TrimStart('\uFEFF'), $"rdmadiag latency {name} {options.Host} --sizes 64,4096 --json");
                }
                using (var svg = new MemoryStream())
                {
                    format.WriteSvg(svg, report);
                    archive.AddText($"{Folder}{name}.svg", System.Text.Encoding.UTF8.GetString(svg.ToArray()).TrimStart('\uFEFF'), $"rdmadiag latency {name} {options.Host} --sizes 64,4096 --svg");
                }
            }
        }
        return runs;
    }
}
