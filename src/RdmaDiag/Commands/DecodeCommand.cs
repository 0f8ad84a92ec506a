using System.CommandLine;
using System.Globalization;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Capture.Iwarp.Report;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag decode FILE [--json] [--frames] [--flow N]`: reads a pcap/pcapng capture, decodes MPA/DDP/RDMAP
/// on every TCP flow, and prints per-flow negotiated parameters, findings and a verdict (exit 1 when it failed).
/// </summary>
public sealed class DecodeCommand : Command
{
    private readonly Argument<string> _file = new("file")
    {
        Description = "The capture to read (pcap or pcapng; Ethernet, Linux cooked, raw IP or loopback link types).",
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Print one JSON document: verdict, flows (negotiated MPA parameters), findings, and frames (one object per FPDU, Wireshark field names).",
    };

    private readonly Option<bool> _frames = new("--frames")
    {
        Description = "Also print every FPDU, one line each (the JSON output always lists them).",
    };

    private readonly Option<string?> _flow = new("--flow")
    {
        Description = "Only this flow (its number as shown, which is Wireshark's tcp.stream).",
    };

    public DecodeCommand() : base("decode", "Decode iWARP (MPA/DDP/RDMAP) in a capture file: negotiated parameters, findings, a verdict; every FPDU with --frames.")
    {
        Arguments.Add(_file);
        Options.Add(_json);
        Options.Add(_frames);
        Options.Add(_flow);
        SetAction(Run);
    }

    private int Run(ParseResult parse)
    {
        var output = parse.InvocationConfiguration.Output;
        var file = parse.GetValue(_file)!;
        var flow = ParseFlow(parse.GetValue(_flow));
        var findings = new FindingList();
        DecodeSummary summary;
        if (parse.GetValue(_json))
        {
            var spoolPath = Path.Combine(Path.GetTempPath(), $"rdmadiag-decode-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
            using var spool = new FileStream(spoolPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            using (var frames = new FpduJsonSink(spool, flow))
            {
                summary = new IwarpCaptureDecoder(findings, frames).DecodeFile(file);
                frames.Complete();
            }
            DecodeReport.RequireFlow(summary, flow, file);
            DecodeReport.WriteJson(new TextWriterStream(output), file, summary, findings.Items, flow, spool);
        }
        else
        {
            var frames = parse.GetValue(_frames) ? new FpduTextSink(output, flow) : null;
            summary = new IwarpCaptureDecoder(findings, frames).DecodeFile(file);
            DecodeReport.RequireFlow(summary, flow, file);
            DecodeReport.WriteText(output, file, summary, findings.Items, flow);
        }
        var shown = DecodeReport.Select(summary, findings.Items, flow).Flows;
        return DecodeReport.Verdict(summary, shown, flow).Status == VerdictStatus.Failed ? ExitCodes.Failed : ExitCodes.Ok;
    }

    private static int? ParseFlow(string? text)
    {
        if (text is null)
        {
            return null;
        }
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var flow))
        {
            throw new UserInputException($"--flow '{text}': expected a flow number (0, 1, ... as decode lists them)");
        }
        return flow;
    }
}
