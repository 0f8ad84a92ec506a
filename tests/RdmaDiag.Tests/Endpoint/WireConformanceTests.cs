using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// What the endpoint puts on the wire, octet for octet, against what siw sends (iwarp-wire.md §7.3) and
/// the worked encodings of §8.
/// </summary>
public class WireConformanceTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    private const string RequestKey = "4D 50 41 20 49 44 20 52 65 71 20 46 72 61 6D 65";
    private const string ReplyKey = "4D 50 41 20 49 44 20 52 65 70 20 46 72 61 6D 65";

    /// <summary>Our initiator against a raw responder; returns the Request bytes and the peer, Reply sent.</summary>
    private static async Task<(IwarpConnection Client, RawPeer Peer, byte[] Request)> InitiateAsync(IwarpSetupOptions setup, MpaStartFrame reply)
    {
        using Socket listener = RawPeer.Listen();
        var client = new IwarpConnection();
        Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint!, setup);
        RawPeer peer = await RawPeer.AcceptAsync(listener, Wait);
        MpaStartFrame request = peer.ReceiveFrame(Wait);
        byte[] bytes = new byte[request.EncodedLength];
        request.Write(bytes);
        peer.Crc = request.CrcPreferred || reply.CrcPreferred;
        peer.SendFrame(reply);
        await connect.WaitAsync(Wait);
        return (client, peer, bytes);
    }

    [Fact]
    public async Task Request_Defaults_AreSiwsRev2EnhancedRequest()
    {
        var (client, peer, request) = await InitiateAsync(IwarpSetupOptions.Default, MpaStartFrame.Reply(false, new MpaV2Block(16, 16), default));
        using var _ = client;
        using var __ = peer;

        // M=0 C=0 R=0 S=1, Rev 2, PD_Length 4: the RFC 6581 block with IRD 16, ORD 16, no P2P.
        Assert.Equal(Hex(RequestKey + "10 02 0004 0010 0010"), request);
    }

    [Fact]
    public async Task Reply_ToSiwsDefaultRequest_EchoesItsHeaderWithTheReplyKey()
    {
        using var session = await TerminateTests.RawInitiatorAsync();
        var (server, peer) = (session.Server, session.Peer);

        MpaStartFrame reply = server.Parameters!.Reply;
        byte[] bytes = new byte[reply.EncodedLength];
        reply.Write(bytes);

        Assert.Equal(Hex(ReplyKey + "10 02 0004 0010 0010"), bytes);
    }

    [Theory]
    [InlineData(RtrTypes.Write, "000E C140 00000001 0000000000000000")]
    [InlineData(RtrTypes.Read, "002E 4141 00000000 00000001 00000001 00000000 00000000 0000000000000000 00000000 00000001 0000000000000000")]
    [InlineData(RtrTypes.Send, "0012 4143 00000000 00000000 00000001 00000000")]
    public async Task Rtr_AsInitiator_CarriesSiwsValues(RtrTypes type, string beforeCrc)
    {
        var reply = MpaStartFrame.Reply(false, new MpaV2Block(16, 16, peerToPeer: true,
            sendRtr: type == RtrTypes.Send, writeRtr: type == RtrTypes.Write, readRtr: type == RtrTypes.Read), default);
        var (client, peer, request) = await InitiateAsync(new IwarpSetupOptions { PeerToPeer = type }, reply);
        using var _ = client;
        using var __ = peer;

        RawPeer.Received rtr = peer.ReceiveFpdu(Wait);

        // The Request's block has A=1 (the B flag for a Send RTR shares this word).
        Assert.Equal(0x80, request[20] & 0x80);
        byte[] expected = [.. Hex(beforeCrc)[2..]];
        Assert.Equal(expected, rtr.Ulpdu.AsSpan(0, expected.Length).ToArray());
    }

    [Fact]
    public async Task Send_Hello_WithCrc_IsTheDigestsVector()
    {
        var (client, peer, _) = await InitiateAsync(new IwarpSetupOptions { Crc = CrcPolicy.Required },
            MpaStartFrame.Reply(true, new MpaV2Block(16, 16), default));
        using var __ = client;
        using var ___ = peer;

        client.PostSend(1, "hello"u8);

        byte[] wire = ReceiveExactly(peer.Socket, 32);
        Assert.Equal(Hex("0017 4143 00000000 00000000 00000001 00000000 68656C6C6F 000000 B990B10C"), wire);
    }

    [Fact]
    public async Task Terminate_ForCrcError_IsTheDigestsVector()
    {
        using var session = await TerminateTests.RawInitiatorAsync(request: RawPeer.SiwRequest(crc: true));
        var (server, peer) = (session.Server, session.Peer);

        peer.SendFpdu(peer.NextSend(), RdmapHeader.None, new byte[8], corruptCrc: true);

        Assert.Equal(Hex("0016 4147 00000000 00000002 00000001 00000000 20020000 7FE42585"), ReceiveExactly(peer.Socket, 28));
    }

    private static byte[] ReceiveExactly(Socket socket, int length)
    {
        byte[] wire = new byte[length];
        socket.ReceiveTimeout = 5000;
        for (int got = 0; got < length;)
        {
            got += socket.Receive(wire, got, length - got, SocketFlags.None);
        }
        return wire;
    }
}
