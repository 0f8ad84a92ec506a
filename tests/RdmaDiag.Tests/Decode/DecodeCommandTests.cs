using System.Text.Json;
using RdmaDiag.Capture;
using RdmaDiag.Cli;

namespace RdmaDiag.Tests.Decode;

public class DecodeCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = CliRoot.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string Sample(string name) => Path.Combine(DecodeTestKit.CapturesDirectory, name);

    private static void AssertBadInput((int Code, string Out, string Err) r, string mentions)
    {
        Assert.Equal(ExitCodes.BadInput, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("rdmadiag: ", lines[0]);
        Assert.Contains(mentions, lines[0]);
        Assert.Empty(r.Out);
    }

    [Fact]
    public void Decode_MissingFile_ExitsTwoNamingIt()
    {
        AssertBadInput(Run("decode", "/nonexistent/trace.pcapng"), "/nonexistent/trace.pcapng");
    }

    [Fact]
    public void Decode_NotACapture_ExitsTwo()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var path = temp.File("notes.txt");
        File.WriteAllText(path, "these are not packets\n");

        AssertBadInput(Run("decode", path, "--json"), "not a capture file");
    }

    [Fact]
    public void Decode_FileHeaderCutShort_ExitsTwo()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var path = temp.File("cut.pcapng");
        File.WriteAllBytes(path, File.ReadAllBytes(Sample("all-opcodes.pcapng"))[..12]);

        AssertBadInput(Run("decode", path), path);
    }

    [Fact]
    public void Decode_UnsupportedLinkType_ExitsTwo()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var path = temp.File("user0.pcapng");
        using (var writer = PcapNgWriter.Create(path))
        {
            var id = writer.AddInterface((LinkType)147, 65535);
            writer.Write(id, 0, 4, [1, 2, 3, 4]);
            writer.Commit();
        }

        AssertBadInput(Run("decode", path), "147");
    }

    [Fact]
    public void Decode_FlowNotInCapture_ExitsTwo()
    {
        AssertBadInput(Run("decode", Sample("v2-negotiation.pcapng"), "--flow", "7"), "--flow 7");
        AssertBadInput(Run("decode", Sample("v2-negotiation.pcapng"), "--flow", "7", "--json"), "--flow 7");
        AssertBadInput(Run("decode", Sample("v2-negotiation.pcapng"), "--flow", "one"), "--flow 'one'");
    }

    [Fact]
    public void Decode_CleanCapture_ExitsZeroWithVerdictOk()
    {
        var r = Run("decode", Sample("all-opcodes.pcapng"));

        Assert.Equal(ExitCodes.Ok, r.Code);
        Assert.Contains("flow 0  192.168.10.1:40000 → 192.168.10.2:20049  iWARP, the client is the MPA initiator", r.Out);
        Assert.Contains("negotiated   CRC32c on; markers off client→server, off server→client", r.Out);
        Assert.EndsWith("verdict: ok: 1 iWARP flow, 19 FPDUs, no problems found\n", r.Out);
    }

    [Fact]
    public void Decode_FailedCapture_ExitsOneAndNamesTheTerminate()
    {
        var r = Run("decode", Sample("crc-error.pcapng"));

        Assert.Equal(ExitCodes.Failed, r.Code);
        Assert.Contains("error rdmap-terminate", r.Out);
        Assert.Contains("MPA: CRC error (layer 2 LLP/MPA, error type 0, code 0x02; mpa.crc_error)", r.Out);
        Assert.Contains("verdict: failed", r.Out);
    }

    [Fact]
    public void Decode_TruncatedLastPacket_IsAFindingNotAnError()
    {
        var r = Run("decode", Sample("truncated.pcapng"));

        Assert.Equal(ExitCodes.Ok, r.Code);
        Assert.Contains("warning capture-truncated-packet", r.Out);
        Assert.Empty(r.Err);
    }

    [Fact]
    public void Decode_Frames_PrintsOneLinePerFpduBeforeTheSummary()
    {
        var r = Run("decode", Sample("all-opcodes.pcapng"), "--frames");

        var lines = r.Out.Split('\n');
        var frames = lines.Where(l => l.StartsWith("frame ", StringComparison.Ordinal)).ToList();
        Assert.Equal(19, frames.Count);
        Assert.Contains(frames, l => l.Contains("Immediate Data L  QN 0", StringComparison.Ordinal) && l.Contains("data 0x0102030405060708", StringComparison.Ordinal));
        Assert.True(Array.FindIndex(lines, l => l.StartsWith("frame ", StringComparison.Ordinal)) < Array.FindIndex(lines, l => l.StartsWith("flow 0", StringComparison.Ordinal)));
    }

    [Fact]
    public void Decode_Json_HasVerdictFlowsFindingsAndFramesWithWiresharkFieldNames()
    {
        var r = Run("decode", Sample("all-opcodes.pcapng"), "--json");

        Assert.Equal(ExitCodes.Ok, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal("ok", root.GetProperty("verdict").GetProperty("status").GetString());
        var flow = root.GetProperty("flows")[0];
        Assert.Equal(2, flow.GetProperty("mpa_request").GetProperty("iwarp_mpa.rev").GetInt32());
        Assert.True(flow.GetProperty("negotiated").GetProperty("crc").GetBoolean());
        Assert.Equal(2, root.GetProperty("findings").GetArrayLength());
        var frames = root.GetProperty("frames");
        Assert.Equal(19, frames.GetArrayLength());
        var read = frames.EnumerateArray().Single(f => f.GetProperty("iwarp_rdma.opcode").GetInt32() == 1);
        Assert.Equal(JsonValueKind.Number, read.GetProperty("frame").ValueKind);
        Assert.Equal(JsonValueKind.Number, read.GetProperty("iwarp_mpa.crc_check").ValueKind);
        Assert.Equal(1u, read.GetProperty("iwarp_ddp.qn").GetUInt32());
        Assert.Equal(0x100u, read.GetProperty("iwarp_rdma.sinkstag").GetUInt32());
        Assert.Equal(0x7000ul, read.GetProperty("iwarp_rdma.sinkto").GetUInt64());
        Assert.Equal(2000u, read.GetProperty("iwarp_rdma.rdmardsz").GetUInt32());
        Assert.Equal(0x200u, read.GetProperty("iwarp_rdma.srcstag").GetUInt32());
        Assert.Equal(0x9000ul, read.GetProperty("iwarp_rdma.srcto").GetUInt64());
        Assert.False(read.GetProperty("iwarp_ddp.tagged_flag").GetBoolean());
        Assert.False(read.TryGetProperty("iwarp_ddp.stag", out _));
    }

    [Fact]
    public void Decode_JsonOfOneFlow_ShowsOnlyThatFlowAndItsVerdict()
    {
        var r = Run("decode", Sample("v2-negotiation.pcapng"), "--json", "--flow", "1");

        Assert.Equal(ExitCodes.Failed, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("flows").GetArrayLength());
        Assert.All(root.GetProperty("frames").EnumerateArray(), f => Assert.Equal(1, f.GetProperty("flow").GetInt32()));
        Assert.All(root.GetProperty("findings").EnumerateArray(), f => Assert.Equal(1, f.GetProperty("flow").GetInt32()));
        Assert.Contains(root.GetProperty("findings").EnumerateArray(), f => f.GetProperty("rule").GetString() == "mpa-v2-negotiation");
        Assert.Equal("failed", root.GetProperty("verdict").GetProperty("status").GetString());
    }

    [Fact]
    public void BenchDecode_FpdusOutOfRange_ExitsTwo()
    {
        AssertBadInput(Run("bench", "decode", "--fpdus", "5"), "--fpdus '5'");
    }
}
