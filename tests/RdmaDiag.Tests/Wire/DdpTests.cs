using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Wire;

public class DdpTests
{
    private static readonly byte SendControl = RdmapControl.Encode(RdmapOpcode.Send);
    private static readonly byte WriteControl = RdmapControl.Encode(RdmapOpcode.RdmaWrite);

    [Fact]
    public void Write_UntaggedOnFfBuffer_ExactOctetsReservedZero()
    {
        var buffer = Enumerable.Repeat((byte)0xFF, 20).ToArray();
        int written = DdpHeader.CreateUntagged(SendControl, 0, 1, 0).Write(buffer);
        Assert.Equal(18, written);
        Assert.Equal(WireVectors.Hex("4143 00000000 00000000 00000001 00000000 FFFF"), buffer);
    }

    [Fact]
    public void Write_TaggedNotLast_ControlOctet81()
    {
        var buffer = Enumerable.Repeat((byte)0xFF, 14).ToArray();
        DdpHeader.CreateTagged(WriteControl, 0xAABBCCDD, 0x0102030405060708, last: false).Write(buffer);
        Assert.Equal(WireVectors.Hex("8140 AABBCCDD 0102030405060708"), buffer);
    }

    [Fact]
    public void TryRead_ReservedBitsSet_ReadsLeniently()
    {
        byte[] bytes = WireVectors.Hex("FD40 00000001 0000000000000010");
        Assert.Equal(OperationStatus.Done, DdpHeader.TryRead(bytes, out var header));
        Assert.True(header.Tagged);
        Assert.True(header.Last);
        Assert.Equal(1, header.Dv);
        Assert.Equal(0xF, header.Reserved);
        Assert.Equal(0x10ul, header.TaggedOffset);
        Assert.Equal(0xC1, header.Control);
    }

    [Fact]
    public void TryRead_ShorterThanTheTBitSays_NeedsMoreData()
    {
        Assert.Equal(OperationStatus.NeedMoreData, DdpHeader.TryRead(ReadOnlySpan<byte>.Empty, out _));
        Assert.Equal(OperationStatus.NeedMoreData, DdpHeader.TryRead(new byte[17], out _));
        Assert.Equal(OperationStatus.Done, DdpHeader.TryRead(WireVectors.Hex("C140 00000001 0000000000000001"), out _));
        Assert.Equal(OperationStatus.NeedMoreData, DdpHeader.TryRead(WireVectors.Hex("C140 00000001 00000000000000"), out _));
    }

    [Fact]
    public void WriteThenRead_AnyHeader_RoundTrips()
    {
        var headers = from tagged in ArbMap.Default.GeneratorFor<bool>()
                      from last in ArbMap.Default.GeneratorFor<bool>()
                      from dv in Gen.Choose(0, 3)
                      from control in ArbMap.Default.GeneratorFor<byte>()
                      from a in ArbMap.Default.GeneratorFor<uint>()
                      from b in ArbMap.Default.GeneratorFor<uint>()
                      from c in ArbMap.Default.GeneratorFor<uint>()
                      from d in ArbMap.Default.GeneratorFor<uint>()
                      select tagged
                          ? DdpHeader.CreateTagged(control, a, ((ulong)b << 32) | c, last, (byte)dv)
                          : DdpHeader.CreateUntagged(control, b, c, d, last, a, (byte)dv);
        Prop.ForAll(headers.ToArbitrary(), original =>
        {
            var buffer = Enumerable.Repeat((byte)0xFF, 18).ToArray();
            int written = original.Write(buffer);
            return DdpHeader.TryRead(buffer, out var read) == OperationStatus.Done && written == original.Length
                && read.Equals(original);
        }).QuickCheckThrowOnFailure();
    }

    private static List<DdpSegment> Collect(DdpSegmenter segmenter)
    {
        var segments = new List<DdpSegment>();
        foreach (var segment in segmenter)
        {
            segments.Add(segment);
        }
        return segments;
    }

    [Fact]
    public void Segmenter_Rfc5041UntaggedExample_1482Then566()
    {
        var segments = Collect(new DdpSegmenter(DdpHeader.CreateUntagged(SendControl, 0, 7), 2048, 1500));
        Assert.Equal(2, segments.Count);
        Assert.Equal((0L, 1482), (segments[0].Offset, segments[0].Length));
        Assert.Equal(0u, segments[0].Header.MessageOffset);
        Assert.False(segments[0].Header.Last);
        Assert.Equal((1482L, 566), (segments[1].Offset, segments[1].Length));
        Assert.Equal(1482u, segments[1].Header.MessageOffset);
        Assert.True(segments[1].Header.Last);
        Assert.All(segments, s => Assert.Equal(7u, s.Header.MessageSequenceNumber));
    }

    [Fact]
    public void Segmenter_Rfc5041TaggedExample_To16384Then17870()
    {
        var segments = Collect(new DdpSegmenter(DdpHeader.CreateTagged(WriteControl, 0x55, 16384), 2048, 1500));
        Assert.Equal(2, segments.Count);
        Assert.Equal((16384ul, 1486, false), (segments[0].Header.TaggedOffset, segments[0].Length, segments[0].Header.Last));
        Assert.Equal((17870ul, 562, true), (segments[1].Header.TaggedOffset, segments[1].Length, segments[1].Header.Last));
    }

    [Fact]
    public void Segmenter_ZeroLengthMessage_OneLastSegment()
    {
        var segmenter = new DdpSegmenter(DdpHeader.CreateTagged(WriteControl, 1, 1, last: false), 0, 1500);
        Assert.Equal(1, segmenter.SegmentCount);
        var only = Assert.Single(Collect(segmenter));
        Assert.Equal(0, only.Length);
        Assert.True(only.Header.Last);
    }

    [Fact]
    public void Segmenter_MulpduNotAboveHeader_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DdpSegmenter(DdpHeader.CreateUntagged(SendControl, 0, 1), 10, 18));
    }

    [Fact]
    public void Segmenter_AnyMessage_ContiguousWithinMulpduAndLastOnlyAtEnd()
    {
        var cases = from tagged in ArbMap.Default.GeneratorFor<bool>()
                    from length in Gen.OneOf(Gen.Choose(0, 5000), Gen.Choose(0, 2_000_000))
                    from mulpdu in Gen.Choose(128, 64768)
                    from start in ArbMap.Default.GeneratorFor<uint>()
                    select (tagged, length, mulpdu, start);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var first = c.tagged ? DdpHeader.CreateTagged(WriteControl, 9, c.start) : DdpHeader.CreateUntagged(SendControl, 0, 3, c.start);
            var segmenter = new DdpSegmenter(first, c.length, c.mulpdu);
            long expectedOffset = 0, count = 0;
            bool ok = true;
            foreach (var s in segmenter)
            {
                count++;
                bool isLast = expectedOffset + s.Length == c.length;
                ok &= s.Offset == expectedOffset && s.Header.Length + s.Length <= c.mulpdu && s.Header.Last == isLast
                    && (c.tagged ? s.Header.TaggedOffset == c.start + (ulong)s.Offset : s.Header.MessageOffset == unchecked(c.start + (uint)s.Offset))
                    && (s.Length > 0 || c.length == 0);
                expectedOffset += s.Length;
            }
            return ok && expectedOffset == c.length && count == segmenter.SegmentCount;
        }).QuickCheckThrowOnFailure();
    }
}
