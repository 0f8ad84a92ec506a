using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// Direct placement: a large tagged FPDU whose payload is still on the socket is received straight into
/// its memory region. A raw initiator sends each FPDU in two parts so the split point is known.
/// </summary>
public class PlacementTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    /// <summary>
    /// Sends the first <paramref name="split"/> octets and waits until the endpoint has received exactly
    /// those (so they are its whole receive), then the rest.
    /// </summary>
    private static void SendSplit(RawPeer peer, IwarpConnection server, byte[] fpdu, int split)
    {
        long expected = server.BytesReceived + split;
        peer.Send(fpdu.AsSpan(0, split));
        for (int i = 0; i < 500 && server.BytesReceived < expected; i++)
        {
            Thread.Sleep(10);
        }
        Assert.Equal(expected, server.BytesReceived);
        peer.Send(fpdu.AsSpan(split));
    }

    private static IwarpConnectionOptions Options(ProgressMode mode) => new() { Progress = mode };

    /// <summary>A zero-length Write opens the responder's MPA fence, which the first FPDU must pass through the buffer to do.</summary>
    private static void OpenFence(RawPeer peer, IwarpConnection server, MemoryRegion region)
    {
        peer.SendFpdu(RawPeer.Write(region.STag, region.BaseTO), RdmapHeader.None, []);
        for (int i = 0; i < 500 && server.FpdusReceived == 0; i++)
        {
            Thread.Sleep(10);
        }
        Assert.Equal(1, server.FpdusReceived);
    }

    [Theory]
    [InlineData(false, 30_001, 7, 16, ProgressMode.Background)]
    [InlineData(true, 30_001, 7, 16, ProgressMode.Background)]
    [InlineData(true, 65_521, 0, 18, ProgressMode.Background)]
    [InlineData(true, 4_099, 4_093, 1_017, ProgressMode.Inline)]
    [InlineData(false, 50_002, 1, 20, ProgressMode.Inline)]
    public async Task Write_PayloadStillOnTheSocket_IsPlacedDirectlyAndIntact(bool crc, int size, int offset, int split, ProgressMode mode)
    {
        var memory = new byte[offset + size + 5];
        Array.Fill(memory, (byte)0xEE);
        var receive = new byte[16];
        MemoryRegion? region = null;
        using var session = await TerminateTests.RawInitiatorAsync(s =>
        {
            region = s.RegisterMemory(memory, MemoryAccess.RemoteWrite, baseTO: 0x10000);
            s.PostReceive(9, receive);
        }, RawPeer.SiwRequest(crc), options: Options(mode));
        var (server, peer) = (session.Server, session.Peer);
        Assert.Equal(crc, server.Parameters!.Crc);
        byte[] data = DataTransferTests.Pattern(size, size);

        // Inline progress receives only while someone waits, so the wait starts before the first octet.
        Task<Completion> completion = Task.Run(() => server.WaitForCompletion(Wait));
        OpenFence(peer, server, region!);
        SendSplit(peer, server, peer.Fpdu(RawPeer.Write(region!.STag, 0x10000 + (ulong)offset), RdmapHeader.None, data), split);
        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, [1, 2, 3]);

        Assert.Equal(new Completion(9, CompletionOpcode.Receive, CompletionStatus.Success, 3), await completion.WaitAsync(Wait * 2));
        Assert.Equal(1, server.DirectPlacements);
        Assert.Equal(3, server.FpdusReceived);
        Assert.Equal(data, memory.AsSpan(offset, size).ToArray());
        Assert.All(memory[..offset], b => Assert.Equal(0xEE, b));
        Assert.All(memory[(offset + size)..], b => Assert.Equal(0xEE, b));
        Assert.Null(server.Error);
    }

    [Theory]
    [InlineData(false, ProgressMode.Background)]
    [InlineData(true, ProgressMode.Background)]
    [InlineData(true, ProgressMode.Inline)]
    public async Task Write_ManyLargeSegments_ArriveIntact(bool crc, ProgressMode mode)
    {
        const int size = (1 << 20) + 3;
        var setup = new IwarpSetupOptions { Crc = crc ? CrcPolicy.Required : CrcPolicy.Off };
        var memory = new byte[size + 11];
        var receive = new byte[8];
        MemoryRegion? region = null;
        using var pair = await EndpointPair.ConnectAsync(setup, setup, Options(mode), Options(mode), prepareServer: s =>
        {
            region = s.RegisterMemory(memory, MemoryAccess.RemoteWrite);
            s.PostReceive(1, receive);
        });
        byte[] data = DataTransferTests.Pattern(size, 2);

        pair.Client.PostWrite(2, data.AsMemory(), region!.STag, region.BaseTO + 11);
        pair.Client.PostSend(3, new byte[8], PostFlags.None);

        Assert.Equal(new Completion(1, CompletionOpcode.Receive, CompletionStatus.Success, 8), pair.Server.WaitForCompletion(Wait));
        Assert.Equal(new Completion(2, CompletionOpcode.RdmaWrite, CompletionStatus.Success, size), pair.Client.WaitForCompletion(Wait));
        Assert.Equal(data, memory.AsSpan(11).ToArray());
        Assert.Null(pair.Server.Error);
    }

    [Theory]
    [InlineData(false, ProgressMode.Background)]
    [InlineData(true, ProgressMode.Background)]
    [InlineData(true, ProgressMode.Inline)]
    [InlineData(false, ProgressMode.Inline)]
    public async Task Read_LargeResponses_ArePlacedDirectlyAndCompleteInOrder(bool crc, ProgressMode mode)
    {
        const int size = 300_007;
        var setup = new IwarpSetupOptions { Crc = crc ? CrcPolicy.Required : CrcPolicy.Off };
        byte[] source = DataTransferTests.Pattern(size + 64, 4);
        var sink = new byte[2 * size + 19];
        MemoryRegion? remote = null;
        MemoryRegion? local = null;
        // The responder answers Reads from its own receive loop, so only the reading side runs inline.
        using var pair = await EndpointPair.ConnectAsync(setup, setup, Options(mode), null,
            prepareClient: c => local = c.RegisterMemory(sink, MemoryAccess.LocalWrite),
            prepareServer: s => remote = s.RegisterMemory(source, MemoryAccess.RemoteRead));

        pair.Client.PostRead(1, local!, 19, size, remote!.STag, 64);
        pair.Client.PostRead(2, local!, 19 + (ulong)size, size, remote.STag, 33);

        Assert.Equal(new Completion(1, CompletionOpcode.RdmaRead, CompletionStatus.Success, size), pair.Client.WaitForCompletion(Wait));
        Assert.Equal(new Completion(2, CompletionOpcode.RdmaRead, CompletionStatus.Success, size), pair.Client.WaitForCompletion(Wait));
        Assert.Equal(source.AsSpan(64, size).ToArray(), sink.AsSpan(19, size).ToArray());
        Assert.Equal(source.AsSpan(33, size).ToArray(), sink.AsSpan(19 + size, size).ToArray());
        Assert.True(pair.Client.DirectPlacements > 0, "a 300 kB Read Response in 64 kB segments should leave some segment's payload on the socket");
        Assert.Null(pair.Client.Error);
    }

    [Fact]
    public async Task Write_BadCrcOnPlacedPayload_TerminatesMpaCrcErrorAndDeliversNothingAfter()
    {
        var memory = new byte[20_000];
        var receive = new byte[16];
        MemoryRegion? region = null;
        using var session = await TerminateTests.RawInitiatorAsync(s =>
        {
            region = s.RegisterMemory(memory, MemoryAccess.RemoteWrite);
            s.PostReceive(9, receive);
        }, RawPeer.SiwRequest(crc: true));
        var (server, peer) = (session.Server, session.Peer);
        OpenFence(peer, server, region!);

        SendSplit(peer, server, peer.Fpdu(RawPeer.Write(region!.STag, 0), RdmapHeader.None, DataTransferTests.Pattern(19_999, 1), corruptCrc: true), 100);
        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, [1, 2, 3]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        TerminateHeader terminate = received.Terminate;
        TerminateError expected = TerminateErrors.MpaCrcError;
        Assert.Equal((expected.Layer, expected.EType, (byte)expected.Code), (terminate.LayerValue, terminate.EType, terminate.ErrorCode));
        Assert.False(terminate.DdpHeaderIncluded);
        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(IwarpErrorKind.CrcError, error.Kind);
        Assert.Equal(terminate.ToString(), error.Terminate?.ToString());
        Assert.Contains("FPDU 2 from the peer: MPA CRC mismatch", error.Message);
        Assert.Equal(1, server.DirectPlacements);
        Assert.Equal(1, server.FpdusReceived);
        Assert.Equal(new Completion(9, CompletionOpcode.Receive, CompletionStatus.Flushed, 0), server.WaitForCompletion(Wait));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Write_OutOfBounds_IsRefusedBeforeAnyOctetIsPlaced(bool crc)
    {
        var memory = new byte[8192];
        Array.Fill(memory, (byte)0xEE);
        MemoryRegion? region = null;
        using var session = await TerminateTests.RawInitiatorAsync(s => region = s.RegisterMemory(memory, MemoryAccess.RemoteWrite), RawPeer.SiwRequest(crc));
        var (server, peer) = (session.Server, session.Peer);
        OpenFence(peer, server, region!);
        DdpHeader write = RawPeer.Write(region!.STag, 100);

        SendSplit(peer, server, peer.Fpdu(write, RdmapHeader.None, DataTransferTests.Pattern(8100, 3)), 1000);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        TerminateError expected = TerminateErrors.DdpTaggedBaseOrBounds;
        Assert.Equal((expected.Layer, expected.EType, (byte)expected.Code), (received.Terminate.LayerValue, received.Terminate.EType, received.Terminate.ErrorCode));
        Assert.Equal(8100, received.Terminate.DdpSegmentLength);
        Assert.Equal(write.ToString(), received.Terminate.CopiedDdpHeader.ToString());
        Assert.Equal(IwarpErrorKind.TerminateSent, Traffic.WaitForError(server).Kind);
        Assert.Equal(0, server.DirectPlacements);
        Assert.All(memory, b => Assert.Equal(0xEE, b));
    }
}
