using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Capture.Iwarp.Synth;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Tests.Decode;

/// <summary>
/// The files in captures/ are what <see cref="SampleCaptures"/> writes, decode to the findings and verdict their
/// README line promises, and each has that line. To rewrite captures/ after changing a sample:
/// <c>RDMADIAG_WRITE_CAPTURES=1 dotnet test --filter SampleCapture_Committed</c>.
/// </summary>
public class SampleCaptureTests
{
    public static TheoryData<string> Samples()
    {
        var data = new TheoryData<string>();
        foreach (var s in SampleCaptures.All)
        {
            data.Add(s.FileName);
        }
        return data;
    }

    private static SampleCapture Sample(string name) => SampleCaptures.All.Single(s => s.FileName == name);

    [Theory]
    [MemberData(nameof(Samples))]
    public void SampleCapture_Committed_IsWhatTheGeneratorWrites(string name)
    {
        var committed = Path.Combine(DecodeTestKit.CapturesDirectory, name);
        if (Environment.GetEnvironmentVariable("RDMADIAG_WRITE_CAPTURES") == "1")
        {
            Sample(name).Write(committed);
        }
        using var temp = new DecodeTestKit.TempDirectory();
        var fresh = temp.File(name);
        Sample(name).Write(fresh);

        using var a = CaptureFile.Open(committed, new FindingList());
        using var b = CaptureFile.Open(fresh, new FindingList());
        var packets = 0;
        while (true)
        {
            var ra = a.Read(out var pa);
            var rb = b.Read(out var pb);
            Assert.Equal(rb, ra);
            if (ra != PacketReadResult.Packet)
            {
                break;
            }
            packets++;
            Assert.Equal(pb.TimestampNanos, pa.TimestampNanos);
            Assert.Equal(pb.OriginalLength, pa.OriginalLength);
            Assert.True(pb.Data.SequenceEqual(pa.Data), $"{name}: frame {pa.Frame} differs from what the generator writes now");
        }
        Assert.True(packets > 0);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void SampleCapture_Decode_ReportsTheExpectedFindingsAndVerdict(string name)
    {
        var sample = Sample(name);
        var decoded = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, name));

        Assert.Equal(sample.ExpectedRules.Order(), decoded.Rules.Order());
        Assert.Equal(sample.Verdict, decoded.Summary.Verdict.Status);
    }

    [Fact]
    public void CapturesReadme_EverySample_HasItsLineWithTheExpectedFindings()
    {
        var readme = File.ReadAllLines(Path.Combine(DecodeTestKit.CapturesDirectory, "README.md"));
        foreach (var sample in SampleCaptures.All)
        {
            var line = readme.SingleOrDefault(l => l.StartsWith($"| `{sample.FileName}` |", StringComparison.Ordinal));
            Assert.NotNull(line);
            Assert.Contains(sample.ExpectedText, line);
            Assert.Contains($"verdict {FlowVerdict.Name(sample.Verdict)}", line);
        }
    }

    /// <summary>Captures of real traffic in captures/ (not synthesized): file, expected findings, verdict.</summary>
    internal static readonly (string File, string[] Rules, VerdictStatus Verdict)[] Recorded =
    [
        ("endpoint-loopback.pcapng", ["tcp-fin", "tcp-fin"], VerdictStatus.Ok),
    ];

    [Fact]
    public void RecordedCaptures_Decode_ReportTheExpectedFindingsAndHaveTheirReadmeLine()
    {
        var readme = File.ReadAllLines(Path.Combine(DecodeTestKit.CapturesDirectory, "README.md"));
        foreach (var (file, rules, verdict) in Recorded)
        {
            var decoded = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, file));
            Assert.Equal(rules.Order(), decoded.Rules.Order());
            Assert.Equal(verdict, decoded.Summary.Verdict.Status);
            Assert.Contains(readme, l => l.StartsWith($"| `{file}` |", StringComparison.Ordinal) && l.Contains($"verdict {FlowVerdict.Name(verdict)}", StringComparison.Ordinal));
        }
        var listed = Directory.GetFiles(DecodeTestKit.CapturesDirectory, "*.pcapng").Select(Path.GetFileName).Order();
        Assert.Equal(SampleCaptures.All.Select(s => s.FileName).Concat(Recorded.Select(r => r.File)).Order(), listed);
    }

    [Fact]
    public void EndpointLoopback_Decode_ShowsTheWholeSessionWithGoodCrcs()
    {
        var decoded = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, "endpoint-loopback.pcapng"));

        Assert.Equal(24, decoded.Frames.Count);
        Assert.All(decoded.Frames, f => Assert.True(f.GetProperty("rdmadiag.crc_ok").GetBoolean()));
        Assert.Equal([0, 1, 2, 3, 8, 10, 11], decoded.Frames.Select(f => (int)f.Long("iwarp_rdma.opcode")).Distinct().Order());
        var rtr = decoded.Frames[0];
        Assert.Equal((0L, 14L), (rtr.Long("iwarp_rdma.opcode"), rtr.Long("iwarp_mpa.ulpdulength")));
        var written = decoded.Frames.Where(f => f.Long("iwarp_rdma.opcode") == 0).Sum(f => f.Long("rdmadiag.payload_length"));
        Assert.Equal(300_000, written);
        var read = decoded.Frames.Where(f => f.Long("iwarp_rdma.opcode") == 2).Sum(f => f.Long("rdmadiag.payload_length"));
        Assert.Equal(100_000, read);
    }

    [Fact]
    public void AllOpcodes_Decode_ShowsEveryOpcodeButTerminateWithGoodCrcs()
    {
        var decoded = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, "all-opcodes.pcapng"));

        var opcodes = decoded.Frames.Select(f => (int)f.Long("iwarp_rdma.opcode")).ToHashSet();
        Assert.Equal(Enumerable.Range(0, 12).Where(o => o != 7), opcodes.Order());
        Assert.All(decoded.Frames, f => Assert.True(f.GetProperty("rdmadiag.crc_ok").GetBoolean()));
        var immediate = decoded.Frames.First(f => f.Long("iwarp_rdma.opcode") == 8);
        Assert.Equal("0102030405060708", immediate.GetProperty("rdmadiag.immediate_data").GetString());
        var flow = decoded.Summary.Flows[0];
        Assert.True(flow.CrcNegotiated);
        Assert.Equal(FlowDirection.ClientToServer, flow.InitiatorDirection);
        Assert.True(flow.Request!.Frame.V2Block!.Value.PeerToPeer);
    }
}
