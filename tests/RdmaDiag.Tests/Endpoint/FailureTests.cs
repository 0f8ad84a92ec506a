using System.Net;
using System.Net.Sockets;
using System.Text;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// Every way setup or the stream can fail must surface as an <see cref="IwarpException"/> of the right
/// kind carrying its evidence: refused TCP, garbage, stalled and partial handshakes, rejects, bad
/// Replies, IRD and RTR failures, closes and resets in the middle of a message, and stalls.
/// </summary>
public class FailureTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;
    private static readonly IwarpSetupOptions ShortHandshake = new() { HandshakeTimeout = TimeSpan.FromMilliseconds(300) };

    /// <summary>Our endpoint as initiator against a raw responder that <paramref name="respond"/> drives.</summary>
    private static async Task<(IwarpConnection Client, IwarpException? Error, RawPeer Peer)> ConnectToRawAsync(
        Action<RawPeer> respond, IwarpSetupOptions? setup = null)
    {
        using Socket listener = RawPeer.Listen();
        var client = new IwarpConnection();
        Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint!, setup ?? ShortHandshake);
        RawPeer peer = await RawPeer.AcceptAsync(listener, Wait);
        respond(peer);
        try
        {
            await connect.WaitAsync(Wait);
            return (client, null, peer);
        }
        catch (IwarpException e)
        {
            return (client, e, peer);
        }
    }

    [Fact]
    public async Task Connect_NothingListening_FailsTcpRefused()
    {
        using Socket probe = RawPeer.Listen();
        var endpoint = (IPEndPoint)probe.LocalEndPoint!;
        probe.Close();
        using var client = new IwarpConnection();

        var error = await Assert.ThrowsAsync<IwarpException>(() => client.ConnectAsync(endpoint));

        Assert.Equal(IwarpErrorKind.TcpRefused, error.Kind);
        Assert.Equal(ConnectionPhase.TcpConnect, error.Phase);
        Assert.Equal(SocketError.ConnectionRefused, error.SocketError);
        Assert.Equal(ConnectionState.Failed, client.State);
    }

    [Fact]
    public async Task Connect_ResponderSpeaksAnotherProtocol_FailsNotMpaWithFirstBytes()
    {
        var (client, error, peer) = await ConnectToRawAsync(p => p.Send("SSH-2.0-OpenSSH_9.2p1 Debian\r\n"u8));
        using var _ = client;
        using var __ = peer;

        Assert.Equal(IwarpErrorKind.NotMpa, error?.Kind);
        Assert.StartsWith("SSH-2.0", Encoding.ASCII.GetString(error!.FirstBytes.Span));
        Assert.Contains("|SSH-2.0", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    public async Task Connect_ResponderStallsTheHandshake_FailsHandshakeTimeoutCountingBytes(int sent)
    {
        var (client, error, peer) = await ConnectToRawAsync(p => p.Send(MpaStartFrame.ReplyKey[..sent]));
        using var _ = client;
        using var __ = peer;

        Assert.Equal(IwarpErrorKind.HandshakeTimeout, error?.Kind);
        Assert.Equal(sent, error!.BytesReceived);
        Assert.Equal(TimeSpan.FromMilliseconds(300), error.Waited);
        Assert.Contains($"{sent} octet(s) received", error.Message);
    }

    [Fact]
    public async Task Connect_ResponderClosesDuringHandshake_FailsConnectionClosed()
    {
        var (client, error, peer) = await ConnectToRawAsync(p => p.Socket.Shutdown(SocketShutdown.Send));
        using var _ = client;
        using var __ = peer;

        Assert.Equal(IwarpErrorKind.ConnectionClosed, error?.Kind);
        Assert.Equal(ConnectionPhase.MpaHandshake, error!.Phase);
    }

    public static TheoryData<string, byte[], IwarpErrorKind> BadReplies()
    {
        byte[] Frame(MpaStartFrame frame)
        {
            var bytes = new byte[frame.EncodedLength];
            frame.Write(bytes);
            return bytes;
        }
        byte[] rev3 = Frame(MpaStartFrame.Reply(false, new MpaV2Block(16, 16), default));
        rev3[17] = 3;
        byte[] pd300 = Frame(MpaStartFrame.Reply(false, null, new byte[300]));
        return new TheoryData<string, byte[], IwarpErrorKind>
        {
            { "Rev 3", rev3, IwarpErrorKind.RevisionIncompatible },
            { "PD_Length 300 over Linux's 256", pd300, IwarpErrorKind.MalformedStartFrame },
            { "a Request key: both sides initiators", Frame(MpaStartFrame.Request(false, new MpaV2Block(16, 16), default)), IwarpErrorKind.MalformedStartFrame },
            { "bytes after the Reply", [.. Frame(MpaStartFrame.Reply(false, new MpaV2Block(16, 16), default)), 0, 0, 0, 0], IwarpErrorKind.MalformedStartFrame },
            { "Rev 1 Reply to an enhanced Request", Frame(MpaStartFrame.Reply(false, null, default)), IwarpErrorKind.MalformedStartFrame },
            { "P2P Reply offering only Send RTR", Frame(MpaStartFrame.Reply(false, new MpaV2Block(16, 16, peerToPeer: true, sendRtr: true), default)), IwarpErrorKind.NoMatchingRtr },
            { "ORD 100 over our IRD 16", Frame(MpaStartFrame.Reply(false, new MpaV2Block(16, 100), default)), IwarpErrorKind.InsufficientIrd },
            { "markers demanded by a Reply", Frame(MpaStartFrame.Reply(false, new MpaV2Block(16, 16), default, markersRequired: true)), IwarpErrorKind.MarkersNotSupported },
        };
    }

    [Theory]
    [MemberData(nameof(BadReplies))]
    public async Task Connect_BadReply_FailsWithTypedKind(string why, byte[] reply, IwarpErrorKind expected)
    {
        var setup = new IwarpSetupOptions
        {
            PeerToPeer = why.Contains("P2P") ? RtrTypes.Write : RtrTypes.None,
            AcceptPeerMarkers = !why.Contains("markers"),
        };
        var (client, error, peer) = await ConnectToRawAsync(p =>
        {
            p.ReceiveFrame(Wait);
            p.Send(reply);
        }, setup);
        using var _ = client;
        using var __ = peer;

        Assert.Equal(expected, error?.Kind);
        if (expected is IwarpErrorKind.NoMatchingRtr or IwarpErrorKind.InsufficientIrd)
        {
            // RFC 6581 §3.3/§3.4: the initiator tells the responder with a Terminate, MPA code 6 or 7.
            RawPeer.Received terminate = peer.ExpectTerminate(Wait);
            Assert.Equal((2, 0, expected == IwarpErrorKind.InsufficientIrd ? 6 : 7),
                ((int)terminate.Terminate.LayerValue, (int)terminate.Terminate.EType, (int)terminate.Terminate.ErrorCode));
        }
    }

    [Fact]
    public async Task Connect_Rejected_FailsMpaRejectedWithPrivateData()
    {
        byte[] reason = "go away"u8.ToArray();
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(accept: _ => false, rejectPrivateData: reason);

        Assert.Equal(IwarpErrorKind.MpaRejected, outcome.ClientError?.Kind);
        Assert.Equal(reason, outcome.ClientError!.PeerPrivateData.ToArray());
        Assert.True(outcome.ClientError.PeerFrame?.Rejected);
    }

    [Fact]
    public async Task Connect_StrictResponderWithSmallIrd_RejectsAndInitiatorReadsTheIrdShortfall()
    {
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(
            new IwarpSetupOptions { Ord = 8 }, new IwarpSetupOptions { Ird = 2, RelaxedIrdOrd = false });

        Assert.Equal(IwarpErrorKind.InsufficientIrd, outcome.ClientError?.Kind);
        Assert.Contains(outcome.Pair.ListenerFailures, f => f.Kind == IwarpErrorKind.InsufficientIrd);
    }

    [Fact]
    public async Task Connect_RelaxedResponderWithSmallIrd_LowersTheInitiatorsOrd()
    {
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(new IwarpSetupOptions { Ord = 8 }, new IwarpSetupOptions { Ird = 2 });

        Assert.Null(outcome.ClientError);
        Assert.Equal(2, outcome.Pair.ClientParameters.Ord);
        Assert.Equal((ushort?)2, outcome.Pair.ClientParameters.PeerIrd);
        Assert.Equal(2, outcome.Pair.ServerParameters.Ird);
    }

    [Fact]
    public async Task Listener_InitiatorSendsGarbage_ReportsNotMpaWithFirstBytes()
    {
        var failures = new System.Collections.Concurrent.BlockingCollection<IwarpException>();
        using var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), ShortHandshake, failures.Add);
        using RawPeer peer = RawPeer.Connect(listener.LocalEndPoint);

        peer.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8);

        Assert.True(failures.TryTake(out IwarpException? failure, Wait));
        Assert.Equal(IwarpErrorKind.NotMpa, failure!.Kind);
        Assert.StartsWith("GET / HTTP", Encoding.ASCII.GetString(failure.FirstBytes.Span));
        Assert.Equal(peer.Socket.LocalEndPoint, failure.RemoteEndPoint);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(12)]
    public async Task Listener_InitiatorStallsTheHandshake_ReportsHandshakeTimeout(int sent)
    {
        var failures = new System.Collections.Concurrent.BlockingCollection<IwarpException>();
        using var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), ShortHandshake, failures.Add);
        using RawPeer peer = RawPeer.Connect(listener.LocalEndPoint);

        peer.Send(MpaStartFrame.RequestKey[..sent]);

        Assert.True(failures.TryTake(out IwarpException? failure, Wait));
        Assert.Equal(IwarpErrorKind.HandshakeTimeout, failure!.Kind);
        Assert.Equal(sent, failure.BytesReceived);
        Assert.True(peer.ReadsEndOfStream(Wait));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Listener_Revision3Request_ReportsRevisionIncompatibleAndCloses()
    {
        var failures = new System.Collections.Concurrent.BlockingCollection<IwarpException>();
        using var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), ShortHandshake, failures.Add);
        using RawPeer peer = RawPeer.Connect(listener.LocalEndPoint);
        var request = new byte[24];
        RawPeer.SiwRequest().Write(request);
        request[17] = 3;

        peer.Send(request);

        Assert.True(failures.TryTake(out IwarpException? failure, Wait));
        Assert.Equal(IwarpErrorKind.RevisionIncompatible, failure!.Kind);
        Assert.True(peer.ReadsEndOfStream(Wait));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Stream_PeerClosesMidFpdu_FailsClosedMidMessageWithThePartialBytes()
    {
        using var session = await TerminateTests.RawInitiatorAsync(s => s.PostReceive(1, new byte[256]));
        var (server, peer) = (session.Server, session.Peer);
        byte[] fpdu = peer.Fpdu(peer.NextSend(), RdmapHeader.None, new byte[100]);

        peer.Send(fpdu.AsSpan(0, 50));
        peer.Socket.Shutdown(SocketShutdown.Send);

        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(IwarpErrorKind.ClosedMidMessage, error.Kind);
        Assert.Contains($"50 octet(s) of {fpdu.Length} received", error.Message);
        Assert.Equal(fpdu.AsSpan(0, 50).ToArray(), error.FirstBytes.ToArray());
        Completion flushed = server.WaitForCompletion(Wait);
        Assert.Equal(CompletionStatus.Flushed, flushed.Status);
    }

    [Fact]
    public async Task Stream_PeerClosesBetweenSegmentsOfASend_FailsClosedMidMessage()
    {
        using var session = await TerminateTests.RawInitiatorAsync(s => s.PostReceive(1, new byte[256]));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, 1, 0, last: false), RdmapHeader.None, new byte[40]);
        peer.Socket.Shutdown(SocketShutdown.Send);

        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(IwarpErrorKind.ClosedMidMessage, error.Kind);
        Assert.Contains("in the middle of a Send: 40 octet(s)", error.Message);
        Assert.Equal(new Completion(1, CompletionOpcode.Receive, CompletionStatus.Flushed, 40), server.WaitForCompletion(Wait));
    }

    [Fact]
    public async Task Stream_PeerClosesBetweenMessages_FailsConnectionClosedAndFlushesReceives()
    {
        using var session = await TerminateTests.RawInitiatorAsync(s => s.PostReceive(1, new byte[256]));
        var (server, peer) = (session.Server, session.Peer);

        peer.Socket.Shutdown(SocketShutdown.Send);

        Assert.Equal(new Completion(1, CompletionOpcode.Receive, CompletionStatus.Flushed, 0), server.WaitForCompletion(Wait));
        var error = Assert.Throws<IwarpException>(() => server.WaitForCompletion(Wait));
        Assert.Equal(IwarpErrorKind.ConnectionClosed, error.Kind);
        Assert.Equal(ErrorSource.Peer, error.DetectedBy);
    }

    [Fact]
    public async Task Stream_PeerResets_FailsConnectionReset()
    {
        using var session = await TerminateTests.RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);

        peer.Socket.LingerState = new LingerOption(true, 0);
        peer.Dispose();

        IwarpException error = Traffic.WaitForError(server);
        Assert.Equal(IwarpErrorKind.ConnectionReset, error.Kind);
        Assert.Equal(SocketError.ConnectionReset, error.SocketError);
    }

    [Theory]
    [InlineData(ProgressMode.Background)]
    [InlineData(ProgressMode.Inline)]
    public async Task Wait_PeerStallsMidFpdu_ThrowsStallWithProgressAndStaysUsable(ProgressMode mode)
    {
        byte[] buffer = new byte[256];
        using var session = await TerminateTests.RawInitiatorAsync(s => s.PostReceive(1, buffer), options: new IwarpConnectionOptions { Progress = mode });
        var (server, peer) = (session.Server, session.Peer);
        byte[] fpdu = peer.Fpdu(peer.NextSend(), RdmapHeader.None, new byte[100]);
        peer.Send(fpdu.AsSpan(0, 30));
        if (mode == ProgressMode.Background)
        {
            SpinWait.SpinUntil(() => server.BytesReceived >= 30, Wait);
        }

        var stall = Assert.Throws<IwarpException>(() => server.WaitForCompletion(TimeSpan.FromMilliseconds(300)));

        Assert.Equal(IwarpErrorKind.Stall, stall.Kind);
        Assert.Contains("30 octet(s) of an incomplete FPDU buffered", stall.Message);
        peer.Send(fpdu.AsSpan(30));
        Assert.Equal(new Completion(1, CompletionOpcode.Receive, CompletionStatus.Success, 100), server.WaitForCompletion(Wait));
    }

    [Fact]
    public async Task Connect_ResponderSendsTerminateAfterReply_FailsTerminateReceived()
    {
        var (client, error, peer) = await ConnectToRawAsync(p =>
        {
            p.ReceiveFrame(Wait);
            var reply = new byte[24];
            MpaStartFrame.Reply(false, new MpaV2Block(16, 16), default).Write(reply);
            p.Send(reply);
        });
        using var _ = client;
        using var __ = peer;
        Assert.Null(error);

        peer.SendFpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, 1), new TerminateHeader(TerminateErrors.RdmapLocalCatastrophic), []);

        IwarpException failure = Traffic.WaitForError(client);
        Assert.Equal(IwarpErrorKind.TerminateReceived, failure.Kind);
        Assert.Equal(TerminateLayer.Rdmap, failure.Terminate!.Value.Layer);
    }

    [Fact]
    public async Task Post_AfterFailure_ThrowsTheConnectionsError()
    {
        using var session = await TerminateTests.RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);
        peer.Socket.Shutdown(SocketShutdown.Send);
        IwarpException closed = Traffic.WaitForError(server);

        var error = Assert.Throws<IwarpException>(() => server.PostSend(1, [1]));

        Assert.Same(closed, error);
    }

    [Fact]
    public async Task RegisterMemory_BeyondLimit_ThrowsLocalResourceLimit()
    {
        using var connection = new IwarpConnection(new IwarpConnectionOptions { MaxRegisteredBytes = 1000 });
        connection.RegisterMemory(new byte[600], MemoryAccess.RemoteWrite);

        var error = Assert.Throws<IwarpException>(() => connection.RegisterMemory(new byte[600], MemoryAccess.RemoteWrite));

        Assert.Equal(IwarpErrorKind.LocalResourceLimit, error.Kind);
        await Task.CompletedTask;
    }

    [Fact]
    public void PostReceive_BeyondDepth_ThrowsLocalResourceLimit()
    {
        using var connection = new IwarpConnection(new IwarpConnectionOptions { MaxReceiveQueueDepth = 2 });
        connection.PostReceive(1, new byte[8]);
        connection.PostReceive(2, new byte[8]);

        var error = Assert.Throws<IwarpException>(() => connection.PostReceive(3, new byte[8]));

        Assert.Equal(IwarpErrorKind.LocalResourceLimit, error.Kind);
    }
}
