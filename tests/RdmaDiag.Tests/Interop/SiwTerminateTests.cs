using RdmaDiag.Endpoint;
using RdmaDiag.Tests.Endpoint;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Rdmap;

// Not RdmaDiag.Tests.Interop: that name would hide the Core's Interop class from the other tests.
namespace RdmaDiag.Tests.SiwInterop;

/// <summary>Linux siw's Terminate (little-endian bitfield control word) as the endpoint receives it.</summary>
public class SiwTerminateTests
{
    [Fact]
    public async Task TerminateInSiwLayout_FromPeer_DecodedAsSiwMeantItAndTheErrorSaysSo()
    {
        using var session = await TerminateTests.RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);
        // What siw sent in the guest when its RDMA Read of 100 octets overran a 64-octet sink: 11 01 03 00.
        DdpHeader blamed = DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaReadResponse), 0xA90F6B00, 0x5634A83E1130);
        var terminate = new TerminateHeader(TerminateErrors.DdpTaggedBaseOrBounds, 100, blamed) { SiwBitfieldLayout = true };

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, 1), terminate, []);

        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(IwarpErrorKind.TerminateReceived, error.Kind);
        TerminateHeader received = error.Terminate!.Value;
        Assert.True(received.SiwBitfieldLayout);
        Assert.Same(TerminateErrors.DdpTaggedBaseOrBounds, received.Error);
        Assert.Equal(blamed, received.CopiedDdpHeader);
        Assert.Equal(100, received.DdpSegmentLength);
        Assert.Contains("Terminate 1/1/0x01", error.Message);
        Assert.Contains("Linux siw's little-endian bitfield layout", error.Message);
    }
}
