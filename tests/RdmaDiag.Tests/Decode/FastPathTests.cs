using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Capture.Iwarp.Synth;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Tests.Decode;

/// <summary>
/// Without an FPDU sink the decoder counts header-less messages straight from their octets; with one it builds a
/// full record for every FPDU. Both must find the same: counts, findings and verdicts, capture by capture.
/// </summary>
public class FastPathTests
{
    private sealed class CountingSink : IFpduSink
    {
        public long Fpdus;

        public void OnFpdu(in IwarpFpdu fpdu) => Fpdus++;
    }

    public static TheoryData<string> Captures()
    {
        var data = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(DecodeTestKit.CapturesDirectory, "*.pcapng").Order())
        {
            data.Add(Path.GetFileName(path));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Decode_WithAndWithoutSink_FindsTheSame(string name) => AssertSame(Path.Combine(DecodeTestKit.CapturesDirectory, name));

    [Fact]
    public void Decode_BenchCaptureWithAndWithoutSink_FindsTheSame()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var bench = BenchCapture.Write(temp.File("bench.pcapng"), 20_000, segmentsPerWrite: 3);
        var fpdus = AssertSame(bench.Path);
        Assert.Equal(bench.Fpdus, fpdus);
    }

    private static long AssertSame(string path)
    {
        var fastFindings = new FindingList();
        var fast = new IwarpCaptureDecoder(fastFindings).DecodeFile(path);
        var fullFindings = new FindingList();
        var sink = new CountingSink();
        var full = new IwarpCaptureDecoder(fullFindings, sink).DecodeFile(path);

        Assert.Equal(Describe(full), Describe(fast));
        Assert.Equal(fullFindings.Items.Select(f => f.ToString()), fastFindings.Items.Select(f => f.ToString()));
        Assert.Equal(full.Fpdus, sink.Fpdus);
        return fast.Fpdus;
    }

    private static IEnumerable<string> Describe(DecodeSummary s)
    {
        yield return $"verdict {s.Verdict.Status} {s.Verdict.Summary}";
        foreach (var f in s.Flows)
        {
            yield return $"flow {f.Id} {f.Verdict.Status} {f.Verdict.Summary}";
            foreach (var d in (FlowDirection[])[FlowDirection.ClientToServer, FlowDirection.ServerToClient])
            {
                var t = f.Stats(d);
                yield return $"  {d}: fpdus {t.Fpdus} octets {t.WireOctets} opcodes {string.Join(',', t.Opcodes)} crc {t.CrcGood}/{t.CrcBad} " +
                             $"malformed {t.Malformed} largest {t.LargestFpdu} over-mss {t.OverMss} gaps {t.DamagedByGaps} skipped {t.SkippedOctets} resyncs {t.Resyncs}";
            }
        }
    }
}
