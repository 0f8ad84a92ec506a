using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// Receive-side violations, crafted with the wire codecs by a raw initiator: each must draw the
/// Terminate RFC 5040 §7 and iwarp-wire.md §5.4/§5.6 ask for (layer/type/code, M/D/R and the header
/// copies), stop the stream, and leave the endpoint's error saying what was sent.
/// </summary>
public class TerminateTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    /// <summary>Our endpoint as responder (with <paramref name="prepare"/> run before the Reply), a raw initiator on the other side.</summary>
    internal static async Task<RawSession> RawInitiatorAsync(
        Action<IwarpConnection>? prepare = null, MpaStartFrame? request = null, IwarpSetupOptions? setup = null, IwarpConnectionOptions? options = null)
    {
        var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), setup);
        var server = new IwarpConnection(options);
        MpaStartFrame frame = request ?? RawPeer.SiwRequest();
        Task<RawPeer> initiate = Task.Run(() => RawPeer.Initiate(listener.LocalEndPoint, frame, out _));
        using var timeout = new CancellationTokenSource(Wait);
        IwarpConnectionRequest pending = await listener.AcceptAsync(timeout.Token);
        prepare?.Invoke(server);
        pending.Accept(server);
        return new RawSession(listener, server, await initiate.WaitAsync(Wait));
    }

    internal sealed record RawSession(IwarpListener Listener, IwarpConnection Server, RawPeer Peer) : IDisposable
    {
        public void Dispose()
        {
            Peer.Dispose();
            Server.Dispose();
            Listener.Dispose();
        }
    }

    private static void AssertTerminate(RawPeer.Received received, TerminateError expected, bool ddpCopy, bool rdmaFlag)
    {
        Assert.Equal(RdmapOpcode.Terminate, received.Opcode);
        Assert.Equal((2u, 1u, 0u, true), (received.Ddp.QueueNumber, received.Ddp.MessageSequenceNumber, received.Ddp.MessageOffset, received.Ddp.Last));
        TerminateHeader terminate = received.Terminate;
        Assert.Equal((expected.Layer, expected.EType, (byte)Math.Max(expected.Code, 0)), (terminate.LayerValue, terminate.EType, terminate.ErrorCode));
        Assert.Equal(ddpCopy, terminate.SegmentLengthValid);
        Assert.Equal(ddpCopy, terminate.DdpHeaderIncluded);
        Assert.Equal(rdmaFlag, terminate.RdmaHeaderIncluded);
    }

    private static void AssertServerSent(IwarpConnection server, RawPeer.Received received, IwarpErrorKind kind = IwarpErrorKind.TerminateSent)
    {
        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(kind, error.Kind);
        Assert.Equal(ErrorSource.Local, error.DetectedBy);
        Assert.Equal(received.Terminate.ToString(), error.Terminate?.ToString());
    }

    [Fact]
    public async Task Write_OutOfBounds_TerminatesDdpTaggedBaseBoundsWithHeaderCopy()
    {
        MemoryRegion? region = null;
        using var session = await RawInitiatorAsync(s => region = s.RegisterMemory(new byte[4096], MemoryAccess.RemoteWrite));
        var (server, peer) = (session.Server, session.Peer);

        DdpHeader write = RawPeer.Write(region!.STag, 4000);
        peer.SendFpdu(write, RdmapHeader.None, new byte[200]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.DdpTaggedBaseOrBounds, ddpCopy: true, rdmaFlag: false);
        Assert.Equal(200, received.Terminate.DdpSegmentLength);
        Assert.Equal(write.ToString(), received.Terminate.CopiedDdpHeader.ToString());
        AssertServerSent(server, received);
        Assert.True(peer.ReadsEndOfStream(Wait));
    }

    [Fact]
    public async Task ReadRequest_BadSTag_TerminatesRdmapInvalidStagWithDdpAndReadRequestCopies()
    {
        using var session = await RawInitiatorAsync(s => s.RegisterMemory(new byte[4096], MemoryAccess.RemoteRead));
        var (server, peer) = (session.Server, session.Peer);

        DdpHeader ddp = peer.NextReadRequest();
        var read = new ReadRequestHeader(0x1234, 0, 100, 0xDEADBEEF, 0);
        peer.SendFpdu(ddp, read, []);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.RdmapInvalidSTag, ddpCopy: true, rdmaFlag: true);
        Assert.Equal(ddp.ToString(), received.Terminate.CopiedDdpHeader.ToString());
        Assert.Equal(read, received.Terminate.CopiedReadRequest);
        AssertServerSent(server, received);
    }

    [Fact]
    public async Task Send_NoReceivePosted_TerminatesDdpUntaggedNoBuffer()
    {
        using var session = await RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);

        DdpHeader send = peer.NextSend();
        peer.SendFpdu(send, RdmapHeader.None, new byte[10]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.DdpUntaggedNoBuffer, ddpCopy: true, rdmaFlag: false);
        Assert.Equal(10, received.Terminate.DdpSegmentLength);
        Assert.Equal(send.ToString(), received.Terminate.CopiedDdpHeader.ToString());
        AssertServerSent(server, received);
    }

    [Fact]
    public async Task Write_RegionWithoutRemoteWrite_TerminatesInvalidStagAsSiw()
    {
        MemoryRegion? region = null;
        using var session = await RawInitiatorAsync(s => region = s.RegisterMemory(new byte[4096], MemoryAccess.RemoteRead));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(RawPeer.Write(region!.STag, 0), RdmapHeader.None, new byte[16]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.DdpTaggedInvalidSTag, ddpCopy: true, rdmaFlag: false);
        AssertServerSent(server, received);
    }

    [Fact]
    public async Task ReadRequest_RegionWithoutRemoteRead_TerminatesRdmapAccessRights()
    {
        MemoryRegion? region = null;
        using var session = await RawInitiatorAsync(s => region = s.RegisterMemory(new byte[4096], MemoryAccess.RemoteWrite));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(peer.NextReadRequest(), new ReadRequestHeader(0x1234, 0, 100, region!.STag, 0), []);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.RdmapAccessRights, ddpCopy: true, rdmaFlag: true);
        AssertServerSent(server, received);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Segment_DdpVersion0_TerminatesInvalidDdpVersion(bool tagged)
    {
        MemoryRegion? region = null;
        using var session = await RawInitiatorAsync(s =>
        {
            region = s.RegisterMemory(new byte[4096], MemoryAccess.RemoteWrite);
            s.PostReceive(1, new byte[64]);
        });
        var (server, peer) = (session.Server, session.Peer);

        DdpHeader ddp = tagged
            ? DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), region!.STag, 0, dv: 0)
            : DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, 1, dv: 0);
        peer.SendFpdu(ddp, RdmapHeader.None, new byte[8]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, tagged ? TerminateErrors.DdpTaggedInvalidVersion : TerminateErrors.DdpUntaggedInvalidVersion, ddpCopy: true, rdmaFlag: false);
        Assert.Equal(0, received.Terminate.CopiedDdpHeader!.Value.Dv);
        AssertServerSent(server, received);
    }

    [Fact]
    public async Task ReadRequests_BeyondIrd_TerminatesRemoteOperationCatastrophicWithReadRequestCopy()
    {
        MemoryRegion? region = null;
        const int size = 16 << 20;
        using var session = await RawInitiatorAsync(s => region = s.RegisterMemory(new byte[size], MemoryAccess.RemoteRead),
            setup: new IwarpSetupOptions { Ird = 1 });
        var (server, peer) = (session.Server, session.Peer);
        Assert.Equal(1, server.Parameters!.Ird);

        // Both requests in one TCP write, and a first response larger than loopback's socket buffers can
        // hold while this peer does not read: the first request is still outstanding when the second arrives.
        var read = new ReadRequestHeader(0x1234, 0, size, region!.STag, 0);
        byte[] first = peer.Fpdu(peer.NextReadRequest(), read, []);
        DdpHeader second = peer.NextReadRequest();
        peer.Send([.. first, .. peer.Fpdu(second, read, [])]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.RdmapStreamCatastrophic, ddpCopy: true, rdmaFlag: true);
        Assert.Equal(second.ToString(), received.Terminate.CopiedDdpHeader.ToString());
        Assert.Equal(read, received.Terminate.CopiedReadRequest);
        AssertServerSent(server, received);
    }

    [Fact]
    public async Task Fpdu_BadCrc_TerminatesMpaCrcErrorWithoutCopies()
    {
        using var session = await RawInitiatorAsync(s => s.PostReceive(1, new byte[64]), RawPeer.SiwRequest(crc: true));
        var (server, peer) = (session.Server, session.Peer);
        Assert.True(server.Parameters!.Crc);

        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, new byte[8], corruptCrc: true);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.MpaCrcError, ddpCopy: false, rdmaFlag: false);
        AssertServerSent(server, received, IwarpErrorKind.CrcError);
    }

    [Fact]
    public async Task Fpdu_BadCrcWithCrcOff_IsNotChecked()
    {
        byte[] buffer = new byte[64];
        using var session = await RawInitiatorAsync(s => s.PostReceive(1, buffer));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, [1, 2, 3], corruptCrc: true);

        Assert.Equal(new Completion(1, CompletionOpcode.Receive, CompletionStatus.Success, 3), server.WaitForCompletion(Wait));
    }

    public static TheoryData<string, byte, TerminateError> BadControl() => new()
    {
        { "unassigned opcode 0xC", RdmapControl.Encode((RdmapOpcode)0xC), TerminateErrors.RdmapUnexpectedOpcode },
        { "RDMAP version 0", RdmapControl.Encode(RdmapOpcode.Send, version: 0), TerminateErrors.RdmapInvalidVersion },
        { "Read Response in an untagged segment", RdmapControl.Encode(RdmapOpcode.RdmaReadResponse), TerminateErrors.RdmapUnexpectedOpcode },
    };

    [Theory]
    [MemberData(nameof(BadControl))]
    public async Task Send_BadRdmapControl_TerminatesRemoteOperation(string why, byte control, TerminateError expected)
    {
        using var session = await RawInitiatorAsync(s => s.PostReceive(1, new byte[64]));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(DdpHeader.CreateUntagged(control, 0, 1), RdmapHeader.None, new byte[4]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, expected, ddpCopy: true, rdmaFlag: false);
        Assert.Contains(why == "RDMAP version 0" ? "RV" : "RDMAP", Traffic.WaitForError(server).Message);
    }

    public static TheoryData<string, uint, uint, uint, TerminateError> BadUntagged() => new()
    {
        { "QN", 1, 1, 0, TerminateErrors.DdpUntaggedInvalidQn },
        { "MSN", 0, 5, 0, TerminateErrors.DdpUntaggedMsnRange },
        { "MO", 0, 1, 8, TerminateErrors.DdpUntaggedInvalidMo },
    };

    [Theory]
    [MemberData(nameof(BadUntagged))]
    public async Task Send_BadUntaggedField_TerminatesDdpUntagged(string field, uint qn, uint msn, uint mo, TerminateError expected)
    {
        using var session = await RawInitiatorAsync(s => s.PostReceive(1, new byte[64]));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), qn, msn, mo), RdmapHeader.None, new byte[4]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, expected, ddpCopy: true, rdmaFlag: false);
        Assert.Contains(field, Traffic.WaitForError(server).Message);
    }

    [Fact]
    public async Task Send_LongerThanPostedReceive_TerminatesTooLongAndFailsTheReceive()
    {
        using var session = await RawInitiatorAsync(s => s.PostReceive(9, new byte[16]));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, new byte[100]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.DdpUntaggedTooLong, ddpCopy: true, rdmaFlag: false);
        Assert.Equal(CompletionStatus.LocalLengthError, server.WaitForCompletion(Wait).Status);
    }

    [Fact]
    public async Task SendWithInvalidate_UnknownStag_TerminatesCannotInvalidateWithRFlagAsSiw()
    {
        using var session = await RawInitiatorAsync(s => s.PostReceive(1, new byte[64]));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.SendWithInvalidate), 0, 1, rsvdUlp: 0xABCD0123), RdmapHeader.None, new byte[4]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.RdmapProtectionCannotInvalidate, ddpCopy: true, rdmaFlag: true);
        Assert.True(received.Terminate.RdmaHeaderMissing);
    }

    [Fact]
    public async Task SendWithInvalidate_ValidStag_InvalidatesRegionAndReportsIt()
    {
        MemoryRegion? region = null;
        using var session = await RawInitiatorAsync(s =>
        {
            region = s.RegisterMemory(new byte[64], MemoryAccess.RemoteWrite);
            s.PostReceive(1, new byte[64]);
        });
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.SendWithSolicitedEventAndInvalidate), 0, 1, rsvdUlp: region!.STag), RdmapHeader.None, [7]);

        Completion completion = server.WaitForCompletion(Wait);
        Assert.Equal(CompletionFlags.SolicitedEvent | CompletionFlags.Invalidated, completion.Flags);
        Assert.Equal(region.STag, completion.InvalidatedSTag);
        Assert.False(region.IsValid);

        peer.SendFpdu(RawPeer.Write(region.STag, 0), RdmapHeader.None, [1]);
        AssertTerminate(peer.ExpectTerminate(Wait), TerminateErrors.DdpTaggedInvalidSTag, ddpCopy: true, rdmaFlag: false);
    }

    [Theory]
    [InlineData(4, MemoryAccess.RemoteAtomic, "misaligned")]
    [InlineData(0, MemoryAccess.RemoteRead, "no atomic access")]
    public async Task AtomicRequest_Violation_Terminates(ulong to, MemoryAccess access, string why)
    {
        MemoryRegion? region = null;
        using var session = await RawInitiatorAsync(s => region = s.RegisterMemory(new byte[64], access));
        var (server, peer) = (session.Server, session.Peer);

        var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.AtomicRequest), 1, 1);
        peer.SendFpdu(ddp, AtomicRequest.FetchAdd(1, region!.STag, to, 1), []);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, why == "misaligned" ? TerminateErrors.RdmapStreamCatastrophic : TerminateErrors.RdmapAccessRights, ddpCopy: true, rdmaFlag: false);
    }

    [Fact]
    public async Task ReadResponse_NothingOutstanding_TerminatesUnexpectedOpcode()
    {
        using var session = await RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaReadResponse), 5, 0), RdmapHeader.None, new byte[4]);

        AssertTerminate(peer.ExpectTerminate(Wait), TerminateErrors.RdmapUnexpectedOpcode, ddpCopy: true, rdmaFlag: false);
    }

    [Fact]
    public async Task PeerToPeer_FirstFpduNotAnRtr_TerminatesNoMatchingRtr()
    {
        var request = RawPeer.SiwRequest(block: new MpaV2Block(16, 16, peerToPeer: true, writeRtr: true));
        using var session = await RawInitiatorAsync(s => s.PostReceive(1, new byte[64]), request);
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, new byte[10]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        AssertTerminate(received, TerminateErrors.MpaNoMatchingRtr, ddpCopy: false, rdmaFlag: false);
        AssertServerSent(server, received, IwarpErrorKind.NoMatchingRtr);
    }

    [Fact]
    public async Task TerminateFromPeer_SurfacesDecodedWithCopiedHeader()
    {
        using var session = await RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);
        DdpHeader blamed = DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), 0x42, 0x1000);
        var terminate = new TerminateHeader(TerminateErrors.DdpTaggedBaseOrBounds, 64, blamed);

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, 1), terminate, []);

        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(IwarpErrorKind.TerminateReceived, error.Kind);
        Assert.Equal(ErrorSource.Peer, error.DetectedBy);
        Assert.Equal(terminate.ToString(), error.Terminate.ToString());
        Assert.Equal(blamed.ToString(), error.Terminate!.Value.CopiedDdpHeader.ToString());
        Assert.Contains("base or bounds", error.Message);
        Assert.Contains("STag 0x00000042", error.Message);
    }

    [Fact]
    public async Task Responder_SendsNothingBeforeTheInitiatorsFirstFpdu()
    {
        using var session = await RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);

        Task send = Task.Run(() => server.PostSend(1, [1, 2, 3]));
        await Task.Delay(200);
        Assert.False(send.IsCompleted);
        Assert.Equal(0, server.BytesSent);

        peer.SendFpdu(RawPeer.Write(1, 0), RdmapHeader.None, []);
        await send.WaitAsync(Wait);
        RawPeer.Received received = peer.ReceiveFpdu(Wait);
        Assert.Equal((RdmapOpcode.Send, 1u), (received.Opcode, received.Ddp.MessageSequenceNumber));
        Assert.Equal(new byte[] { 1, 2, 3 }, received.Payload);
    }
}
