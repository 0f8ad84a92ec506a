using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Tests.Wire;

public class MarkerTests
{
    private static byte[] Fig5UnmarkedUlpdu() => WireVectors.Figure5Unmarked.BeforeCrc[2..];

    private static byte[] Seal(byte[] ulpdu)
    {
        var fpdu = new byte[Fpdu.TotalLength(ulpdu.Length)];
        Fpdu.Write(fpdu, ulpdu, crcEnabled: true);
        return fpdu;
    }

    [Fact]
    public void Inserter_Figure5AtSeqStart_EmitsLeadingMarkerAndRfcCrc()
    {
        var inserter = new MarkerInserter(0);
        var output = Enumerable.Repeat((byte)0xFF, 64).ToArray();
        int written = inserter.Write(Seal(Fig5UnmarkedUlpdu()), output, crcEnabled: true);
        Assert.Equal(52, written);
        Assert.Equal(WireVectors.Rfc5044Figure5, output[..48]);
        Assert.Equal(WireVectors.Hex("52239983"), output[48..52]);
        Assert.Equal(52u, inserter.StreamOffset);
    }

    [Fact]
    public void Inserter_Figure6At0x1EC_EmitsInteriorMarker0x14AndRfcCrc()
    {
        byte[] ulpdu = WireVectors.Rfc5044Figure6.Where((_, i) => i < 20 || i >= 24).Skip(2).ToArray();
        var inserter = new MarkerInserter(WireVectors.Rfc5044Figure6Offset);
        var output = new byte[64];
        int written = inserter.Write(Seal(ulpdu), output, crcEnabled: true);
        Assert.Equal(52, written);
        Assert.Equal(WireVectors.Rfc5044Figure6, output[..48]);
        Assert.Equal(WireVectors.Hex("84925898"), output[48..52]);
    }

    [Fact]
    public void Inserter_Figure4_MarkerAfterTenUlpduOctetsHasFpduPtr0x0C()
    {
        // ULPDU_Length 16 with the FPDU starting 12 octets before a boundary: PAD 2.
        byte[] ulpdu = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        var inserter = new MarkerInserter(512 - 12);
        var output = new byte[32];
        int written = inserter.Write(Seal(ulpdu), output, crcEnabled: true);
        Assert.Equal(28, written);
        Assert.Equal(WireVectors.Hex("0010 0102030405060708090A 0000000C 0B0C0D0E0F10 0000"), output[..24]);

        var remover = new MarkerRemover(512 - 12);
        var fpdu = new byte[Fpdu.MaxLength];
        Assert.Equal(OperationStatus.Done, remover.TryRead(output.AsSpan(0, written), fpdu, verifyCrc: true, out _, out int length, out _));
        Assert.Equal(Fpdu.TotalLength(16), length);
        Assert.Equal(ulpdu, fpdu[2..18]);
    }

    [Fact]
    public void Remover_Figure5AndFigure6_DoneWithRfcCrcs()
    {
        var fpdu = new byte[Fpdu.MaxLength];
        byte[] fig5 = [.. WireVectors.Rfc5044Figure5, .. WireVectors.Hex("52239983")];
        var remover5 = new MarkerRemover(0);
        Assert.Equal(OperationStatus.Done, remover5.TryRead(fig5, fpdu, verifyCrc: true, out int consumed5, out int length5, out _));
        Assert.Equal(52, consumed5);
        Assert.Equal(WireVectors.Figure5Unmarked.BeforeCrc, fpdu[..44]);
        Assert.Equal(48, length5);

        byte[] fig6 = [.. WireVectors.Rfc5044Figure6, .. WireVectors.Hex("84925898")];
        var remover6 = new MarkerRemover(WireVectors.Rfc5044Figure6Offset);
        Assert.Equal(OperationStatus.Done, remover6.TryRead(fig6, fpdu, verifyCrc: true, out int consumed6, out _, out _));
        Assert.Equal(52, consumed6);
        Assert.Equal(0x1ECu + 52, remover6.StreamOffset);
    }

    [Fact]
    public void Remover_FpduPtrDisagreesWithLength_InvalidDataMarkerPointer()
    {
        byte[] fig6 = [.. WireVectors.Rfc5044Figure6, .. WireVectors.Hex("84925898")];
        fig6[23] = 0x18;
        var remover = new MarkerRemover(WireVectors.Rfc5044Figure6Offset);
        var status = remover.TryRead(fig6, new byte[Fpdu.MaxLength], verifyCrc: true, out int consumed, out _, out var error);
        Assert.Equal(OperationStatus.InvalidData, status);
        Assert.Equal(WireErrorKind.MpaMarkerPointer, error.Kind);
        Assert.Equal(0x18, error.Seen);
        Assert.Equal(0x14, error.Expected);
        Assert.Equal(0, consumed);
        Assert.Equal(WireVectors.Rfc5044Figure6Offset, remover.StreamOffset);
    }

    [Fact]
    public void Remover_CorruptedMarkerReservedOctet_CrcMismatchBecauseMarkersAreCovered()
    {
        byte[] fig5 = [.. WireVectors.Rfc5044Figure5, .. WireVectors.Hex("52239983")];
        fig5[0] = 0x01;
        var remover = new MarkerRemover(0);
        var status = remover.TryRead(fig5, new byte[Fpdu.MaxLength], verifyCrc: true, out int consumed, out _, out var error);
        Assert.Equal(OperationStatus.InvalidData, status);
        Assert.Equal(WireErrorKind.MpaCrcMismatch, error.Kind);
        Assert.Equal(52, consumed);
    }

    [Fact]
    public void Inserter_MarkerBetweenPadAndCrc_IsCoveredAndMarkerAfterCrcIsNot()
    {
        // The FPDU's CRC field starts exactly on a boundary: the marker there belongs to this FPDU.
        byte[] ulpdu = new byte[18];
        var first = new MarkerInserter(512 - 20);
        var output = new byte[64];
        int written = first.Write(Seal(ulpdu), output, crcEnabled: true);
        Assert.Equal(28, written);
        Assert.Equal(WireVectors.Hex("00000014"), output[20..24]);
        uint expected = Crc32c.Compute(output.AsSpan(0, 24));
        Assert.Equal(expected, Crc32c.ReadWire(output.AsSpan(24)));

        // The FPDU ends exactly on a boundary: no marker is emitted after its CRC.
        var second = new MarkerInserter(512 - 24);
        Assert.Equal(24, second.Write(Seal(ulpdu), output, crcEnabled: true));
        Assert.Equal(512u, second.StreamOffset);
    }

    [Fact]
    public void InserterThenRemover_AnyFpduSequenceSplitAnywhere_RoundTrips()
    {
        var cases = from start in Gen.Choose(0, 1023).Select(x => (uint)(x * 4))
                    from lengths in Gen.ListOf(Gen.Choose(0, 1500)).Select(l => l.Take(12).ToArray())
                    from seed in Gen.Choose(0, int.MaxValue)
                    from chunk in Gen.Choose(1, 700)
                    select (start, lengths, seed, chunk);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var random = new Random(c.seed);
            var ulpdus = c.lengths.Select(n => { var u = new byte[n]; random.NextBytes(u); return u; }).ToArray();
            var inserter = new MarkerInserter(c.start);
            var stream = new List<byte>();
            foreach (var ulpdu in ulpdus)
            {
                byte[] fpdu = Seal(ulpdu);
                var marked = new byte[inserter.GetEncodedLength(fpdu.Length)];
                if (inserter.Write(fpdu, marked, crcEnabled: true) != marked.Length)
                {
                    return false;
                }
                stream.AddRange(marked);
            }
            if (stream.Count > 0 && c.start % 512 == 0 && stream[3] != 0)
            {
                return false;
            }

            // Feed the receiver in arbitrary chunks, the way TCP delivers them.
            var remover = new MarkerRemover(c.start);
            var buffer = new byte[Fpdu.MaxLength];
            int available = 0, position = 0, next = 0;
            byte[] all = stream.ToArray();
            while (next < ulpdus.Length)
            {
                var status = remover.TryRead(all.AsSpan(position, available), buffer, verifyCrc: true, out int consumed, out int length, out _);
                if (status == OperationStatus.NeedMoreData)
                {
                    if (position + available == all.Length)
                    {
                        return false;
                    }
                    available = Math.Min(available + c.chunk, all.Length - position);
                    continue;
                }
                if (status != OperationStatus.Done || !buffer.AsSpan(2, ulpdus[next].Length).SequenceEqual(ulpdus[next]) || length != Fpdu.TotalLength(ulpdus[next].Length))
                {
                    return false;
                }
                position += consumed;
                available -= consumed;
                next++;
            }
            return position == all.Length && remover.StreamOffset == inserter.StreamOffset;
        }).QuickCheckThrowOnFailure();
    }
}
