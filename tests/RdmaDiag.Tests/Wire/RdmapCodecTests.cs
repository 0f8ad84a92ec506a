using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Wire;

public class RdmapCodecTests
{
    private static DdpHeader Untagged(RdmapOpcode opcode, uint qn, uint msn = 1) =>
        DdpHeader.CreateUntagged(RdmapControl.Encode(opcode), qn, msn);

    private static byte[] Encode(DdpHeader ddp, RdmapHeader header, ReadOnlySpan<byte> payload)
    {
        var buffer = Enumerable.Repeat((byte)0xFF, Fpdu.TotalLength(RdmapCodec.GetUlpduLength(ddp, header, payload.Length))).ToArray();
        int written = RdmapCodec.WriteFpdu(buffer, ddp, header, payload, crcEnabled: true);
        Assert.Equal(buffer.Length, written);
        return buffer;
    }

    public static TheoryData<string> Section8Names => new(WireVectors.FpduMessages.Select(m => m.Vector.Name));

    [Theory]
    [MemberData(nameof(Section8Names))]
    public void WriteFpdu_Section8MessageFields_ProduceTheDigestOctets(string name)
    {
        var message = WireVectors.FpduMessages.Single(m => m.Vector.Name == name);
        Assert.Equal(message.Vector.Fpdu, Encode(message.Ddp, message.Header, message.Payload));
    }

    [Fact]
    public void TryDecode_ReadRtr_ReadsEveryField()
    {
        Assert.Equal(OperationStatus.Done, Fpdu.TryRead(WireVectors.ReadRtr.Fpdu, verifyCrc: true, out var fpdu, out _));
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(fpdu.Ulpdu, out var segment, out var error));
        Assert.True(error.IsNone);
        Assert.Equal(RdmapOpcode.RdmaReadRequest, segment.Opcode);
        Assert.Equal(1u, segment.Ddp.QueueNumber);
        Assert.Equal(1u, segment.Ddp.MessageSequenceNumber);
        Assert.True(segment.Ddp.Last);
        Assert.Equal(RdmapHeaderKind.ReadRequest, segment.Header.Kind);
        Assert.Equal(new ReadRequestHeader(1, 1, 0, 1, 1), segment.Header.ReadRequest);
        Assert.True(segment.Payload.IsEmpty);
        var header = segment.Header;
        Assert.Throws<InvalidOperationException>(() => header.Terminate);
    }

    [Fact]
    public void TryDecode_SendHello_PayloadIsHello()
    {
        Assert.Equal(OperationStatus.Done, Fpdu.TryRead(WireVectors.SendHello.Fpdu, verifyCrc: true, out var fpdu, out _));
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(fpdu.Ulpdu, out var segment, out _));
        Assert.Equal(RdmapOpcode.Send, segment.Opcode);
        Assert.Equal(RdmapHeaderKind.None, segment.Header.Kind);
        Assert.Equal("hello"u8.ToArray(), segment.Payload.ToArray());
    }

    [Fact]
    public void TryDecode_TerminateVector_NamesMpaCrcError()
    {
        Assert.Equal(OperationStatus.Done, Fpdu.TryRead(WireVectors.TerminateCrc.Fpdu, verifyCrc: true, out var fpdu, out _));
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(fpdu.Ulpdu, out var segment, out _));
        var terminate = segment.Header.Terminate;
        Assert.Equal(TerminateLayer.Llp, terminate.Layer);
        Assert.Same(TerminateErrors.MpaCrcError, terminate.Error);
        Assert.False(terminate.DdpHeaderIncluded);
        Assert.Equal(2u, segment.Ddp.QueueNumber);
    }

    public static TheoryData<string, string, WireErrorKind, long, long> Malformed => new()
    {
        { "short untagged header", "4143 00000000 00000000", WireErrorKind.DdpTruncated, 10, 18 },
        { "empty ULPDU", "", WireErrorKind.DdpTruncated, 0, 14 },
        { "DV 0", "4043 00000000 00000000 00000001 00000000", WireErrorKind.DdpVersion, 0, 1 },
        { "DV 2", "4243 00000000 00000000 00000001 00000000", WireErrorKind.DdpVersion, 2, 1 },
        { "RV 0 (RDMAC)", "4103 00000000 00000000 00000001 00000000", WireErrorKind.RdmapVersion, 0, 1 },
        { "opcode 0xC", "414C 00000000 00000000 00000001 00000000", WireErrorKind.RdmapOpcodeUnassigned, 0xC, 0xB },
        { "opcode 0xF", "414F 00000000 00000000 00000001 00000000", WireErrorKind.RdmapOpcodeUnassigned, 0xF, 0xB },
        { "Send in a tagged segment", "C143 00000001 0000000000000001", WireErrorKind.RdmapWrongBufferModel, 3, 0 },
        { "RDMA Write untagged", "4140 00000000 00000000 00000001 00000000", WireErrorKind.RdmapWrongBufferModel, 0, 1 },
        { "Read Request 27 octets", "4141 00000000 00000001 00000001 00000000" + "00000001 0000000000000001 00000000 00000001 00000000000000", WireErrorKind.ReadRequestLength, 27, 28 },
        { "Read Request 29 octets", "4141 00000000 00000001 00000001 00000000" + "00000001 0000000000000001 00000000 00000001 0000000000000001 00", WireErrorKind.ReadRequestLength, 29, 28 },
        { "Immediate Data 9 octets", "4148 00000000 00000000 00000001 00000000 010203040506070809", WireErrorKind.ImmediateDataLength, 9, 8 },
        { "Immediate Data 0 octets", "4149 00000000 00000000 00000001 00000000", WireErrorKind.ImmediateDataLength, 0, 8 },
        { "Atomic Request 51 octets", "414A 00000000 00000001 00000001 00000000" + new string('0', 102), WireErrorKind.AtomicRequestLength, 51, 52 },
        { "Atomic Response 13 octets", "414B 00000000 00000003 00000001 00000000" + new string('0', 26), WireErrorKind.AtomicResponseLength, 13, 12 },
        { "Terminate 3 octets", "4147 00000000 00000002 00000001 00000000 200200", WireErrorKind.TerminateTruncated, 3, 4 },
        { "Terminate D=1 with a short untagged copy", "4147 00000000 00000002 00000001 00000000 12024000 0010 4143 00000000", WireErrorKind.TerminateDdpCopyTruncated, 8, 20 },
        { "Terminate D=1 with nothing after", "4147 00000000 00000002 00000001 00000000 12024000", WireErrorKind.TerminateDdpCopyTruncated, 0, 16 },
        { "Terminate R=1 with 10 octets of copy", "4147 00000000 00000002 00000001 00000000 01002000 00000001 0000000000000001 0000", WireErrorKind.TerminateRdmaCopyTruncated, 14, 28 },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void TryDecode_MalformedUlpdu_InvalidDataWithReason(string name, string hex, WireErrorKind kind, long seen, long expected)
    {
        var status = RdmapCodec.TryDecode(WireVectors.Hex(hex), out _, out var error);
        Assert.True(status == OperationStatus.InvalidData, name);
        Assert.Equal(kind, error.Kind);
        Assert.Equal(seen, error.Seen);
        Assert.Equal(expected, error.Expected);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void TryDecode_Dv0_StillExposesTheDdpHeader()
    {
        RdmapCodec.TryDecode(WireVectors.Hex("4043 00000000 00000000 00000007 00000000"), out var segment, out var error);
        Assert.Equal("DDP version (DV) 0, expected 1", error.Message);
        Assert.Equal(7u, segment.Ddp.MessageSequenceNumber);
    }

    [Fact]
    public void TryDecode_ReservedBitsEverywhere_AcceptedLeniently()
    {
        // DDP Rsvd 0x3C and RDMAP Rsv 0x30 set: RFC 5040/5041 say ignore them.
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(WireVectors.Hex("7D73 00000000 00000000 00000001 00000000 41"), out var segment, out _));
        Assert.Equal(RdmapOpcode.Send, segment.Opcode);
        Assert.Equal(3, segment.Control.Reserved);
        Assert.Equal(1, segment.Payload.Length);
    }

    [Fact]
    public void ImmediateData_RoundTripsThroughTheCodec()
    {
        byte[] fpdu = Encode(Untagged(RdmapOpcode.ImmediateDataWithSolicitedEvent, 0), new ImmediateData(0x0102030405060708), []);
        Assert.Equal(32, fpdu.Length);
        Assert.Equal(WireVectors.Hex("001A 4149 00000000 00000000 00000001 00000000 0102030405060708"), fpdu[..28]);
        Fpdu.TryRead(fpdu, verifyCrc: true, out var view, out _);
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(view.Ulpdu, out var segment, out _));
        Assert.Equal(0x0102030405060708ul, segment.Header.ImmediateData.Value);
    }

    [Fact]
    public void AtomicRequest_FetchAdd_SendsCompareZeroAndMaskAllOnes()
    {
        var request = AtomicRequest.FetchAdd(requestId: 0x11223344, remoteSTag: 0x55, remoteTO: 0x1000, addData: 1);
        byte[] fpdu = Encode(Untagged(RdmapOpcode.AtomicRequest, 1), request, []);
        Assert.Equal(76, fpdu.Length);
        Assert.Equal(WireVectors.Hex("00000000 11223344 00000055 0000000000001000 0000000000000001 0000000000000000 0000000000000000 FFFFFFFFFFFFFFFF"), fpdu[20..72]);
        Fpdu.TryRead(fpdu, verifyCrc: true, out var view, out _);
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(view.Ulpdu, out var segment, out _));
        Assert.Equal(request, segment.Header.AtomicRequest);
    }

    [Fact]
    public void AtomicRequest_ReservedBitsOnWire_ReadAndNotWrittenBack()
    {
        byte[] header = WireVectors.Hex("FFFFFFF2 00000001 00000002 0000000000000003" + new string('0', 64));
        Assert.True(AtomicRequest.TryRead(header, out var request));
        Assert.Equal(AtomicOpcode.CmpSwap, request.Opcode);
        Assert.Equal(0x0FFFFFFFu, request.Reserved);
        var buffer = Enumerable.Repeat((byte)0xFF, 52).ToArray();
        request.Write(buffer);
        Assert.Equal(WireVectors.Hex("00000002"), buffer[..4]);
    }

    [Fact]
    public void AtomicResponse_Is12Octets_Fpdu36()
    {
        byte[] fpdu = Encode(Untagged(RdmapOpcode.AtomicResponse, 3), new AtomicResponse(7, 0xDEADBEEFCAFEF00D), []);
        Assert.Equal(36, fpdu.Length);
        Assert.Equal(30, fpdu[1]);
        Fpdu.TryRead(fpdu, verifyCrc: true, out var view, out _);
        Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(view.Ulpdu, out var segment, out _));
        Assert.Equal(new AtomicResponse(7, 0xDEADBEEFCAFEF00D), segment.Header.AtomicResponse);
    }

    [Theory]
    [InlineData(RdmapOpcode.RdmaWrite, 0xC1, 0x40)]
    [InlineData(RdmapOpcode.RdmaReadRequest, 0x41, 0x41)]
    [InlineData(RdmapOpcode.RdmaReadResponse, 0xC1, 0x42)]
    [InlineData(RdmapOpcode.Send, 0x41, 0x43)]
    [InlineData(RdmapOpcode.SendWithInvalidate, 0x41, 0x44)]
    [InlineData(RdmapOpcode.SendWithSolicitedEvent, 0x41, 0x45)]
    [InlineData(RdmapOpcode.SendWithSolicitedEventAndInvalidate, 0x41, 0x46)]
    [InlineData(RdmapOpcode.Terminate, 0x41, 0x47)]
    [InlineData(RdmapOpcode.ImmediateData, 0x41, 0x48)]
    [InlineData(RdmapOpcode.ImmediateDataWithSolicitedEvent, 0x41, 0x49)]
    [InlineData(RdmapOpcode.AtomicRequest, 0x41, 0x4A)]
    [InlineData(RdmapOpcode.AtomicResponse, 0x41, 0x4B)]
    public void ControlOctets_LastSegment_MatchDigestTable(RdmapOpcode opcode, byte ddpControl, byte rdmapControl)
    {
        byte control = RdmapControl.Encode(opcode);
        var ddp = RdmapOpcodes.IsTagged(opcode) ? DdpHeader.CreateTagged(control, 1, 0) : DdpHeader.CreateUntagged(control, 0, 1);
        Assert.Equal(ddpControl, ddp.Control);
        Assert.Equal(rdmapControl, control);
        Assert.Equal(opcode, new RdmapControl(control).Opcode);
        Assert.DoesNotContain("unassigned", RdmapOpcodes.GetSpecName(opcode));
    }

    private static Gen<(DdpHeader Ddp, RdmapHeader Header, byte[] Payload)> Messages()
    {
        var u32 = ArbMap.Default.GeneratorFor<uint>();
        var u64 = ArbMap.Default.GeneratorFor<ulong>();
        var bytes = Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>());
        return from opcode in Gen.Choose(0, 0xB).Select(o => (RdmapOpcode)o)
               from last in ArbMap.Default.GeneratorFor<bool>()
               from a in u32
               from b in u32
               from c in u32
               from x in u64
               from y in u64
               from payload in bytes
               let control = RdmapControl.Encode(opcode)
               let ddp = RdmapOpcodes.IsTagged(opcode)
                   ? DdpHeader.CreateTagged(control, a, x, last)
                   : DdpHeader.CreateUntagged(control, b, c, a, last, RdmapOpcodes.CarriesInvalidateSTag(opcode) ? a ^ b : 0)
               let header = RdmapHeader.KindFor(opcode) switch
               {
                   RdmapHeaderKind.ReadRequest => (RdmapHeader)new ReadRequestHeader(a, x, b, c, y),
                   RdmapHeaderKind.Terminate => new TerminateHeader(TerminateErrors.All[(int)(a % (uint)TerminateErrors.All.Count)],
                       (ushort)b, (c & 1) == 0 ? ddp : DdpHeader.CreateTagged(control, a, y), (c & 2) == 0 ? null : new ReadRequestHeader(a, x, b, c, y)),
                   RdmapHeaderKind.ImmediateData => new ImmediateData(x),
                   RdmapHeaderKind.AtomicRequest => (c & 1) == 0 ? AtomicRequest.FetchAdd(a, b, x, y, x ^ y) : AtomicRequest.CmpSwap(a, b, x, y, ~x, x + y, y),
                   RdmapHeaderKind.AtomicResponse => new AtomicResponse(a, x),
                   _ => RdmapHeader.None,
               }
               select (ddp, header, RdmapOpcodes.CarriesPayload(opcode) ? payload : Array.Empty<byte>());
    }

    [Fact]
    public void WriteFpduThenDecode_AnyMessage_RoundTrips()
    {
        Prop.ForAll(Messages().ToArbitrary(), m =>
        {
            byte[] fpdu = Encode(m.Ddp, m.Header, m.Payload);
            if (Fpdu.TryRead(fpdu, verifyCrc: true, out var view, out _) != OperationStatus.Done
                || RdmapCodec.TryDecode(view.Ulpdu, out var segment, out _) != OperationStatus.Done)
            {
                return false;
            }
            bool sameHeader = m.Header.Kind switch
            {
                RdmapHeaderKind.ReadRequest => segment.Header.ReadRequest == m.Header.ReadRequest,
                RdmapHeaderKind.Terminate => SameTerminate(segment.Header.Terminate, m.Header.Terminate),
                RdmapHeaderKind.ImmediateData => segment.Header.ImmediateData == m.Header.ImmediateData,
                RdmapHeaderKind.AtomicRequest => segment.Header.AtomicRequest == m.Header.AtomicRequest,
                RdmapHeaderKind.AtomicResponse => segment.Header.AtomicResponse == m.Header.AtomicResponse,
                _ => segment.Header.Kind == RdmapHeaderKind.None,
            };
            return sameHeader && segment.Ddp.Equals(m.Ddp) && segment.Payload.SequenceEqual(m.Payload);
        }).QuickCheckThrowOnFailure();
    }

    private static bool SameTerminate(TerminateHeader a, TerminateHeader b) =>
        a.LayerValue == b.LayerValue && a.EType == b.EType && a.ErrorCode == b.ErrorCode
        && a.SegmentLengthValid == b.SegmentLengthValid && a.DdpHeaderIncluded == b.DdpHeaderIncluded
        && a.RdmaHeaderIncluded == b.RdmaHeaderIncluded && a.DdpSegmentLength == b.DdpSegmentLength
        && Nullable.Equals(a.CopiedDdpHeader, b.CopiedDdpHeader) && Nullable.Equals(a.CopiedReadRequest, b.CopiedReadRequest);
}
