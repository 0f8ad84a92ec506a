using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Tests.Endpoint;
using RdmaDiag.Tests.Native;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

public class ClientConnectorTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    [Fact]
    public async Task Soft_PrepareThenConnect_RunsRpingAndDescribesTheMpaParameters()
    {
        await using var server = RunningServer.SoftRping();
        ClientConnector connector = ClientConnector.Soft(RunningServer.RpingSetup);

        using (IRdmaTransport transport = connector.Prepare(server.EndPoint))
        {
            using var client = new RpingClient(transport, RpingProtocol.DefaultSize, Wait);
            string inForce = connector.Connect(transport);
            Assert.Contains("rev 2/2 enhanced", inForce);
            Assert.True(client.Ping(0).Verified);
            transport.Close();
        }

        await server.WaitForLog("closed by the peer after 1 rping iteration(s), 1 verified");
    }

    [Fact]
    public async Task Soft_NothingListens_ConnectIsTcpRefused()
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var closed = (IPEndPoint)socket.LocalEndPoint!;
        socket.Close();
        ClientConnector connector = ClientConnector.Soft(IwarpSetupOptions.Default);
        using IRdmaTransport transport = connector.Prepare(closed);

        var e = await Assert.ThrowsAsync<IwarpException>(() => Task.Run(() => connector.Connect(transport)));

        Assert.Equal(IwarpErrorKind.TcpRefused, e.Kind);
    }

    [Fact]
    public void Soft_TransportFromElsewhere_IsRefused()
    {
        using var foreign = new SoftTransport(new IwarpConnection());

        Assert.Throws<ArgumentException>(() => ClientConnector.Soft(IwarpSetupOptions.Default).Connect(foreign));
    }

    [NoRdmaKernelFact]
    public void Verbs_KernelWithoutRdma_PrepareThrowsUnavailable()
    {
        ClientConnector connector = ClientConnector.Verbs(VerbsOptions.Rping with { Diagnose = () => [] });

        var e = Assert.Throws<VerbsUnavailableException>(() => connector.Prepare(new IPEndPoint(IPAddress.Loopback, RpingProtocol.DefaultPort)));

        Assert.Equal(RdmaDiag.Native.Errno.ENODEV, e.Errno);
    }
}
