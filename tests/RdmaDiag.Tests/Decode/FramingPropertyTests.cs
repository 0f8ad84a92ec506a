using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp.Synth;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Decode;

/// <summary>
/// Framing under any segmentation, any capture start, any loss: the decoder reports every FPDU that is whole in
/// the capture, at its true stream offset, and never one that is not there.
/// </summary>
public class FramingPropertyTests
{
    /// <summary>A client stream: its octets (Request first), where each FPDU starts and its ULPDU_Length.</summary>
    private sealed record Stream(byte[] Octets, List<(long Offset, int UlpduLength)> Fpdus, MpaStartFrame Request, MpaStartFrame Reply);

    private static Stream ClientStream(int seed, bool crc, bool markers)
    {
        var random = new Random(seed);
        var request = MpaStartFrame.Request(crc, new MpaV2Block(8, 8), ReadOnlyMemory<byte>.Empty, markersRequired: false);
        var reply = MpaStartFrame.Reply(crc, new MpaV2Block(8, 8), ReadOnlyMemory<byte>.Empty, markersRequired: markers);
        var w = new MpaStreamWriter { Crc = crc, Markers = markers, Mulpdu = Mulpdu.FromEmss(1460, markers) };
        w.StartFrame(request);
        var count = random.Next(5, 60);
        for (var i = 0; i < count; i++)
        {
            var payload = new byte[random.Next(0, random.Next(2) == 0 ? 200 : 4000)];
            random.NextBytes(payload);
            switch (random.Next(6))
            {
                case 0:
                    w.Write((uint)random.Next(), (ulong)random.NextInt64(), payload);
                    break;
                case 1:
                    w.ReadRequest(new ReadRequestHeader(1, 2, (uint)payload.Length, 3, 4));
                    break;
                case 2:
                    w.Immediate((ulong)random.NextInt64());
                    break;
                case 3:
                    w.AtomicRequest(AtomicRequest.FetchAdd((uint)i, 5, 8, 1));
                    break;
                default:
                    w.Send(payload, random.Next(2) == 0 ? RdmapOpcode.Send : RdmapOpcode.SendWithSolicitedEvent);
                    break;
            }
        }
        var octets = w.Pending.ToArray();
        var fpdus = new List<(long, int)>();
        var ends = w.FrameEnds;
        for (var i = 1; i < ends.Count; i++)
        {
            fpdus.Add((ends[i - 1], UlpduLength(octets, ends[i - 1], request.EncodedLength, markers)));
        }
        return new Stream(octets, fpdus, request, reply);
    }

    /// <summary>ULPDU_Length of the FPDU at <paramref name="offset"/> (skipping its leading marker when there is one).</summary>
    private static int UlpduLength(byte[] octets, long offset, int seqStart, bool markers)
    {
        var at = (int)offset;
        if (markers && (offset - seqStart) % MpaMarkers.Interval == 0)
        {
            at += MpaMarkers.Length;
        }
        return (octets[at] << 8) | octets[at + 1];
    }

    private static int[] Cuts(int seed, int length)
    {
        var random = new Random(seed ^ 0x5EED);
        var cuts = new List<int>();
        for (var total = 0; total < length;)
        {
            var n = random.Next(4) switch { 0 => random.Next(1, 8), 1 => random.Next(1, 200), _ => random.Next(500, 1461) };
            cuts.Add(n);
            total += n;
        }
        return [.. cuts];
    }

    /// <summary>Writes the client stream from <paramref name="skip"/> on, cut by <paramref name="cuts"/>, losing the segments <paramref name="lost"/> picks.</summary>
    /// <param name="replyAfter">Client segments sent before the Reply (more than 0: the initiator sends too early).</param>
    private static DecodeTestKit.Decoded Capture(DecodeTestKit.TempDirectory temp, Stream s, int[] cuts, int skip, Func<int, bool> lost, int replyAfter = 0)
    {
        var path = temp.File($"p-{Guid.NewGuid():N}.pcapng");
        using (var writer = PcapNgWriter.Create(path))
        {
            var b = new SampleBuilder(writer);
            var f = b.Flow(9999);
            var octets = s.Octets.AsSpan(skip);
            if (skip == 0)
            {
                // TCP handshake, the Request alone, the Reply: then the initiator's FPDUs.
                f.Tcp.Handshake();
                f.Tcp.Segment(SynthSide.Client, octets[..s.Request.EncodedLength]);
                octets = octets[s.Request.EncodedLength..];
            }
            else
            {
                f.Tcp.Lose(SynthSide.Client, skip);
            }
            var i = 0;
            foreach (var cut in cuts)
            {
                if (i == replyAfter && skip == 0)
                {
                    f.Server.StartFrame(s.Reply);
                    f.Flush(SynthSide.Server);
                }
                if (octets.IsEmpty)
                {
                    break;
                }
                var n = Math.Min(cut, octets.Length);
                if (lost(i++))
                {
                    f.Tcp.Lose(SynthSide.Client, n);
                }
                else
                {
                    f.Tcp.Segment(SynthSide.Client, octets[..n]);
                }
                octets = octets[n..];
                if (i % 3 == 0)
                {
                    f.Tcp.Ack(SynthSide.Server);
                }
            }
            f.Tcp.Ack(SynthSide.Server);
            writer.Commit();
        }
        return DecodeTestKit.Decode(path);
    }

    private static List<(long Offset, int Length)> ClientFpdus(DecodeTestKit.Decoded d, long skip) =>
        d.Frames.Where(f => f.GetProperty("rdmadiag.direction").GetString() == "client-to-server")
            .Select(f => (f.Long("rdmadiag.stream_offset") + skip, (int)f.Long("iwarp_mpa.ulpdulength"))).ToList();

    private static Gen<(int Seed, bool Crc, bool Markers)> Streams =>
        from seed in Gen.Choose(0, int.MaxValue)
        from crc in Gen.Elements(true, false)
        from markers in Gen.Elements(true, false)
        select (seed, crc, markers);

    [Fact]
    public void Fpdus_AnySegmentation_AreAllDecodedAtTheirOffsets()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        Prop.ForAll(Streams.ToArbitrary(), c =>
        {
            var s = ClientStream(c.Seed, c.Crc, c.Markers);
            var d = Capture(temp, s, Cuts(c.Seed, s.Octets.Length), 0, _ => false);

            Assert.Equal(s.Fpdus, ClientFpdus(d, 0));
            Assert.DoesNotContain(d.Rules, r => r.StartsWith("mpa-", StringComparison.Ordinal) && r != "mpa-markers-requested"
                || r.StartsWith("ddp-", StringComparison.Ordinal) || r.StartsWith("rdmap-", StringComparison.Ordinal));
            if (c.Crc)
            {
                Assert.All(d.Frames, f => Assert.True(f.GetProperty("rdmadiag.crc_ok").GetBoolean()));
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Capture_StartingAtAnyOffset_RecoversFramingAndShowsOnlyRealFpdus()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var cases = from seed in Gen.Choose(0, int.MaxValue)
                    from crc in Gen.Elements(true, false)
                    from fraction in Gen.Choose(1, 60)
                    select (seed, crc, fraction);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var s = ClientStream(c.seed, c.crc, markers: false);
            var skip = (int)((long)s.Octets.Length * c.fraction / 100);
            var d = Capture(temp, s, Cuts(c.seed, s.Octets.Length), skip, _ => false);

            var real = s.Fpdus.ToHashSet();
            var shown = ClientFpdus(d, skip);
            Assert.All(shown, f => Assert.Contains(f, real));
            var whole = s.Fpdus.Count(f => f.Offset >= skip);
            if (whole >= FramingChainLength + 1)
            {
                Assert.NotEmpty(shown);
                // Once found, framing holds to the end: every later FPDU is shown.
                Assert.Equal(s.Fpdus.Where(f => f.Offset >= shown[0].Offset), shown);
            }
        }).QuickCheckThrowOnFailure();
    }

    private const int FramingChainLength = 4;

    [Fact]
    public void Capture_LosingSegments_NeverShowsAnFpduThatIsNotThere()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var cases = from stream in Streams
                    from lossSeed in Gen.Choose(0, int.MaxValue)
                    from replyAfter in Gen.Elements(0, 0, 0, 1, 3)
                    select (stream.Seed, stream.Crc, stream.Markers, lossSeed, replyAfter);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var s = ClientStream(c.Seed, c.Crc, c.Markers);
            var random = new Random(c.lossSeed);
            // Lose one segment in eight; sometimes the initiator does not wait for the Reply.
            var d = Capture(temp, s, Cuts(c.Seed, s.Octets.Length), 0, _ => random.Next(8) == 0, c.replyAfter);

            var real = s.Fpdus.ToHashSet();
            var bogus = ClientFpdus(d, 0).Where(f => !real.Contains(f)).ToList();
            Assert.True(bogus.Count == 0, $"crc {c.Crc} markers {c.Markers}: shown but not there: {string.Join(", ", bogus)}; real: {string.Join(", ", s.Fpdus.Take(12))}; findings: {string.Join(" | ", d.Findings.Where(x => x.RuleId.StartsWith("mpa", StringComparison.Ordinal)))}");
            if (c.Crc)
            {
                Assert.All(d.Frames, f => Assert.True(f.GetProperty("rdmadiag.crc_ok").GetBoolean()));
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void RandomOctets_AfterTheHandshakeOrWithoutIt_NeverThrow()
    {
        using var temp = new DecodeTestKit.TempDirectory();
        var cases = from seed in Gen.Choose(0, int.MaxValue)
                    from handshake in Gen.Elements(true, false)
                    select (seed, handshake);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var random = new Random(c.seed);
            var garbage = new byte[random.Next(1, 20_000)];
            random.NextBytes(garbage);
            var request = MpaStartFrame.Request(random.Next(2) == 0, null, ReadOnlyMemory<byte>.Empty);
            var w = new MpaStreamWriter();
            if (c.handshake)
            {
                w.StartFrame(request);
            }
            w.Raw(garbage);
            var s = new Stream(w.Pending.ToArray(), [], request, MpaStartFrame.Reply(false, null, ReadOnlyMemory<byte>.Empty));
            var d = Capture(temp, s, Cuts(c.seed, s.Octets.Length), c.handshake ? 0 : 1, _ => false);

            Assert.NotNull(d.Summary.Verdict);
        }).QuickCheckThrowOnFailure();
    }
}
