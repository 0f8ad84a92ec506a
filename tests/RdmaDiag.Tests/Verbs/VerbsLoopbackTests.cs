using System.Net;
using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Tests.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>
/// The verbs transport on a real device serving 127.0.0.1 (siw on lo): rping between verbs peers and
/// across transports (the kernel's siw against RdmaDiag's userspace endpoint), and the setup failures.
/// </summary>
public class VerbsLoopbackTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    [VerbsLoopbackFact]
    public async Task Rping_VerbsClientAgainstVerbsServer_VerifiesEveryPing() =>
        await VerbsClientAgainst(RunningServer.Start(VerbsListener.Start(new IPEndPoint(IPAddress.Loopback, 0), VerbsOptions.Rping), t => new RpingServer(t)));

    [VerbsLoopbackFact]
    public async Task Rping_KernelClientAgainstSoftServer_VerifiesEveryPing() =>
        await VerbsClientAgainst(RunningServer.SoftRping());

    [VerbsLoopbackFact]
    public async Task Rping_SoftClientAgainstKernelServer_VerifiesEveryPing()
    {
        await using var server = RunningServer.Start(VerbsListener.Start(new IPEndPoint(IPAddress.Loopback, 0), VerbsOptions.Rping), t => new RpingServer(t));

        using (var transport = new SoftTransport(new IwarpConnection()))
        {
            using var client = new RpingClient(transport, RpingProtocol.DefaultSize, Wait);
            await transport.Connection.ConnectAsync(server.EndPoint, RunningServer.RpingSetup);
            Assert.All(client.Run(5), r => Assert.True(r.Verified, r.Detail));
            transport.Close();
        }

        await server.WaitForLog("closed by the peer after 5 rping iteration(s), 5 verified");
    }

    [VerbsLoopbackFact]
    public void Connect_NothingListens_IsTcpRefused()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var closed = (IPEndPoint)probe.LocalEndPoint!;
        probe.Close();
        using VerbsConnection connection = VerbsConnection.Create(closed, VerbsOptions.Rping);

        var e = Assert.Throws<IwarpException>(() => connection.Connect());

        Assert.Equal(IwarpErrorKind.TcpRefused, e.Kind);
        Assert.IsType<RdmaCmEvidence>(e.InnerException);
        Assert.Equal(ConnectionState.Failed, connection.State);
    }

    [VerbsLoopbackFact]
    public async Task Connect_ServerRejectsWithPrivateData_IsMpaRejectedCarryingIt()
    {
        using VerbsListener listener = VerbsListener.Start(new IPEndPoint(IPAddress.Loopback, 0), VerbsOptions.Rping);
        Task<VerbsConnectionRequest> request = listener.AcceptRequestAsync();
        using VerbsConnection connection = VerbsConnection.Create((IPEndPoint)listener.LocalEndPoint, VerbsOptions.Rping with { PrivateData = "hello"u8.ToArray() });
        Task<VerbsConnectionInfo> connect = Task.Run(() => connection.Connect());

        VerbsConnectionRequest offered = await request.WaitAsync(Wait);
        Assert.Equal("hello"u8.ToArray(), offered.PrivateData.ToArray());
        offered.Reject("go away"u8);
        var e = await Assert.ThrowsAsync<IwarpException>(() => connect.WaitAsync(Wait));

        Assert.Equal(IwarpErrorKind.MpaRejected, e.Kind);
        Assert.Equal("go away"u8.ToArray(), e.PeerPrivateData.ToArray());
    }

    /// <summary>Five pings from a verbs client; the server (owned here) must log them all verified.</summary>
    private static async Task VerbsClientAgainst(RunningServer running)
    {
        await using RunningServer server = running;
        using (VerbsConnection connection = VerbsConnection.Create(server.EndPoint, VerbsOptions.Rping))
        {
            using var client = new RpingClient(connection, RpingProtocol.DefaultSize, Wait);
            VerbsConnectionInfo info = connection.Connect();
            Assert.Equal(RdmaDiag.Native.TransportType.Iwarp, info.Transport);
            Assert.All(client.Run(5), r => Assert.True(r.Verified, r.Detail));
            connection.Close();
        }
        await server.WaitForLog("closed by the peer after 5 rping iteration(s), 5 verified");
    }
}
