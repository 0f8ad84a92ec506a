using System.Text.Json;

using RdmaDiag.Tests.Capture;

namespace RdmaDiag.Tests.Decode;

/// <summary>
/// Decodes every capture in captures/ with tshark and with RdmaDiag and compares every field of every FPDU tshark
/// decodes (and of every MPA start frame). Where tshark is wrong, the test says what the right value is and why,
/// and checks that RdmaDiag has it.
/// </summary>
public class TsharkOracleTests
{
    /// <summary>Our JSON key → the tshark field(s) that show the same value (several when tshark names a field per layer).</summary>
    private static readonly (string Ours, string[] Tshark)[] NumericFields =
    [
        ("iwarp_mpa.ulpdulength", ["iwarp_mpa.ulpdulength"]),
        ("iwarp_mpa.crc_check", ["iwarp_mpa.crc_check"]),
        ("iwarp_mpa.crc", ["iwarp_mpa.crc"]),
        ("iwarp_ddp.dv", ["iwarp_ddp.dv"]),
        ("iwarp_ddp.stag", ["iwarp_ddp.stag"]),
        ("iwarp_ddp.tagged_offset", ["iwarp_ddp.tagged_offset"]),
        ("iwarp_ddp.qn", ["iwarp_ddp.qn"]),
        ("iwarp_ddp.msn", ["iwarp_ddp.msn"]),
        ("iwarp_ddp.mo", ["iwarp_ddp.mo"]),
        ("iwarp_rdma.version", ["iwarp_rdma.version"]),
        ("iwarp_rdma.opcode", ["iwarp_rdma.opcode"]),
        ("iwarp_rdma.inval_stag", ["iwarp_rdma.inval_stag"]),
        ("iwarp_rdma.sinkstag", ["iwarp_rdma.sinkstag"]),
        ("iwarp_rdma.sinkto", ["iwarp_rdma.sinkto"]),
        ("iwarp_rdma.rdmardsz", ["iwarp_rdma.rdmardsz"]),
        ("iwarp_rdma.srcstag", ["iwarp_rdma.srcstag"]),
        ("iwarp_rdma.srcto", ["iwarp_rdma.srcto"]),
        ("iwarp_rdma.term_layer", ["iwarp_rdma.term_layer"]),
        ("iwarp_rdma.term_etype", ["iwarp_rdma.term_etype_rdma", "iwarp_rdma.term_etype_ddp", "iwarp_rdma.term_etype_llp", "iwarp_rdma.term_etype"]),
        ("iwarp_rdma.term_errcode", ["iwarp_rdma.term_errcode_rdma", "iwarp_rdma.term_errcode_ddp_tagged", "iwarp_rdma.term_errcode_ddp_untagged",
            "iwarp_rdma.term_errcode_llp", "iwarp_rdma.term_errcode"]),
        ("iwarp_rdma.atomic.opcode", ["iwarp_rdma.atomic.opcode"]),
        ("iwarp_rdma.atomic.request_identifier", ["iwarp_rdma.atomic.request_identifier"]),
        ("iwarp_rdma.atomic.remote_stag", ["iwarp_rdma.atomic.remote_stag"]),
        ("iwarp_rdma.atomic.remote_tagged_offset", ["iwarp_rdma.atomic.remote_tagged_offset"]),
        ("iwarp_rdma.atomic.add_data", ["iwarp_rdma.atomic.add_data"]),
        ("iwarp_rdma.atomic.add_mask", ["iwarp_rdma.atomic.add_mask"]),
        ("iwarp_rdma.atomic.swap_data", ["iwarp_rdma.atomic.swap_data"]),
        ("iwarp_rdma.atomic.swap_mask", ["iwarp_rdma.atomic.swap_mask"]),
        ("iwarp_rdma.atomic.compare_data", ["iwarp_rdma.atomic.compare_data"]),
        ("iwarp_rdma.atomic.compare_mask", ["iwarp_rdma.atomic.compare_mask"]),
        ("iwarp_rdma.atomic.original_request_identifier", ["iwarp_rdma.atomic.original_request_identifier"]),
        ("iwarp_rdma.atomic.original_remote_data_value", ["iwarp_rdma.atomic.original_remote_data_value"]),
    ];

    private static readonly string[] BooleanFields =
        ["iwarp_ddp.tagged_flag", "iwarp_ddp.last_flag", "iwarp_rdma.term_hdrct_m", "iwarp_rdma.hdrct_d", "iwarp_rdma.hdrct_r"];

    /// <summary>A difference between tshark and RdmaDiag.</summary>
    /// <param name="Why">Set when the difference is a known Wireshark error recognised by its shape (the S bit).</param>
    internal sealed record Difference(string File, long Frame, string Field, string Tshark, string Ours, string? Why = null);

    /// <summary>The result of comparing one capture.</summary>
    internal sealed record Comparison(string File, int Compared, List<Difference> Differences, List<TsharkPdu> TsharkOnly, List<JsonElement> OursOnly, int StartFrames);

    internal static Comparison Compare(string file)
    {
        var path = Path.Combine(DecodeTestKit.CapturesDirectory, file);
        var ours = DecodeTestKit.Decode(path);
        var pdus = Tshark.Pdus(path);
        var differences = new List<Difference>();
        var tsharkOnly = new List<TsharkPdu>();
        var matched = new HashSet<(int Flow, long Offset, string Direction)>();
        var cursor = new Dictionary<(int, string), int>();
        var compared = 0;
        var startFrames = 0;
        foreach (var pdu in pdus)
        {
            var flow = ours.Summary.Flows[pdu.Stream];
            var direction = pdu.SourcePort == flow.Tcp.Client.Endpoint.Port ? "client-to-server" : "server-to-client";
            if (pdu.IsStartFrame)
            {
                startFrames++;
                CompareStartFrame(file, pdu, flow, differences);
                continue;
            }
            var candidates = ours.FramesOf(pdu.Stream).Where(f => f.GetProperty("rdmadiag.direction").GetString() == direction).ToList();
            cursor.TryGetValue((pdu.Stream, direction), out var at);
            var index = candidates.FindIndex(at, f => f.Long("rdmadiag.last_frame") == pdu.Frame
                && f.Long("iwarp_mpa.ulpdulength") == (long)pdu.Number("iwarp_mpa.ulpdulength"));
            if (index < 0)
            {
                tsharkOnly.Add(pdu);
                continue;
            }
            cursor[(pdu.Stream, direction)] = index + 1;
            var mine = candidates[index];
            matched.Add((pdu.Stream, mine.Long("rdmadiag.stream_offset"), direction));
            CompareFpdu(file, pdu, mine, differences);
            compared++;
        }
        var oursOnly = ours.Frames.Where(f => !matched.Contains(((int)f.Long("flow"), f.Long("rdmadiag.stream_offset"), f.GetProperty("rdmadiag.direction").GetString()!))).ToList();
        return new Comparison(file, compared, differences, tsharkOnly, oursOnly, startFrames);
    }

    private static void CompareFpdu(string file, TsharkPdu pdu, JsonElement mine, List<Difference> differences)
    {
        foreach (var (key, names) in NumericFields)
        {
            var theirs = names.FirstOrDefault(pdu.Show.ContainsKey);
            var has = mine.TryGetProperty(key, out var value);
            if (theirs is null && !has)
            {
                continue;
            }
            var t = theirs is null ? "(absent)" : pdu.Number(theirs).ToString();
            var o = has ? value.GetUInt64().ToString() : "(absent)";
            if (t != o)
            {
                differences.Add(new Difference(file, pdu.Frame, key, t, o));
            }
        }
        foreach (var key in BooleanFields)
        {
            var t = pdu.Show.TryGetValue(key, out var s) ? (s == "1" ? "true" : "false") : "(absent)";
            var o = mine.TryGetProperty(key, out var v) ? (v.GetBoolean() ? "true" : "false") : "(absent)";
            if (t != o)
            {
                differences.Add(new Difference(file, pdu.Frame, key, t, o));
            }
        }
        foreach (var key in (string[])["iwarp_rdma.term_ddp_h", "iwarp_rdma.term_rdma_h"])
        {
            var t = pdu.Value.TryGetValue(key, out var raw) ? raw.ToLowerInvariant() : "(absent)";
            var o = mine.TryGetProperty(key, out var v) ? v.GetString()! : "(absent)";
            if (t != o)
            {
                differences.Add(new Difference(file, pdu.Frame, key, t, o));
            }
        }
        var segLen = pdu.Value.TryGetValue("iwarp_rdma.term_ddp_seg_len", out var seg) ? Convert.ToInt32(seg, 16).ToString() : "(absent)";
        var ourSegLen = mine.TryGetProperty("iwarp_rdma.term_ddp_seg_len", out var sl) ? sl.GetInt32().ToString() : "(absent)";
        if (segLen != ourSegLen)
        {
            differences.Add(new Difference(file, pdu.Frame, "iwarp_rdma.term_ddp_seg_len", segLen, ourSegLen));
        }
    }

    private static void CompareStartFrame(string file, TsharkPdu pdu, RdmaDiag.Capture.Iwarp.IwarpFlowInfo flow, List<Difference> differences)
    {
        var seen = flow.StartFrames.FirstOrDefault(s => s.FrameNumber == pdu.Frame);
        if (seen is null)
        {
            differences.Add(new Difference(file, pdu.Frame, "iwarp_mpa.rev", pdu.Show["iwarp_mpa.rev"], "(no start frame)"));
            return;
        }
        var f = seen.Frame;
        void Check(string field, string ours)
        {
            var theirs = pdu.Show.TryGetValue(field, out var s) ? s : "(absent)";
            if (theirs != ours)
            {
                differences.Add(new Difference(file, pdu.Frame, field, theirs, ours));
            }
        }
        Check("iwarp_mpa.rev", f.Rev.ToString());
        Check("iwarp_mpa.marker_flag", f.MarkersRequired ? "1" : "0");
        Check("iwarp_mpa.crc_flag", f.CrcPreferred ? "1" : "0");
        Check("iwarp_mpa.rej_flag", f.Rejected ? "1" : "0");
        Check("iwarp_mpa.pdlength", f.PrivateDataLength.ToString());
        var res = pdu.Show.GetValueOrDefault("iwarp_mpa.res", "(absent)");
        if (res != $"0x{f.ReservedFlags:x2}")
        {
            var why = f.Enhanced && res == $"0x{f.ReservedFlags | 0x10:x2}" ? SBit : null;
            differences.Add(new Difference(file, pdu.Frame, "iwarp_mpa.res", res, $"0x{f.ReservedFlags:x2}", why));
        }
    }

    /// <summary>Where tshark 4.0 is wrong on these captures: (file, frame, field) and why. Every one must occur.</summary>
    private static readonly Dictionary<(string File, long Frame, string Field), string> KnownWrong = new()
    {
        [("invalid-start-frames.pcapng", 4, "iwarp_mpa.rev")] =
            "Rev 3 is not an MPA revision (RFC 5044 and RFC 6581 define 0 to 2); Wireshark shows the frame as a Request, RdmaDiag " +
            "reports mpa-invalid-start-frame and does not take it as the flow's Request.",
        [("terminates.pcapng", 7, "iwarp_rdma.term_ddp_h")] = CopyLength,
        [("terminates.pcapng", 15, "iwarp_rdma.term_ddp_h")] = CopyLength,
        [("terminates.pcapng", 15, "iwarp_rdma.term_rdma_h")] = CopyLength + " The Read Request copy behind it is then read 4 octets early.",
        [("terminates.pcapng", 31, "iwarp_rdma.term_ddp_h")] = CopyLength + " Here 18 octets do not fit, so Wireshark shows no copy at all.",
        [("malformed.pcapng", 6, "iwarp_rdma.sinkstag")] = ShortReadRequest,
        [("malformed.pcapng", 6, "iwarp_rdma.sinkto")] = ShortReadRequest,
        [("malformed.pcapng", 6, "iwarp_rdma.rdmardsz")] = ShortReadRequest,
        [("malformed.pcapng", 6, "iwarp_rdma.srcstag")] = ShortReadRequest,
    };

    private const string SBit =
        "RFC 6581 made octet 16's 0x10 the S bit (the private data starts with the IRD/ORD block); Wireshark still uses RFC 5044's " +
        "0x1F Res mask, so it shows S=1 as Res 0x10 (and warns that Res is not zero). RdmaDiag shows Res (0x0F) 0 and rdmadiag.s_flag true.";

    private const string CopyLength =
        "A Terminate's copied DDP header is 14 octets when the copy's own T bit is 1 and 18 when it is 0 (RFC 5040 §4.8); Wireshark " +
        "sizes it by EType == 1 (the DDP-tagged error type) whatever the layer, so RDMAP-layer Terminates get the wrong length.";

    private const string ShortReadRequest =
        "The Read Request header is 24 octets where RFC 5040 requires 28; Wireshark reads fields from it anyway, RdmaDiag reports " +
        "rdmap-malformed and shows no Read Request fields.";

    /// <summary>FPDUs tshark shows that are not in the stream, and why.</summary>
    private static readonly Dictionary<(string File, long Frame), string> TsharkInvents = new()
    {
        [("split-fpdus.pcapng", 49)] =
            "Wireshark's MPA heuristic only claims a segment of at least 8 octets, so the server's 1-octet segments that begin its " +
            "FPDUs are not taken as MPA and its reassembly is off: it shows ULPDU lengths 0 and 256 at frame 49. The stream holds " +
            "FPDUs of 1454, 1454 and 146 octets starting in frames 46, 49 and 53.",
        [("gaps.pcapng", 12)] =
            "After the capture lost 1000 octets, Wireshark reads a ULPDU_Length of 0 where no FPDU starts; RdmaDiag searches for " +
            "the next FPDU whose CRC verifies instead (mpa-resync).",
    };

    /// <summary>Captures in which tshark decodes fewer FPDUs than there are, and why.</summary>
    private static readonly Dictionary<string, string> TsharkMisses = new()
    {
        ["split-fpdus.pcapng"] = "see frame 49 above: the server's three FPDUs",
        ["markers.pcapng"] = "Wireshark places markers by each segment's sequence number assuming one FPDU per segment; with several FPDUs per segment it decodes none",
        ["midstream.pcapng"] = "Wireshark needs the MPA handshake to start decoding a flow",
        ["gaps.pcapng"] = "Wireshark's reassembly does not recover after a gap",
        ["early-fpdu.pcapng"] = "Wireshark only decodes FPDUs in segments after the Reply",
    };

    [ToolFact("tshark")]
    public void EveryCapture_EveryFieldTsharkDecodes_MatchesRdmaDiagOrIsAKnownTsharkError()
    {
        var problems = new List<string>();
        var compared = 0;
        foreach (var file in Directory.GetFiles(DecodeTestKit.CapturesDirectory, "*.pcapng").Select(Path.GetFileName).Order())
        {
            var c = Compare(file!);
            compared += c.Compared;
            problems.AddRange(c.Differences.Where(d => d.Why is null && !KnownWrong.ContainsKey((d.File, d.Frame, d.Field)))
                .Select(d => $"{file} frame {d.Frame} {d.Field}: tshark {d.Tshark}, rdmadiag {d.Ours}"));
            var wrong = c.Differences.Where(d => d.Why is null).Select(d => (d.File, d.Frame, d.Field)).ToHashSet();
            problems.AddRange(KnownWrong.Keys.Where(k => k.File == file && !wrong.Contains(k))
                .Select(k => $"{file} frame {k.Frame} {k.Field}: the known tshark error did not occur"));
            var invented = c.TsharkOnly.Select(t => (File: file!, t.Frame)).ToHashSet();
            problems.AddRange(invented.Where(k => !TsharkInvents.ContainsKey(k)).Select(k => $"{file} frame {k.Frame}: tshark shows an FPDU rdmadiag does not"));
            problems.AddRange(TsharkInvents.Keys.Where(k => k.File == file && !invented.Contains(k)).Select(k => $"{file} frame {k.Frame}: the known tshark misframing did not occur"));
            if (TsharkMisses.ContainsKey(file!) != (c.OursOnly.Count > 0))
            {
                problems.Add($"{file}: rdmadiag shows {c.OursOnly.Count} FPDUs tshark does not; expected {(TsharkMisses.ContainsKey(file!) ? "some" : "none")}");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.True(compared > 500, $"only {compared} FPDUs compared");
    }

    [ToolFact("tshark")]
    public void MpaV2StartFrame_Tshark_ShowsSBitAsReserved_RdmaDiagAsS()
    {
        var pdu = Tshark.Pdus(Path.Combine(DecodeTestKit.CapturesDirectory, "all-opcodes.pcapng")).First(p => p.IsStartFrame);
        var ours = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, "all-opcodes.pcapng")).Summary.Flows[0].Request!.Frame;

        Assert.Equal("0x10", pdu.Show["iwarp_mpa.res"]);
        Assert.True(ours.Enhanced);
        Assert.Equal(0, ours.ReservedFlags);
    }

    [ToolFact("tshark")]
    public void TerminateCopies_RdmaDiag_SizesEachCopyByItsOwnTBit()
    {
        var frames = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, "terminates.pcapng")).Frames
            .Where(f => f.Has("iwarp_rdma.term_ddp_h")).ToList();

        foreach (var f in frames)
        {
            var copy = Convert.FromHexString(f.GetProperty("iwarp_rdma.term_ddp_h").GetString()!);
            Assert.Equal((copy[0] & 0x80) != 0 ? 14 : 18, copy.Length);
        }
        var readCopy = frames.Single(f => f.Has("iwarp_rdma.term_rdma_h"));
        // The Read Request the client sent: sink 0x500/0x4000, 4096 octets, source 0x0BAD0001/0x10000.
        Assert.Equal("000005000000000000004000000010000bad00010000000000010000", readCopy.GetProperty("iwarp_rdma.term_rdma_h").GetString());
    }

    [ToolFact("tshark")]
    public void ImmediateData_Tshark_ShowsOnlyTheOpcode_RdmaDiagTheData()
    {
        var path = Path.Combine(DecodeTestKit.CapturesDirectory, "all-opcodes.pcapng");
        var theirs = Tshark.Pdus(path).Where(p => p.IsFpdu && p.Show.TryGetValue("iwarp_rdma.opcode", out var op) && op is "0x08" or "0x09").ToList();
        var ours = DecodeTestKit.Decode(path).Frames.Where(f => f.Long("iwarp_rdma.opcode") is 8 or 9).ToList();

        Assert.Equal(2, theirs.Count);
        Assert.All(theirs, p => Assert.DoesNotContain(p.Show.Keys, k => k.Contains("immediate", StringComparison.Ordinal)));
        Assert.Equal(["0102030405060708", "1112131415161718"], ours.Select(f => f.GetProperty("rdmadiag.immediate_data").GetString()));
    }

    [ToolFact("tshark")]
    public void FpdusTsharkMisses_RdmaDiag_DecodesWithVerifyingCrcs()
    {
        foreach (var file in (string[])["markers.pcapng", "midstream.pcapng", "gaps.pcapng", "early-fpdu.pcapng"])
        {
            var c = Compare(file);
            var checkedOnes = c.OursOnly.Where(f => f.Has("rdmadiag.crc_ok")).ToList();
            Assert.NotEmpty(checkedOnes);
            Assert.All(checkedOnes, f => Assert.True(f.GetProperty("rdmadiag.crc_ok").GetBoolean(), $"{file}: frame {f.Long("frame")}"));
        }
        var split = Compare("split-fpdus.pcapng").OursOnly;
        Assert.Equal([(46L, 1454L), (49, 1454), (53, 146)], split.Select(f => (f.Long("frame"), f.Long("iwarp_mpa.ulpdulength"))));
    }
}
