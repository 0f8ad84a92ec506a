using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp.Synth;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Decode;

/// <summary>Decoder behaviour in situations the sample captures do not show.</summary>
public class DecoderScenarioTests
{
    private static DecodeTestKit.Decoded Build(Action<SampleBuilder> build)
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var path = temp.File("scenario.pcapng");
        using (var writer = PcapNgWriter.Create(path))
        {
            build(new SampleBuilder(writer));
            writer.Commit();
        }
        return DecodeTestKit.Decode(path);
    }

    private static readonly MpaStartFrame Request = MpaStartFrame.Request(true, new MpaV2Block(8, 8), ReadOnlyMemory<byte>.Empty);
    private static readonly MpaStartFrame Reply = MpaStartFrame.Reply(true, new MpaV2Block(8, 8), ReadOnlyMemory<byte>.Empty);

    [Fact]
    public void ReplyBeforeRequestInTheCapture_FpdusAreStillDecoded()
    {
        var d = Build(b =>
        {
            var f = b.Flow(7174);
            f.Tcp.Handshake();
            f.Server.StartFrame(Reply);
            f.Flush(SynthSide.Server);
            f.Client.StartFrame(Request);
            f.Flush(SynthSide.Client);
            f.Negotiated(Request, Reply);
            f.Client.Send("after"u8);
            f.Flush(SynthSide.Client);
        });

        Assert.Single(d.Frames);
        Assert.DoesNotContain("mpa-request-no-reply", d.Rules);
        Assert.True(d.Frames[0].GetProperty("rdmadiag.crc_ok").GetBoolean());
    }

    [Fact]
    public void RepeatedProblem_IsListedFiveTimesThenCounted()
    {
        var d = Build(b =>
        {
            var f = b.Flow(7174);
            f.Connect(Request, Reply);
            for (var i = 0; i < 20; i++)
            {
                var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, (uint)i + 1);
                f.Client.Fpdu(ddp, RdmapHeader.None, new byte[40], corruptCrc: true);
            }
            f.FlushPacked(SynthSide.Client);
        });

        Assert.Equal(5, d.Findings.Count(f => f.RuleId == "mpa-crc-bad" && f.Severity == RdmaDiag.Diagnostics.Findings.FindingSeverity.Error));
        var note = Assert.Single(d.Findings, f => f.Message.StartsWith("15 more 'mpa-crc-bad' findings", StringComparison.Ordinal));
        Assert.Equal(0, note.Flow);
        Assert.Equal(20, d.Frames.Count);
        Assert.Equal(20, d.Summary.Flows[0].Stats(FlowDirection.ClientToServer).CrcBad);
    }

    [Fact]
    public void Reject_PrivateDataInAscii_IsQuotedInTheFinding()
    {
        var d = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, "reject.pcapng"));

        var reject = Assert.Single(d.Findings, f => f.RuleId == "mpa-reply-rejected");
        Assert.Contains("\"rdmadiag: no NFS/RDMA export here\"", reject.Message);
        Assert.Contains("RFC 6581 block: IRD 8 ORD 8", reject.Message);
    }

    [Fact]
    public void RequestNoReply_SaysForHowLongAndUntilWhat()
    {
        var d = DecodeTestKit.Decode(Path.Combine(DecodeTestKit.CapturesDirectory, "request-no-reply.pcapng"));

        var finding = Assert.Single(d.Findings, f => f.RuleId == "mpa-request-no-reply");
        Assert.Matches(@"no MPA Reply came in the 10(\.\d+)? s until 192\.168\.10\.1:40000 reset the connection \(frame \d+\)", finding.Message);
    }

    [Fact]
    public void MsnWrapsFromMaxToZero_IsNotAGap()
    {
        var d = Build(b =>
        {
            var f = b.Flow(7174);
            f.Connect(Request, Reply);
            f.Client.SetNextMsn(0, uint.MaxValue);
            f.Client.Send("max"u8);
            f.Client.Send("wrapped to 0"u8);
            f.Client.Send("then 1"u8);
            f.FlushPacked(SynthSide.Client);
        });

        var gap = Assert.Single(d.Findings, f => f.RuleId == "ddp-msn-gap");
        Assert.Contains($"the first message on queue 0 has MSN {uint.MaxValue}, expected 1", gap.Message);
        Assert.Equal([uint.MaxValue, 0, 1], d.Frames.Select(f => f.GetProperty("iwarp_ddp.msn").GetUInt32()));
    }
}
