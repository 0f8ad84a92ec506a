using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp.Report;

/// <summary>Renders a <see cref="DecodeSummary"/> and its findings as text or as the JSON document of <c>rdmadiag decode --json</c>.</summary>
public static class DecodeReport
{
    private const int ListedOtherFlows = 20;

    /// <summary>The flows and findings to show: all, or those of one flow (plus the capture-wide findings).</summary>
    public static (IReadOnlyList<IwarpFlowInfo> Flows, IReadOnlyList<Finding> Findings) Select(DecodeSummary summary, IReadOnlyList<Finding> findings, int? flow) =>
        flow is int id
            ? (summary.Flows.Where(f => f.Id == id).ToList(), findings.Where(f => f.Flow is null || f.Flow == id).ToList())
            : (summary.Flows, findings);

    /// <summary>Throws <see cref="UserInputException"/> when <paramref name="flow"/> names no flow of the capture.</summary>
    public static void RequireFlow(DecodeSummary summary, int? flow, string file)
    {
        if (flow is int id && (id < 0 || id >= summary.Flows.Count))
        {
            var have = summary.Flows.Count == 0 ? "it has no TCP flows" : $"its flows are 0 to {summary.Flows.Count - 1}";
            throw new UserInputException($"--flow {id}: '{file}' has no flow {id} ({have})");
        }
    }

    // ---- Text ----

    public static void WriteText(TextWriter o, string file, DecodeSummary summary, IReadOnlyList<Finding> findings, int? flow)
    {
        var (flows, shown) = Select(summary, findings, flow);
        var c = summary.Counters;
        var seconds = c.Packets > 1 ? (c.LastTimestampNanos - c.FirstTimestampNanos) / 1e9 : 0;
        o.WriteLine($"{file}: {c.Packets} packets, {summary.Flows.Count} TCP flow{S(summary.Flows.Count)} ({summary.IwarpFlows} iWARP), {summary.Fpdus} FPDUs, {seconds:0.######} s");
        var others = 0;
        foreach (var f in flows)
        {
            if (!f.IsIwarp && flow is null && f.Verdict.Status == VerdictStatus.NotIwarp)
            {
                if (others++ < ListedOtherFlows)
                {
                    o.WriteLine($"flow {f.Id}  {f.Tcp.Describe()}  {f.Verdict.Summary}");
                }
                continue;
            }
            WriteFlowText(o, f);
        }
        if (others > ListedOtherFlows)
        {
            o.WriteLine($"... and {others - ListedOtherFlows} more flows without iWARP");
        }
        o.WriteLine(shown.Count == 0 ? "findings: none" : $"findings ({shown.Count}):");
        foreach (var finding in shown)
        {
            o.WriteLine($"  {finding}");
            o.WriteLine($"      fix: {finding.Fix}");
        }
        var verdict = Verdict(summary, flows, flow);
        o.WriteLine($"verdict: {verdict.StatusName}: {verdict.Summary}");
    }

    /// <summary>The verdict for what is shown: the capture's, or the one flow's.</summary>
    public static FlowVerdict Verdict(DecodeSummary summary, IReadOnlyList<IwarpFlowInfo> flows, int? flow) =>
        flow is not null && flows.Count == 1 ? flows[0].Verdict : summary.Verdict;

    private static void WriteFlowText(TextWriter o, IwarpFlowInfo f)
    {
        var tcp = f.Tcp;
        var role = f.InitiatorDirection switch
        {
            FlowDirection.ClientToServer => "the client is the MPA initiator",
            FlowDirection.ServerToClient => "the server is the MPA initiator",
            _ => f.RecoveredMidStream ? "handshake not in the capture" : "no MPA",
        };
        o.WriteLine($"flow {f.Id}  {tcp.Describe()}  {(f.IsIwarp ? "iWARP" : "TCP")}, {role}{(tcp.HandshakeSeen ? "" : " (capture starts mid-connection)")}");
        if (f.Request is { } req)
        {
            o.WriteLine($"  MPA Request  frame {req.FrameNumber}: {StartFrameText(req.Frame, "")}");
        }
        if (f.Reply is { } rep)
        {
            o.WriteLine($"  MPA Reply    frame {rep.FrameNumber}: {StartFrameText(rep.Frame, rep.Frame.Rejected ? ", REJECTED" : ", accepted")}");
        }
        if (f.FullOperation)
        {
            var crc = f.CrcNegotiated ? "CRC32c on" : f.CrcInferred ? "CRC32c in use (inferred: the CRCs verify)" : f.Request is null && f.Reply is null ? "CRC32c not in use (none verify)" : "CRC32c off";
            o.WriteLine($"  negotiated   {crc}; markers {Markers(f, FlowDirection.ClientToServer)} client→server, {Markers(f, FlowDirection.ServerToClient)} server→client");
        }
        foreach (var d in (ReadOnlySpan<FlowDirection>)[FlowDirection.ClientToServer, FlowDirection.ServerToClient])
        {
            var s = f.Stats(d);
            if (s.Fpdus == 0 && s.SkippedOctets == 0)
            {
                continue;
            }
            var sb = new StringBuilder();
            sb.Append($"  {tcp.Describe(d)}: {s.Fpdus} FPDU{S(s.Fpdus)}, {s.WireOctets} octets, largest {s.LargestFpdu}");
            if (s.CrcGood + s.CrcBad > 0)
            {
                sb.Append($"; CRC {s.CrcGood} ok{(s.CrcBad > 0 ? $", {s.CrcBad} BAD" : "")}");
            }
            var ops = Enumerable.Range(0, 16).Where(i => s.Opcodes[i] > 0).Select(i => $"{RdmapOpcodes.GetSpecName((RdmapOpcode)i)} {s.Opcodes[i]}").ToList();
            if (ops.Count > 0)
            {
                sb.Append($"; {string.Join(", ", ops)}");
            }
            if (s.Malformed > 0)
            {
                sb.Append($"; {s.Malformed} malformed");
            }
            if (s.OverMss > 0)
            {
                sb.Append($"; {s.OverMss} over the MSS");
            }
            if (s.Resyncs > 0 || s.SkippedOctets > 0 || s.DamagedByGaps > 0)
            {
                sb.Append($"; {s.DamagedByGaps} cut by gaps, {s.SkippedOctets} octets skipped, framing found {s.Resyncs} time{S(s.Resyncs)}");
            }
            o.WriteLine(sb);
        }
        o.WriteLine($"  verdict      {f.Verdict.StatusName}: {f.Verdict.Summary}");
    }

    private static string Markers(IwarpFlowInfo f, FlowDirection d) => f.MarkersIn(d) ? "on" : "off";

    private static string StartFrameText(in MpaStartFrame f, string outcome)
    {
        var flags = IwarpFlowDecoder.Names("none", " ", (f.MarkersRequired, "M"), (f.CrcPreferred, "C"), (f.Rejected, "R"), (f.Enhanced, "S"));
        return $"Rev {f.Rev}, flags {flags}, PD_Length {f.PrivateDataLength}{outcome}. {IwarpFlowDecoder.DescribePrivateData(f)}";
    }

    private static string S(long n) => n == 1 ? "" : "s";

    // ---- JSON ----

    /// <summary>
    /// Writes the whole document: file, verdict, flows, findings, then <c>"frames"</c> copied from
    /// <paramref name="frames"/> (a JSON array written by <see cref="FpduJsonSink"/>), or an empty array.
    /// </summary>
    public static void WriteJson(Stream output, string file, DecodeSummary summary, IReadOnlyList<Finding> findings, int? flow, Stream? frames)
    {
        var (flows, shown) = Select(summary, findings, flow);
        var w = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true });
        var c = summary.Counters;
        w.WriteStartObject();
        w.WriteString("file", file);
        w.WriteNumber("packets", c.Packets);
        w.WriteNumber("tcp_flows", summary.Flows.Count);
        w.WriteNumber("iwarp_flows", summary.IwarpFlows);
        w.WriteNumber("fpdus", summary.Fpdus);
        w.WritePropertyName("verdict");
        WriteVerdict(w, Verdict(summary, flows, flow));
        w.WriteStartArray("flows");
        foreach (var f in flows)
        {
            WriteFlowJson(w, f);
        }
        w.WriteEndArray();
        w.WriteStartArray("findings");
        foreach (var finding in shown)
        {
            FindingJson.Write(w, finding, includeFlow: true);
        }
        w.WriteEndArray();
        w.WritePropertyName("frames");
        w.Flush();
        if (frames is null)
        {
            output.Write("[]"u8);
        }
        else
        {
            frames.Position = 0;
            frames.CopyTo(output);
        }
        output.Write("}\n"u8);
        output.Flush();
    }

    private static void WriteVerdict(Utf8JsonWriter w, FlowVerdict v)
    {
        w.WriteStartObject();
        w.WriteString("status", v.StatusName);
        w.WriteString("summary", v.Summary);
        w.WriteEndObject();
    }

    private static void WriteFlowJson(Utf8JsonWriter w, IwarpFlowInfo f)
    {
        var tcp = f.Tcp;
        w.WriteStartObject();
        w.WriteNumber("flow", f.Id);
        w.WriteString("client", tcp.Client.Endpoint.ToString());
        w.WriteString("server", tcp.Server.Endpoint.ToString());
        w.WriteBoolean("handshake_seen", tcp.HandshakeSeen);
        w.WriteNumber("first_frame", tcp.FirstFrame);
        w.WriteNumber("last_frame", tcp.LastFrame);
        w.WriteBoolean("iwarp", f.IsIwarp);
        if (f.InitiatorDirection is { } init)
        {
            w.WriteString("initiator", init == FlowDirection.ClientToServer ? "client" : "server");
        }
        else
        {
            w.WriteNull("initiator");
        }
        w.WriteBoolean("recovered_midstream", f.RecoveredMidStream);
        w.WritePropertyName("mpa_request");
        WriteStartFrame(w, f.Request);
        w.WritePropertyName("mpa_reply");
        WriteStartFrame(w, f.Reply);
        w.WriteStartObject("negotiated");
        w.WriteBoolean("full_operation", f.FullOperation);
        w.WriteBoolean("crc", f.CrcNegotiated);
        w.WriteBoolean("crc_inferred", f.CrcInferred);
        w.WriteBoolean("markers_client_to_server", f.MarkersIn(FlowDirection.ClientToServer));
        w.WriteBoolean("markers_server_to_client", f.MarkersIn(FlowDirection.ServerToClient));
        if (f.Request?.Frame.V2Block is { } ask && f.Reply?.Frame.V2Block is { } got)
        {
            w.WriteNumber("initiator_ird", ask.Ird);
            w.WriteNumber("initiator_ord", ask.Ord);
            w.WriteNumber("responder_ird", got.Ird);
            w.WriteNumber("responder_ord", got.Ord);
            w.WriteBoolean("peer_to_peer", ask.PeerToPeer && got.PeerToPeer);
        }
        w.WriteEndObject();
        foreach (var d in (ReadOnlySpan<FlowDirection>)[FlowDirection.ClientToServer, FlowDirection.ServerToClient])
        {
            var s = f.Stats(d);
            w.WriteStartObject(d == FlowDirection.ClientToServer ? "client_to_server" : "server_to_client");
            w.WriteNumber("fpdus", s.Fpdus);
            w.WriteNumber("wire_octets", s.WireOctets);
            w.WriteNumber("largest_fpdu", s.LargestFpdu);
            w.WriteNumber("crc_good", s.CrcGood);
            w.WriteNumber("crc_bad", s.CrcBad);
            w.WriteNumber("malformed", s.Malformed);
            w.WriteNumber("over_mss", s.OverMss);
            w.WriteNumber("damaged_by_gaps", s.DamagedByGaps);
            w.WriteNumber("skipped_octets", s.SkippedOctets);
            w.WriteNumber("resyncs", s.Resyncs);
            w.WriteStartObject("opcodes");
            for (var i = 0; i < 16; i++)
            {
                if (s.Opcodes[i] > 0)
                {
                    w.WriteNumber(RdmapOpcodes.GetSpecName((RdmapOpcode)i), s.Opcodes[i]);
                }
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WritePropertyName("verdict");
        WriteVerdict(w, f.Verdict);
        w.WriteEndObject();
    }

    /// <summary>A start frame with Wireshark's field names where it has them (note: its iwarp_mpa.res spans 0x1F, S included).</summary>
    private static void WriteStartFrame(Utf8JsonWriter w, MpaStartFrameSeen? seen)
    {
        if (seen is null)
        {
            w.WriteNullValue();
            return;
        }
        var f = seen.Frame;
        w.WriteStartObject();
        w.WriteNumber("frame", seen.FrameNumber);
        w.WriteString("rdmadiag.direction", FpduFields.DirectionName(seen.Direction));
        w.WriteBoolean("iwarp_mpa.marker_flag", f.MarkersRequired);
        w.WriteBoolean("iwarp_mpa.crc_flag", f.CrcPreferred);
        w.WriteBoolean("iwarp_mpa.rej_flag", f.Rejected);
        w.WriteBoolean("rdmadiag.s_flag", f.Enhanced);
        w.WriteNumber("iwarp_mpa.res", f.ReservedFlags);
        w.WriteNumber("iwarp_mpa.rev", f.Rev);
        w.WriteNumber("iwarp_mpa.pdlength", f.PrivateDataLength);
        if (f.V2Block is { } b)
        {
            w.WriteStartObject("rdmadiag.rfc6581");
            w.WriteNumber("ird", b.Ird);
            w.WriteNumber("ord", b.Ord);
            w.WriteBoolean("peer_to_peer", b.PeerToPeer);
            w.WriteBoolean("send_rtr", b.SendRtr);
            w.WriteBoolean("write_rtr", b.WriteRtr);
            w.WriteBoolean("read_rtr", b.ReadRtr);
            w.WriteEndObject();
        }
        w.WriteString("rdmadiag.private_data", Convert.ToHexStringLower(f.PrivateData.Span));
        w.WriteEndObject();
    }
}
