using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Tests.Endpoint;
using RdmaDiag.Tests.Verbs;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Rping;

/// <summary>rping's client and server roles against each other over the soft transport on loopback.</summary>
public class RpingLoopbackTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    [Theory]
    [InlineData(RpingProtocol.DefaultSize, 10)]
    [InlineData(RpingProtocol.MinSize, 3)]
    [InlineData(RpingProtocol.MaxSize, 3)]
    public async Task Client_AgainstServer_VerifiesEveryPing(int size, int count)
    {
        await using var server = RunningServer.SoftRping();

        IReadOnlyList<ProbeResult> results;
        string lastData;
        using (var transport = new SoftTransport(new IwarpConnection()))
        {
            using var client = new RpingClient(transport, size, Wait);
            await transport.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);
            results = client.Run(count);
            lastData = client.LastData;
            transport.Close();
        }

        Assert.Equal(count, results.Count);
        Assert.All(results, r => Assert.True(r.Verified, r.Detail));
        Assert.All(results, r => Assert.Equal(("rping", size), (r.Operation, r.Size)));
        string prefix = RpingPattern.Prefix(count - 1);
        Assert.StartsWith(prefix[..Math.Min(prefix.Length, size - 1)], lastData);
        await server.WaitForLog($"closed by the peer after {count} rping iteration(s), {count} verified");
    }

    [Fact]
    public async Task Client_RpingsOwnSetup_NegotiatesIrdAndOrdOneAndVerifiesAPing()
    {
        await using var server = RunningServer.SoftRping();

        using (var transport = new SoftTransport(new IwarpConnection()))
        {
            using var client = new RpingClient(transport, RpingProtocol.DefaultSize, Wait);
            NegotiatedParameters parameters = await transport.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);
            Assert.Equal((1, 1, (ushort?)1, (ushort?)1), (parameters.Ird, parameters.Ord, parameters.PeerIrd, parameters.PeerOrd));
            Assert.True(client.Ping(0).Verified);
            transport.Close();
        }

        await server.WaitForLog("closed by the peer after 1 rping iteration(s), 1 verified");
    }

    [Fact]
    public async Task Server_ClientSkipsPingNumbers_EchoesAnywayAndReportsTheMismatch()
    {
        await using var server = RunningServer.SoftRping();

        using (var transport = new SoftTransport(new IwarpConnection()))
        {
            using var client = new RpingClient(transport, 64, Wait);
            await transport.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);
            Assert.True(client.Ping(0).Verified);
            ProbeResult skipped = client.Ping(5);
            Assert.True(skipped.Verified, skipped.Detail);
            transport.Close();
        }

        await server.WaitForLog("closed by the peer after 2 rping iteration(s), 1 verified (first mismatch: octet 10 of ping 1 is 0x35 '5'");
    }

    [Fact]
    public async Task Server_StartBufferLargerThanItTakes_LogsProtocolErrorAndClientSeesTheConnectionEnd()
    {
        await using var server = RunningServer.SoftRping(maxSize: 64);

        using (var transport = new SoftTransport(new IwarpConnection()))
        {
            using var client = new RpingClient(transport, 128, Wait);
            await transport.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);

            var e = Assert.Throws<IwarpException>(() => client.Ping(0));

            Assert.Contains(e.Kind, new[] { IwarpErrorKind.ConnectionClosed, IwarpErrorKind.ConnectionReset });
        }

        await server.WaitForLog("failed after 0 rping iteration(s), 0 verified: the peer broke the protocol: the client's start buffer is 128 octets; this server takes at most 64");
    }

    [Fact]
    public async Task Client_ServerSignalsWithEightOctets_ThrowsNamingRpingsMessageSize()
    {
        using var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), RunningServer.RpingSetup);
        using var serverTransport = new SoftTransport(new IwarpConnection());
        TransportRegion receive = serverTransport.Register(RpingBufferInfo.Length, MemoryAccess.LocalWrite);
        TransportRegion reply = serverTransport.Register(8, MemoryAccess.None);
        serverTransport.PostReceive(1, receive, 0, RpingBufferInfo.Length);

        using var transport = new SoftTransport(new IwarpConnection());
        using var client = new RpingClient(transport, 64, Wait);
        Task<NegotiatedParameters> connect = transport.Connection.ConnectAsync(listener.LocalEndPoint, RunningServer.RpingSetup);
        using (var timeout = new CancellationTokenSource(Wait))
        {
            (await listener.AcceptAsync(timeout.Token)).Accept(serverTransport.Connection);
        }
        await connect.WaitAsync(Wait);
        Task<ProbeResult> ping = Task.Run(() => client.Ping(0));
        Completion advert = serverTransport.WaitForCompletion(Wait);
        Assert.Equal((CompletionOpcode.Receive, RpingBufferInfo.Length), (advert.Opcode, advert.ByteLength));
        serverTransport.PostSend(2, reply, 0, 8);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => ping.WaitAsync(Wait));

        Assert.Equal("the server's signal after its RDMA Read of the start buffer is not rping's: received bogus data, size 8: an rping message is exactly 16 octets (struct rping_rdma_info)", e.Message);
    }

    [Fact]
    public async Task Server_PeerSendsALongerMessage_LogsThatItDoesNotSpeakRping()
    {
        await using var server = RunningServer.SoftRping();
        using var transport = new SoftTransport(new IwarpConnection());
        TransportRegion message = transport.Register(64, MemoryAccess.None);
        await transport.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);

        transport.PostSend(1, message, 0, 64);

        await server.WaitForLog("failed after 0 rping iteration(s), 0 verified: the peer broke the protocol: the peer sent a message longer than the 16 octets rping receives into");
    }
}
