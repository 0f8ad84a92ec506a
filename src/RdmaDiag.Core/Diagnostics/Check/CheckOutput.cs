using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using RdmaDiag.Capture.Iwarp.Report;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>Renders a <see cref="CheckReport"/> as text for a terminal, or as the JSON document of <c>check --json</c> (snake_case keys).</summary>
public static class CheckOutput
{
    /// <summary>The first line, printed before the probing starts so a user knows what is being waited for.</summary>
    public static string Banner(CheckOptions options) =>
        $"rdmadiag check {options.Host} port {options.Port}: {(options.Verbs ? "rdma_cm on this host's RDMA device" : $"userspace iWARP endpoint ({options.Setup})")}"
        + $"{(options.Rping is { } rping ? $", rping protocol ({rping.Count} x {rping.Size} B)" : "")}; at most {options.Timeouts.Total.TotalSeconds:0.#} s";

    public static void WriteText(TextWriter o, CheckReport report)
    {
        o.WriteLine("stages:");
        foreach (StageResult stage in report.Stages)
        {
            string head = $"  {stage.Name,-15} {stage.StatusName,-8}{Ms(stage.Elapsed),8} ms of {Ms(stage.Timeout),6} ms  ";
            IReadOnlyList<string> evidence = stage.Evidence.Count == 0 ? [""] : stage.Evidence;
            o.WriteLine(head + evidence[0]);
            foreach (string line in evidence.Skip(1))
            {
                o.WriteLine(new string(' ', head.Length) + line);
            }
        }
        o.WriteLine($"mpa: {MpaText(report)}");
        o.WriteLine(report.Capture is { } capture
            ? $"capture: {capture.Packets} packets on '{capture.Interface}'{(capture.KernelDrops > 0 ? $", {capture.KernelDrops} dropped by the kernel" : "")}, {capture.Findings.Count} finding{(capture.Findings.Count == 1 ? "" : "s")}"
            : $"capture: not available ({report.CaptureUnavailable}); went on without it");
        foreach (Finding finding in report.Findings)
        {
            o.WriteLine($"  {finding}");
        }
        CheckVerdict v = report.Verdict;
        o.WriteLine($"verdict: {v.Cause.Id} (exit {v.Cause.ExitCode}) after {report.Elapsed.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s{(v.Side is { } side ? $", side: {CheckVerdict.SideName(side)}" : "")}");
        o.WriteLine($"  {v.Sentence}");
        if (!v.Cause.IsOk)
        {
            o.WriteLine($"fix: {v.Fix}");
        }
    }

    /// <summary>One line: rev, CRC, markers each way, P2P/RTR, IRD/ORD and private data; what the frames said when setup failed.</summary>
    public static string MpaText(CheckReport report)
    {
        if (report.Parameters is { } p)
        {
            string peer = p.PeerIrd is { } pi ? $" (server sent IRD {pi}, ORD {p.PeerOrd})" : "";
            return $"rev {p.RequestRevision}/{p.ReplyRevision}{(p.Enhanced ? " (RFC 6581)" : "")}, CRC {(p.Crc ? "on" : "off")}, "
                + $"markers: this side {(p.MarkersSent ? "inserts them" : "inserts none")}, the server {(p.MarkersReceived ? "inserts them" : "inserts none")}, "
                + $"{(p.PeerToPeer ? $"peer-to-peer, {p.Rtr.ToString().ToLowerInvariant()} RTR" : "client/server (no RTR)")}, IRD {p.Ird} / ORD {p.Ord}{peer}, "
                + $"private data: {p.LocalPrivateData.Length} octets sent, {p.PeerPrivateData.Length} received{Hex(p.PeerPrivateData.Span)}, EMSS {p.Emss}, MULPDU {p.Mulpdu}";
        }
        return report.Request is { } request
            ? $"not negotiated; sent {request}{(report.PeerFrame is { } reply ? $", received {reply}{Hex(reply.PrivateData.Span)}" : ", no start frame received")}"
            : "not reached";
    }

    private static string Hex(ReadOnlySpan<byte> data) => data.IsEmpty ? "" : $" [{IwarpException.FormatBytes(data)}]";

    private static string Ms(TimeSpan span) => span.TotalMilliseconds.ToString(span.TotalMilliseconds < 10 ? "0.##" : "0", CultureInfo.InvariantCulture);

    public static void WriteJson(TextWriter output, CheckReport report)
    {
        using var stream = new TextWriterStream(output);
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            Write(w, report);
        }
        output.WriteLine();
        output.Flush();
    }

    public static void Write(Utf8JsonWriter w, CheckReport report)
    {
        CheckVerdict v = report.Verdict;
        w.WriteStartObject();
        w.WriteString("verdict", v.Cause.IsOk ? "ok" : "fail");
        w.WriteString("cause", v.Cause.Id);
        w.WriteNumber("exit_code", v.Cause.ExitCode);
        w.WriteString("sentence", v.Sentence);
        w.WriteString("fix", v.Fix);
        if (v.Side is { } side)
        {
            w.WriteString("side", CheckVerdict.SideName(side));
        }
        else
        {
            w.WriteNull("side");
        }
        w.WriteString("host", report.Host);
        w.WriteString("target", report.Target.ToString());
        w.WriteNumber("elapsed_ms", Math.Round(report.Elapsed.TotalMilliseconds, 3));
        w.WritePropertyName("mpa");
        WriteMpa(w, report);
        w.WriteStartArray("stages");
        foreach (StageResult stage in report.Stages)
        {
            w.WriteStartObject();
            w.WriteString("name", stage.Name);
            w.WriteString("status", stage.StatusName);
            w.WriteNumber("elapsed_ms", Math.Round(stage.Elapsed.TotalMilliseconds, 3));
            w.WriteNumber("timeout_ms", Math.Round(stage.Timeout.TotalMilliseconds, 3));
            w.WriteStartArray("evidence");
            foreach (string line in stage.Evidence)
            {
                w.WriteStringValue(line);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("operations");
        foreach (ProbeResult r in report.Operations)
        {
            w.WriteStartObject();
            w.WriteString("operation", r.Operation);
            w.WriteNumber("size", r.Size);
            w.WriteBoolean("verified", r.Verified);
            w.WriteNumber("elapsed_ms", Math.Round(r.Elapsed.TotalMilliseconds, 3));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("capture");
        w.WriteString("status", report.Capture is null ? "unavailable" : "ok");
        if (report.Capture is { } capture)
        {
            w.WriteString("interface", capture.Interface);
            w.WriteNumber("packets", capture.Packets);
            w.WriteNumber("kernel_drops", capture.KernelDrops);
        }
        else
        {
            w.WriteString("reason", report.CaptureUnavailable);
        }
        w.WriteEndObject();
        w.WriteStartArray("findings");
        foreach (Finding f in report.Findings)
        {
            FindingJson.Write(w, f, includeFlow: false);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMpa(Utf8JsonWriter w, CheckReport report)
    {
        if (report.Request is not { } request)
        {
            w.WriteNullValue();
            return;
        }
        w.WriteStartObject();
        w.WriteString("request", request.ToString());
        MpaStartFrame? reply = report.Parameters?.Reply ?? report.PeerFrame;
        if (reply is { } r)
        {
            w.WriteString("reply", r.ToString());
        }
        else
        {
            w.WriteNull("reply");
        }
        w.WriteBoolean("negotiated", report.Parameters is not null);
        if (report.Parameters is { } p)
        {
            w.WriteNumber("request_revision", p.RequestRevision);
            w.WriteNumber("reply_revision", p.ReplyRevision);
            w.WriteBoolean("enhanced", p.Enhanced);
            w.WriteBoolean("crc", p.Crc);
            w.WriteBoolean("markers_sent", p.MarkersSent);
            w.WriteBoolean("markers_received", p.MarkersReceived);
            w.WriteBoolean("peer_to_peer", p.PeerToPeer);
            w.WriteString("rtr", p.Rtr.ToString().ToLowerInvariant());
            w.WriteNumber("ird", p.Ird);
            w.WriteNumber("ord", p.Ord);
            WriteOptional(w, "peer_ird", p.PeerIrd);
            WriteOptional(w, "peer_ord", p.PeerOrd);
            w.WriteString("private_data_sent", Convert.ToHexStringLower(p.LocalPrivateData.Span));
            w.WriteString("private_data_received", Convert.ToHexStringLower(p.PeerPrivateData.Span));
            w.WriteNumber("emss", p.Emss);
            w.WriteNumber("mulpdu", p.Mulpdu);
        }
        else
        {
            w.WriteString("private_data_sent", Convert.ToHexStringLower(request.PrivateData.Span));
            w.WriteString("private_data_received", reply is { } rr ? Convert.ToHexStringLower(rr.PrivateData.Span) : "");
        }
        w.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, ushort? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
