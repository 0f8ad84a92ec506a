using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Tests.Wire;

public class MpaStartFrameTests
{
    private static MpaStartFrame V2RequestFromDigest() => MpaStartFrame.Request(
        crc: true,
        new MpaV2Block(ird: 16, ord: 16, peerToPeer: true, readRtr: true),
        WireVectors.MpaV2RequestUlpData);

    [Fact]
    public void Write_DigestV2Request_MatchesSection8Octets()
    {
        var buffer = Enumerable.Repeat((byte)0xFF, 64).ToArray();
        int written = V2RequestFromDigest().Write(buffer);
        Assert.Equal(WireVectors.MpaV2Request, buffer[..written]);
        Assert.All(buffer[written..], b => Assert.Equal(0xFF, b));
    }

    [Fact]
    public void TryRead_DigestV2Request_DecodesEveryField()
    {
        var status = MpaStartFrame.TryRead(WireVectors.MpaV2Request, MpaLimits.Linux, out var frame, out int consumed, out var error);
        Assert.Equal(OperationStatus.Done, status);
        Assert.True(error.IsNone);
        Assert.Equal(32, consumed);
        Assert.False(frame.IsReply);
        Assert.False(frame.MarkersRequired);
        Assert.True(frame.CrcPreferred);
        Assert.False(frame.Rejected);
        Assert.True(frame.Enhanced);
        Assert.Equal(2, frame.Rev);
        Assert.Equal(12, frame.PrivateDataLength);
        var block = Assert.NotNull(frame.V2Block);
        Assert.True(block.PeerToPeer);
        Assert.False(block.SendRtr);
        Assert.False(block.WriteRtr);
        Assert.True(block.ReadRtr);
        Assert.Equal(16, block.Ird);
        Assert.Equal(16, block.Ord);
        Assert.Equal(WireVectors.MpaV2RequestUlpData, frame.PrivateData.ToArray());
    }

    [Fact]
    public void Write_ReservedFlagsSetOnFrame_WritesThemAsZero()
    {
        var frame = MpaStartFrame.Reply(crc: false, null, ReadOnlyMemory<byte>.Empty, rejected: true) with { ReservedFlags = 0x0F };
        var buffer = Enumerable.Repeat((byte)0xFF, 20).ToArray();
        frame.Write(buffer);
        Assert.Equal("MPA ID Rep Frame"u8.ToArray(), buffer[..16]);
        Assert.Equal(0x20, buffer[16]);
        Assert.Equal(1, buffer[17]);
        Assert.Equal([0, 0], buffer[18..20]);
    }

    [Fact]
    public void TryRead_ReservedBitsAndSiwGsoBit_AreIgnored()
    {
        byte[] bytes = [.. "MPA ID Rep Frame"u8, 0x4F, 1, 0, 0];
        Assert.Equal(OperationStatus.Done, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out var frame, out _, out _));
        Assert.True(frame.IsReply);
        Assert.True(frame.CrcPreferred);
        Assert.Equal(0x0F, frame.ReservedFlags);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void TryRead_Rev0To2_Accepted(byte rev)
    {
        byte[] bytes = [.. "MPA ID Req Frame"u8, 0x00, rev, 0, 0];
        Assert.Equal(OperationStatus.Done, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out var frame, out _, out _));
        Assert.Equal(rev, frame.Rev);
    }

    [Fact]
    public void TryRead_Rev3_InvalidDataNamingTheRevision()
    {
        byte[] bytes = [.. "MPA ID Req Frame"u8, 0x00, 3, 0, 0];
        Assert.Equal(OperationStatus.InvalidData, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out _, out int consumed, out var error));
        Assert.Equal(0, consumed);
        Assert.Equal(WireErrorKind.MpaRevision, error.Kind);
        Assert.Equal(3, error.Seen);
        Assert.Contains("Rev 3", error.Message);
    }

    [Fact]
    public void TryRead_WrongKey_InvalidDataAsSoonAsTheKeyDiverges()
    {
        byte[] http = "GET / HTTP/1.1\r\n"u8.ToArray();
        Assert.Equal(OperationStatus.InvalidData, MpaStartFrame.TryRead(http.AsSpan(0, 3), MpaLimits.Rfc, out _, out _, out var error));
        Assert.Equal(WireErrorKind.MpaKey, error.Kind);
        Assert.Contains("MPA ID Req Frame", error.Message);
    }

    [Fact]
    public void TryRead_KeyWithWrongCase_InvalidData()
    {
        byte[] bytes = [.. "MPA ID REQ Frame"u8, 0x00, 1, 0, 0];
        Assert.Equal(OperationStatus.InvalidData, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out _, out _, out var error));
        Assert.Equal(WireErrorKind.MpaKey, error.Kind);
    }

    [Fact]
    public void TryRead_PdLengthOverLimit_InvalidDataBeforeTheBodyArrives()
    {
        byte[] header = [.. "MPA ID Req Frame"u8, 0x40, 1, 0x01, 0x01];
        Assert.Equal(OperationStatus.InvalidData, MpaStartFrame.TryRead(header, MpaLimits.Linux, out _, out _, out var error));
        Assert.Equal(WireErrorKind.MpaPrivateDataTooLong, error.Kind);
        Assert.Equal(257, error.Seen);
        Assert.Equal(256, error.Expected);
        Assert.Equal("MPA PD_Length 257 exceeds the limit of 256 octets", error.Message);
        Assert.Equal(OperationStatus.NeedMoreData, MpaStartFrame.TryRead(header, MpaLimits.Rfc, out _, out _, out _));
    }

    [Fact]
    public void TryRead_Pd513UnderRfcLimits_InvalidData()
    {
        byte[] header = [.. "MPA ID Rep Frame"u8, 0x00, 1, 0x02, 0x01];
        Assert.Equal(OperationStatus.InvalidData, MpaStartFrame.TryRead(header, MpaLimits.Rfc, out _, out _, out var error));
        Assert.Equal(512, error.Expected);
    }

    [Fact]
    public void TryRead_EveryProperPrefix_NeedsMoreData()
    {
        for (int length = 0; length < WireVectors.MpaV2Request.Length; length++)
        {
            var status = MpaStartFrame.TryRead(WireVectors.MpaV2Request.AsSpan(0, length), MpaLimits.Rfc, out _, out int consumed, out _);
            Assert.Equal(OperationStatus.NeedMoreData, status);
            Assert.Equal(0, consumed);
        }
    }

    [Fact]
    public void TryRead_TrailingFpduOctets_ConsumesOnlyTheFrame()
    {
        byte[] bytes = [.. WireVectors.MpaV2Request, .. WireVectors.SendHello.Fpdu];
        Assert.Equal(OperationStatus.Done, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out _, out int consumed, out _));
        Assert.Equal(WireVectors.MpaV2Request.Length, consumed);
    }

    [Fact]
    public void TryRead_EnhancedWithPdShorterThanBlock_ReadsWithBlockMissing()
    {
        byte[] bytes = [.. "MPA ID Req Frame"u8, 0x10, 2, 0, 2, 0xAB, 0xCD];
        Assert.Equal(OperationStatus.Done, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out var frame, out _, out _));
        Assert.True(frame.IsEnhancedBlockMissing);
        Assert.Null(frame.V2Block);
        Assert.Equal([0xAB, 0xCD], frame.PrivateData.ToArray());
    }

    [Fact]
    public void TryRead_SBitAtRev1_TreatsPrivateDataAsPlain()
    {
        byte[] bytes = [.. "MPA ID Req Frame"u8, 0x10, 1, 0, 4, 0x80, 0x10, 0x40, 0x10];
        Assert.Equal(OperationStatus.Done, MpaStartFrame.TryRead(bytes, MpaLimits.Rfc, out var frame, out _, out _));
        Assert.Null(frame.V2Block);
        Assert.Equal(4, frame.PrivateData.Length);
    }

    [Fact]
    public void V2Block_NoNegotiationValue_RoundTrips()
    {
        var buffer = new byte[4];
        new MpaV2Block(MpaV2Block.NoNegotiation, MpaV2Block.NoNegotiation).Write(buffer);
        Assert.Equal(WireVectors.Hex("3FFF3FFF"), buffer);
        Assert.True(MpaV2Block.TryRead(buffer, out var block));
        Assert.Equal(MpaV2Block.NoNegotiation, block.Ird);
        Assert.False(MpaV2Block.TryRead(buffer.AsSpan(0, 3), out _));
    }

    [Fact]
    public void V2Block_IrdAbove14Bits_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MpaV2Block(0x4000, 0));
    }

    [Fact]
    public void WriteThenRead_AnyFrame_RoundTrips()
    {
        var frames = from reply in ArbMap.Default.GeneratorFor<bool>()
                     from flags in Gen.Choose(0, 15)
                     from rev in Gen.Choose(0, 2)
                     from hasBlock in ArbMap.Default.GeneratorFor<bool>()
                     from ird in Gen.Choose(0, MpaV2Block.MaxValue)
                     from ord in Gen.Choose(0, MpaV2Block.MaxValue)
                     from rtr in Gen.Choose(0, 15)
                     from pd in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>()).Where(a => a.Length <= 252)
                     select new MpaStartFrame
                     {
                         IsReply = reply,
                         MarkersRequired = (flags & 1) != 0,
                         CrcPreferred = (flags & 2) != 0,
                         Rejected = (flags & 4) != 0,
                         Enhanced = hasBlock && rev == 2,
                         Rev = (byte)rev,
                         V2Block = hasBlock && rev == 2
                             ? new MpaV2Block((ushort)ird, (ushort)ord, (rtr & 1) != 0, (rtr & 2) != 0, (rtr & 4) != 0, (rtr & 8) != 0)
                             : null,
                         PrivateData = pd,
                     };
        Prop.ForAll(frames.ToArbitrary(), original =>
        {
            var buffer = Enumerable.Repeat((byte)0xFF, 300).ToArray();
            int written = original.Write(buffer);
            var status = MpaStartFrame.TryRead(buffer.AsSpan(0, written), MpaLimits.Linux, out var read, out int consumed, out _);
            return status == OperationStatus.Done && consumed == written
                && read.IsReply == original.IsReply && read.MarkersRequired == original.MarkersRequired
                && read.CrcPreferred == original.CrcPreferred && read.Rejected == original.Rejected
                && read.Enhanced == original.Enhanced && read.Rev == original.Rev && read.ReservedFlags == 0
                && Nullable.Equals(read.V2Block?.Ird, original.V2Block?.Ird) && Nullable.Equals(read.V2Block?.Ord, original.V2Block?.Ord)
                && Nullable.Equals(read.V2Block?.PeerToPeer, original.V2Block?.PeerToPeer)
                && Nullable.Equals(read.V2Block?.SendRtr, original.V2Block?.SendRtr)
                && Nullable.Equals(read.V2Block?.WriteRtr, original.V2Block?.WriteRtr)
                && Nullable.Equals(read.V2Block?.ReadRtr, original.V2Block?.ReadRtr)
                && read.PrivateData.Span.SequenceEqual(original.PrivateData.Span);
        }).QuickCheckThrowOnFailure();
    }
}
