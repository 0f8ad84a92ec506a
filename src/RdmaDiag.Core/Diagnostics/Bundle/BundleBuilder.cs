using System.Net;
using System.Text;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Capture.Iwarp.Report;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>What a decoded capture in the bundle showed.</summary>
public sealed record BundleDecode(string Name, long Packets, int Flows, int IwarpFlows, FlowVerdict? Verdict, IReadOnlyList<Finding> Findings, string? Failure);

/// <summary>The written bundle: where it is, the check it holds and its exit code, and every file.</summary>
public sealed record BundleResult(string Path, CheckReport Check, IReadOnlyList<BundleEntry> Entries)
{
    /// <summary>The check's exit code, so a script can branch on the verdict.</summary>
    public int ExitCode => Check.ExitCode;
}

/// <summary>
/// `rdmadiag bundle`: runs the check while capturing its flow, decodes the capture and any the user adds,
/// runs a short latency set when the check passed, collects the host's environment, and writes it all with
/// SUMMARY.txt and manifest.json as one tar.gz. Bad input fails before anything is written; once the check
/// has run the archive is written whatever the verdict.
/// </summary>
public static class BundleBuilder
{
    public const string CapturePath = "capture/check.pcapng";

    public static BundleResult Run(BundleOptions options, TextWriter progress, CancellationToken cancel)
    {
        try
        {
            return RunUncancelled(options, progress, cancel);
        }
        catch (Exception e) when (cancel.IsCancellationRequested && e is IOException or UnauthorizedAccessException)
        {
            // A Ctrl-C deleted the staging directory under a write in progress.
            throw new OperationCanceledException("the bundle was interrupted", e, cancel);
        }
    }

    private static BundleResult RunUncancelled(BundleOptions options, TextWriter progress, CancellationToken cancel)
    {
        IPAddress address = options.Validate();
        var target = new IPEndPoint(address, options.Port);
        string path = options.OutputPath ?? Path.Combine(Environment.CurrentDirectory, BundleOptions.DefaultFileName(options.Host, DateTime.Now));
        using var archive = BundleArchive.Create(path, options.Redact);
        using var abandon = cancel.Register(archive.Abandon);
        var summary = new BundleSummary(options, DateTimeOffset.Now);

        progress.WriteLine($"bundle: checking {options.Host} port {options.Port}{(options.Check.Capture ? " (capturing its traffic when permitted)" : "")}");
        progress.Flush();
        CheckReport report = RunCheck(options, target, archive, summary);
        cancel.ThrowIfCancellationRequested();

        foreach (var (source, name) in ExtraNames(options.ExtraCaptures))
        {
            archive.AddCopy(name, source, $"--pcap {source} (copied unchanged)");
            summary.Decodes.Add(Decode(archive, archive.StagingPath(name), name));
            cancel.ThrowIfCancellationRequested();
        }

        if (!options.Latency)
        {
            summary.LatencyNote = "not run: --no-latency was given";
        }
        else if (!report.Cause.IsOk)
        {
            summary.LatencyNote = $"not run: the check's verdict is {report.Cause.Id}, and latency is only meaningful over a working connection";
        }
        else
        {
            progress.WriteLine("bundle: short latency run (tcp, send, write, read at 64 B and 4 KiB)");
            progress.Flush();
            summary.Latency.AddRange(BundleLatency.Run(options, archive, cancel));
        }

        progress.WriteLine("bundle: collecting the environment");
        progress.Flush();
        var environment = new EnvironmentCollector(archive, address, options.Port, options.CommandTimeout, options.ToolVersion);
        environment.CollectAll(cancel);
        summary.Missing.AddRange(environment.Missing);

        var entries = archive.Commit(summary.Render(report, archive.Redactor));
        return new BundleResult(archive.Path, report, entries);
    }

    private static CheckReport RunCheck(BundleOptions options, IPEndPoint target, BundleArchive archive, BundleSummary summary)
    {
        string staged = archive.StagingPath(CapturePath);
        string? unavailable = "--no-capture was given";
        FlowCapture? capture = options.Check.Capture ? FlowCapture.TryStart(target, staged, out unavailable) : null;
        CheckReport report;
        try
        {
            report = CheckRunner.Run(options.Check);
        }
        catch
        {
            capture?.Dispose();
            throw;
        }
        using (var text = new StringWriter())
        {
            text.WriteLine(CheckOutput.Banner(options.Check));
            CheckOutput.WriteText(text, report);
            archive.AddText("check/check.txt", text.ToString(), $"rdmadiag check {options.Host} --port {options.Port}");
        }
        using (var json = new StringWriter())
        {
            CheckOutput.WriteJson(json, report);
            archive.AddText("check/check.json", json.ToString(), $"rdmadiag check {options.Host} --port {options.Port} --json");
        }
        if (capture is null)
        {
            summary.Missing.Add($"{CapturePath}: {unavailable}");
            return report;
        }
        using (capture)
        {
            var (packets, drops, failure) = capture.Stop(TimeSpan.FromMilliseconds(300));
            archive.AddStaged(CapturePath, $"libpcap on {CheckCapture.Interface} during the check, filter: {CheckCapture.Filter(target)}; {packets} packets, {drops} dropped by the kernel");
            if (failure is not null)
            {
                summary.Missing.Add($"{CapturePath}: the capture stopped early: {failure}");
            }
        }
        summary.Decodes.Add(Decode(archive, staged, CapturePath));
        return report;
    }

    /// <summary>Archive names for the user's captures: pcaps/NAME, numbered when two share a name.</summary>
    private static IEnumerable<(string Source, string Name)> ExtraNames(IReadOnlyList<string> sources)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (string source in sources)
        {
            string file = Path.GetFileName(source);
            string name = "pcaps/" + file;
            for (int n = 2; !used.Add(name); n++)
            {
                name = $"pcaps/{Path.GetFileNameWithoutExtension(file)}-{n}{Path.GetExtension(file)}";
            }
            yield return (source, name);
        }
    }

    /// <summary>Decodes a capture in the staging directory into NAME.decode.txt and NAME.decode.json beside it.</summary>
    internal static BundleDecode Decode(BundleArchive archive, string stagedPath, string name)
    {
        var findings = new FindingList();
        DecodeSummary decoded;
        string spoolPath = archive.StagingPath($".spool/{Guid.NewGuid():N}.json");
        try
        {
            using var spool = new FileStream(spoolPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            using (var frames = new FpduJsonSink(spool, null))
            {
                decoded = new IwarpCaptureDecoder(findings, frames).DecodeFile(stagedPath);
                frames.Complete();
            }
            using (var text = new StringWriter())
            {
                DecodeReport.WriteText(text, name, decoded, findings.Items, null);
                archive.AddText(name + ".decode.txt", text.ToString(), $"rdmadiag decode {name}");
            }
            using var json = new MemoryStream();
            DecodeReport.WriteJson(json, name, decoded, findings.Items, null, spool);
            archive.AddText(name + ".decode.json", Encoding.UTF8.GetString(json.ToArray()), $"rdmadiag decode {name} --json");
        }
        catch (Exception e) when (e is UserInputException or IOException or InvalidDataException)
        {
            archive.AddText(name + ".decode.txt", $"not decoded: {e.Message}\n", $"rdmadiag decode {name} (failed)");
            return new BundleDecode(name, 0, 0, 0, null, [], e.Message);
        }
        return new BundleDecode(name, decoded.Counters.Packets, decoded.Flows.Count, decoded.IwarpFlows, decoded.Verdict, findings.Items, null);
    }
}
