using System.Buffers;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Wire;

public class TerminateTests
{
    private static readonly DdpHeader TerminateDdp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, 1);
    private static readonly DdpHeader OffendingSend = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, 5);
    private static readonly DdpHeader OffendingWrite = DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), 0x99, 0x2000);
    private static readonly ReadRequestHeader OffendingRead = new(0x10, 0x20, 0x30, 0x40, 0x50);

    [Fact]
    public void Catalog_EveryEntry_HasUniqueNameSentenceAndLooksItselfUp()
    {
        Assert.Equal(34, TerminateErrors.All.Count);
        Assert.Equal(TerminateErrors.All.Count, TerminateErrors.All.Select(e => e.Name).Distinct().Count());
        foreach (var entry in TerminateErrors.All)
        {
            Assert.True(entry.IsKnown);
            Assert.Matches(@"^(rdmap|ddp|mpa)\.[a-z_.]+$", entry.Name);
            Assert.Matches(@"^(RDMAP|DDP|MPA)[a-z ]*: \S", entry.Description);
            byte code = (byte)(entry.Code < 0 ? 0x42 : entry.Code);
            Assert.Same(entry, TerminateErrors.Lookup(entry.Layer, entry.EType, code));
        }
    }

    public static TheoryData<byte, byte, byte, string> Section56 => new()
    {
        { 0, 0, 0x00, "RDMAP: local catastrophic error" },
        { 0, 0, 0xFF, "RDMAP: local catastrophic error" },
        { 0, 1, 0x00, "RDMAP remote protection: invalid STag" },
        { 0, 1, 0x01, "RDMAP remote protection: base or bounds violation" },
        { 0, 1, 0x02, "RDMAP remote protection: access rights violation" },
        { 0, 1, 0x03, "RDMAP remote protection: STag not associated with RDMAP stream" },
        { 0, 1, 0x04, "RDMAP remote protection: TO wrap" },
        { 0, 1, 0x09, "RDMAP remote protection: STag cannot be invalidated" },
        { 0, 1, 0xFF, "RDMAP remote protection: unspecified error" },
        { 0, 2, 0x05, "RDMAP remote operation: invalid RDMAP version" },
        { 0, 2, 0x06, "RDMAP remote operation: unexpected opcode" },
        { 0, 2, 0x07, "RDMAP remote operation: catastrophic error, local to this RDMAP stream (also IRD overrun or a misaligned atomic target)" },
        { 0, 2, 0x08, "RDMAP remote operation: catastrophic error, global" },
        { 0, 2, 0x09, "RDMAP remote operation: STag cannot be invalidated" },
        { 0, 2, 0xFF, "RDMAP remote operation: unspecified error" },
        { 1, 0, 0x00, "DDP: local catastrophic error" },
        { 1, 1, 0x00, "DDP tagged buffer: invalid STag" },
        { 1, 1, 0x01, "DDP tagged buffer: base or bounds violation" },
        { 1, 1, 0x02, "DDP tagged buffer: STag not associated with DDP stream" },
        { 1, 1, 0x03, "DDP tagged buffer: TO wrap" },
        { 1, 1, 0x04, "DDP tagged buffer: invalid DDP version" },
        { 1, 2, 0x01, "DDP untagged buffer: invalid QN" },
        { 1, 2, 0x02, "DDP untagged buffer: invalid MSN, no buffer available (no receive posted; fatal)" },
        { 1, 2, 0x03, "DDP untagged buffer: invalid MSN, MSN out of range" },
        { 1, 2, 0x04, "DDP untagged buffer: invalid MO" },
        { 1, 2, 0x05, "DDP untagged buffer: DDP message too long for the available buffer" },
        { 1, 2, 0x06, "DDP untagged buffer: invalid DDP version" },
        { 1, 3, 0x17, "DDP: error type 3, reserved for the LLP" },
        { 2, 0, 0x01, "MPA: TCP connection closed, terminated or lost" },
        { 2, 0, 0x02, "MPA: CRC error" },
        { 2, 0, 0x03, "MPA: marker and ULPDU_Length mismatch" },
        { 2, 0, 0x04, "MPA: invalid MPA Request or Reply frame" },
        { 2, 0, 0x05, "MPA: local catastrophic error" },
        { 2, 0, 0x06, "MPA: insufficient IRD resources" },
        { 2, 0, 0x07, "MPA: no matching RTR option" },
    };

    [Theory]
    [MemberData(nameof(Section56))]
    public void Lookup_EveryCodeOfSection56_IsNamed(byte layer, byte etype, byte code, string description)
    {
        var entry = TerminateErrors.Lookup(layer, etype, code);
        Assert.True(entry.IsKnown);
        Assert.Equal(description, entry.Description);
    }

    [Theory]
    [InlineData(2, "mpa.crc_error")]
    [InlineData(3, "mpa.marker_mismatch")]
    [InlineData(6, "mpa.insufficient_ird")]
    [InlineData(7, "mpa.no_matching_rtr")]
    public void Lookup_Cxgb4Octet0x23_ReadsAsMpa(byte code, string name)
    {
        Assert.True(TerminateErrors.IsCxgb4MpaEncoding(2, 3));
        Assert.Equal(name, TerminateErrors.Lookup(2, 3, code).Name);
    }

    [Theory]
    [InlineData(0, 1, 0x05)]
    [InlineData(1, 2, 0x00)]
    [InlineData(2, 0, 0x08)]
    [InlineData(3, 0, 0x01)]
    [InlineData(0xF, 0xF, 0xFF)]
    public void Lookup_UnassignedCombination_NamedUnknownWithTheNumbers(byte layer, byte etype, byte code)
    {
        var entry = TerminateErrors.Lookup(layer, etype, code);
        Assert.False(entry.IsKnown);
        Assert.Equal("unknown", entry.Name);
        Assert.Contains($"layer {layer}", entry.Description);
        Assert.Contains($"error type {etype}", entry.Description);
        Assert.Contains($"code 0x{code:X2}", entry.Description);
    }

    private static (byte[] Fpdu, TerminateHeader Read) RoundTrip(TerminateHeader terminate)
    {
        var buffer = Enumerable.Repeat((byte)0xFF, 100).ToArray();
        int length = RdmapCodec.WriteFpdu(buffer, TerminateDdp, terminate, [], crcEnabled: true);
        byte[] fpdu = buffer[..length];
        Assert.Equal(OperationStatus.Done, Fpdu.TryRead(fpdu, verifyCrc: true, out var view, out _));
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(view.Ulpdu, out var segment, out _));
        return (fpdu, segment.Header.Terminate);
    }

    [Fact]
    public void Terminate_UntaggedCopy_Ulpdu42Fpdu48()
    {
        var (fpdu, read) = RoundTrip(new TerminateHeader(TerminateErrors.DdpUntaggedNoBuffer, 100, OffendingSend));
        Assert.Equal(48, fpdu.Length);
        Assert.Equal(42, fpdu[1]);
        Assert.Equal(WireVectors.Hex("1202C000 0064 4143 00000000 00000000 00000005 00000000"), fpdu[20..44]);
        Assert.Equal(OffendingSend, read.CopiedDdpHeader);
        Assert.Equal(100, read.DdpSegmentLength);
        Assert.True(read.SegmentLengthValid);
    }

    [Fact]
    public void Terminate_TaggedCopyInRdmapLayerError_SizedByCopysOwnTBit()
    {
        // Wireshark sizes the copy from EType == DDP tagged; the copy's own T bit is what counts.
        var (fpdu, read) = RoundTrip(new TerminateHeader(TerminateErrors.RdmapUnexpectedOpcode, 0, OffendingWrite));
        Assert.Equal(44, fpdu.Length);
        Assert.Equal(38, fpdu[1]);
        Assert.True(read.CopiedDdpHeader!.Value.Tagged);
        Assert.Equal(0x2000ul, read.CopiedDdpHeader.Value.TaggedOffset);
    }

    [Fact]
    public void Terminate_UntaggedCopyAndReadRequest_Ulpdu70Fpdu76()
    {
        var readRequestDdp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.RdmaReadRequest), 1, 3);
        var (fpdu, read) = RoundTrip(new TerminateHeader(TerminateErrors.RdmapBaseOrBounds, 28, readRequestDdp, OffendingRead));
        Assert.Equal(76, fpdu.Length);
        Assert.Equal(70, fpdu[1]);
        Assert.Equal(0xE0, fpdu[22]);
        Assert.Equal(OffendingRead, read.CopiedReadRequest);
        Assert.False(read.RdmaHeaderMissing);
    }

    [Fact]
    public void Terminate_NoCopies_Ulpdu22Fpdu28()
    {
        var (fpdu, read) = RoundTrip(new TerminateHeader(TerminateErrors.RdmapLocalCatastrophic));
        Assert.Equal(28, fpdu.Length);
        Assert.Null(read.CopiedDdpHeader);
        Assert.Equal(TerminateLayer.Rdmap, read.Layer);
    }

    [Fact]
    public void Terminate_SiwRWithoutRdmaOctets_ToleratedAsMissing()
    {
        byte[] ulpdu = WireVectors.Hex("4147 00000000 00000002 00000001 00000000 0100E000 0005 4143 00000000 00000000 00000004 00000000");
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(ulpdu, out var segment, out _));
        var terminate = segment.Header.Terminate;
        Assert.True(terminate.RdmaHeaderIncluded);
        Assert.True(terminate.RdmaHeaderMissing);
        Assert.Equal("rdmap.protection.invalid_stag", terminate.Error.Name);
        Assert.Equal(4u, terminate.CopiedDdpHeader!.Value.MessageSequenceNumber);
    }

    [Fact]
    public void Terminate_Cxgb4CrcError_DecodesAsMpaCrc()
    {
        byte[] ulpdu = WireVectors.Hex("4147 00000000 00000002 00000001 00000000 23020000");
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(ulpdu, out var segment, out _));
        Assert.Equal(3, segment.Header.Terminate.EType);
        Assert.Same(TerminateErrors.MpaCrcError, segment.Header.Terminate.Error);
    }

    [Fact]
    public void Terminate_ReservedBitsOnWire_ReadAndWrittenAsZero()
    {
        Assert.Equal(OperationStatus.Done, TerminateHeader.TryRead(WireVectors.Hex("20021FFF"), out var header, out int consumed, out _));
        Assert.Equal(4, consumed);
        Assert.Equal(0x1FFF, header.Reserved);
        var buffer = Enumerable.Repeat((byte)0xFF, 4).ToArray();
        header.Write(buffer);
        Assert.Equal(WireVectors.Hex("20020000"), buffer);
    }

    [Fact]
    public void Terminate_TrailingOctets_LeftInPayload()
    {
        byte[] ulpdu = WireVectors.Hex("4147 00000000 00000002 00000001 00000000 20020000 AABB");
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(ulpdu, out var segment, out _));
        Assert.Equal([0xAA, 0xBB], segment.Payload.ToArray());
    }

    // Linux siw 6.1's Terminate for `rping -S 100` against a 64-octet server, captured in the qemu guest
    // (tests/vm rping-terminate): its control word 11 01 03 00 is struct iwarp_terminate's little-endian
    // bitfields (Layer 1 low, EType 1 high, M=1 D=1 as 0x01|0x02), followed by the segment length and the
    // copied tagged header of our Read Response.
    private const string SiwReadResponseTerminate = "4147 00000000 00000002 00000001 00000000 11010300 0064 c142 a90f6b00 00005634a83e1130";

    [Fact]
    public void Terminate_SiwBitfieldLayoutFromRealSiw_DecodesLayerTypeCodeAndCopy()
    {
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(WireVectors.Hex(SiwReadResponseTerminate), out var segment, out _));
        var terminate = segment.Header.Terminate;
        Assert.True(terminate.SiwBitfieldLayout);
        Assert.Same(TerminateErrors.DdpTaggedBaseOrBounds, terminate.Error);
        Assert.True(terminate.SegmentLengthValid);
        Assert.True(terminate.DdpHeaderIncluded);
        Assert.False(terminate.RdmaHeaderIncluded);
        Assert.Equal(0, terminate.Reserved);
        Assert.Equal(100, terminate.DdpSegmentLength);
        var copy = terminate.CopiedDdpHeader!.Value;
        Assert.True(copy.Tagged);
        Assert.Equal(0xA90F6B00u, copy.STag);
        Assert.Equal(0x5634A83E1130ul, copy.TaggedOffset);
        Assert.Equal(RdmapOpcode.RdmaReadResponse, new RdmapControl(copy.RdmapControl).Opcode);
        Assert.True(segment.Payload.IsEmpty);
    }

    [Theory]
    [InlineData("12020000", false)] // RFC: DDP untagged, no buffer; no flags
    [InlineData("1202C000", false)] // RFC with M and D
    [InlineData("21020000", true)]  // siw: layer 1 etype 2 swapped; 2/1/0x02 is unassigned, 1/2/0x02 is catalogued
    [InlineData("21020300", true)]  // siw with M and D
    [InlineData("11010000", false)] // both orders mean the same: read as the RFC's
    [InlineData("20021FFF", false)] // RFC reserved bits set
    [InlineData("11010700", true)]  // siw M, D and R
    [InlineData("11010900", false)] // 0x08 is reserved in siw's layout too: not siw's
    public void IsSiwBitfieldLayout_ControlWord_TellsLayoutApart(string control, bool siw)
    {
        Assert.Equal(siw, TerminateHeader.IsSiwBitfieldLayout(WireVectors.Hex(control)));
    }

    [Fact]
    public void Terminate_SiwLayoutWritten_RoundTripsAndMatchesSiwOctets()
    {
        var ddp = DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaReadResponse), 0xA90F6B00, 0x5634A83E1130);
        var header = new TerminateHeader(TerminateErrors.DdpTaggedBaseOrBounds, 100, ddp) { SiwBitfieldLayout = true };
        var buffer = Enumerable.Repeat((byte)0xFF, header.Length).ToArray();
        Assert.Equal(20, header.Write(buffer));
        Assert.Equal(WireVectors.Hex(SiwReadResponseTerminate)[18..], buffer);
        Assert.Equal(OperationStatus.Done, TerminateHeader.TryRead(buffer, out var read, out _, out _));
        Assert.True(read.SiwBitfieldLayout);
        Assert.Equal(ddp, read.CopiedDdpHeader);
    }
}
