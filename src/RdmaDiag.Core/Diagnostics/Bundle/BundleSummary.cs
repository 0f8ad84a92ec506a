using System.Globalization;
using System.Text;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Latency;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>
/// SUMMARY.txt: what a vendor engineer reads first. The verdict with its cause, sentence and fix, the MPA
/// parameters, findings by severity, the latency p50/p99 table, and every item that could not be collected
/// with the reason.
/// </summary>
internal sealed class BundleSummary(BundleOptions options, DateTimeOffset created)
{
    public List<BundleDecode> Decodes { get; } = [];

    public List<BundleLatencyRun> Latency { get; } = [];

    public string? LatencyNote { get; set; }

    public List<string> Missing { get; } = [];

    public string Render(CheckReport report, AddressRedactor? redactor)
    {
        var o = new StringBuilder();
        CheckVerdict v = report.Verdict;
        o.AppendLine($"rdmadiag bundle: {options.Host} port {options.Port}");
        o.AppendLine($"created {created.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)} by rdmadiag {options.ToolVersion} on {Environment.MachineName}");
        o.AppendLine();
        o.AppendLine($"verdict:  {v.Cause.Id} (exit {v.Cause.ExitCode}) after {report.Elapsed.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s");
        o.AppendLine($"cause:    {v.Cause.Title}");
        o.AppendLine($"sentence: {v.Sentence}");
        o.AppendLine($"fix:      {v.Fix}");
        o.AppendLine($"target:   {report.Target}");
        o.AppendLine($"mpa:      {CheckOutput.MpaText(report)}");
        o.AppendLine();

        o.AppendLine("findings:");
        o.AppendLine(report.Capture is null
            ? $"  check: no capture of its own ({report.CaptureUnavailable})"
            : $"  check's capture: {Counts(report.Findings)}");
        foreach (var d in Decodes)
        {
            o.AppendLine(d.Failure is not null
                ? $"  {d.Name}: not decoded: {d.Failure}"
                : $"  {d.Name}: {d.Packets} packets, {d.Flows} TCP flows ({d.IwarpFlows} iWARP), verdict {(d.Verdict is { } fv ? $"{FlowVerdict.Name(fv.Status)}: {fv.Summary}" : "none")}; {Counts(d.Findings)}");
        }
        o.AppendLine();

        o.AppendLine("latency (half a round trip, microseconds):");
        if (LatencyNote is not null)
        {
            o.AppendLine($"  {LatencyNote}");
        }
        else
        {
            o.Append(LatencyTable(Latency.Where(r => r.Report is not null).SelectMany(r => r.Report!.Series)));
            foreach (var skipped in Latency.Where(r => r.Skipped is not null))
            {
                o.AppendLine($"  {skipped.Skipped}");
            }
        }
        o.AppendLine();

        o.AppendLine(Missing.Count == 0 ? "not collected: nothing; every item is in the bundle" : "not collected:");
        foreach (string line in Missing)
        {
            o.AppendLine($"  {line}");
        }
        o.AppendLine();
        o.AppendLine(redactor is null
            ? "redaction: none (rerun with --redact to replace IP and MAC addresses in the text files)"
            : "redaction: IP and MAC addresses in every text file are replaced by placeholders (ipv4-N, ipv6-N, mac-N), the same "
              + "address by the same placeholder in every file; the pcapng captures are NOT redacted; host names are not redacted");
        o.AppendLine("files: manifest.json lists each file with its size, sha256 and what produced it");
        return o.ToString();
    }

    internal static string Counts(IReadOnlyList<Finding> findings) =>
        $"{findings.Count(f => f.Severity == FindingSeverity.Error)} error, {findings.Count(f => f.Severity == FindingSeverity.Warning)} warning, "
        + $"{findings.Count(f => f.Severity == FindingSeverity.Note)} note";

    internal static string LatencyTable(IEnumerable<LatencySeries> series)
    {
        var rows = series.ToList();
        if (rows.Count == 0)
        {
            return "  no mode was measured\n";
        }
        var o = new StringBuilder();
        o.AppendLine($"  {"mode",-8} {"size",8} {"p50",10} {"p99",10} {"samples",9}");
        foreach (var s in rows)
        {
            string mode = s.Variant.Length == 0 ? s.Mode : $"{s.Mode} {s.Variant}";
            o.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"  {mode,-8} {LatencySeries.FormatSize(s.Size),8} {s.Statistics.P50 / 1000.0,10:0.0} {s.Statistics.P99 / 1000.0,10:0.0} {s.Statistics.Count,9}"));
        }
        return o.ToString();
    }
}
