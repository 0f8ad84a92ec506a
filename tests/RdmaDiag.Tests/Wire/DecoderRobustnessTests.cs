using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Wire;

public class DecoderRobustnessTests
{
    private static readonly byte[] FpduBuffer = new byte[Fpdu.MaxLength];

    // Random octets, and random octets behind a plausible prefix so the decoders get past their first check.
    private static Gen<byte[]> Inputs()
    {
        var random = Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>());
        var prefixes = Gen.Elements<byte[]>(
            [], "MPA ID Req Frame"u8.ToArray(), "MPA ID Rep Frame"u8.ToArray(), [0x41, 0x47], [0xC1, 0x40], [0x41, 0x41], [0x41, 0x4A], [0x41, 0x48]);
        return from prefix in prefixes
               from tail in random
               select (byte[])[.. prefix, .. tail];
    }

    [Fact]
    public void EveryDecoder_ArbitraryOctets_NeverThrows()
    {
        Prop.ForAll(Inputs().ToArbitrary(), ArbMap.Default.ArbFor<uint>(), (bytes, offset) =>
        {
            ReadOnlySpan<byte> input = bytes;
            var statuses = new List<OperationStatus>
            {
                MpaStartFrame.TryRead(input, MpaLimits.Rfc, out _, out _, out var e1),
                Fpdu.TryRead(input, verifyCrc: true, out _, out var e2),
                RdmapCodec.TryDecode(input, out _, out var e3),
                TerminateHeader.TryRead(input, out _, out _, out var e4),
                DdpHeader.TryRead(input, out _),
                new MarkerRemover(offset).TryRead(input, FpduBuffer, verifyCrc: true, out _, out _, out var e5),
            };
            // Every reason renders to a sentence.
            return statuses.Count == 6 && new[] { e1, e2, e3, e4, e5 }.All(e => e.Message.Length > 0);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Decode_SegmentsOfEveryKind_AllocatesNothing()
    {
        byte[][] fpdus = [.. WireVectors.FpduMessages.Select(m => m.Vector.Fpdu)];
        var hits = 0;
        Decode(fpdus, ref hits);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Decode(fpdus, ref hits);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1001 * fpdus.Length, hits);
    }

    private static void Decode(byte[][] fpdus, ref int hits)
    {
        foreach (var bytes in fpdus)
        {
            if (Fpdu.TryRead(bytes, verifyCrc: true, out var fpdu, out _) == OperationStatus.Done
                && RdmapCodec.TryDecode(fpdu.Ulpdu, out var segment, out _) == OperationStatus.Done
                && (segment.Header.Kind != RdmapHeaderKind.Terminate || segment.Header.Terminate.Error.IsKnown))
            {
                hits++;
            }
        }
    }

    [Fact]
    public void WireError_EveryKind_HasAMessage()
    {
        foreach (var kind in Enum.GetValues<WireErrorKind>())
        {
            Assert.DoesNotContain("wire error", new WireError(kind, 3, 1).Message);
        }
    }
}
