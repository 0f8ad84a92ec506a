using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Tests.Netns;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// The endpoint between two network namespaces joined by veth (a <see cref="NetLab"/> without a router;
/// the responder in its server, the initiator in its client): a real 1500-octet MTU (so FPDUs are sized
/// from a real MSS, not loopback's), real SYN loss and a real unreachable network.
/// </summary>
[Trait("Tier", "netns")]
public class NetnsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>A SoftServer in the lab's server node; returns it, a stop source and its serving task.</summary>
    private static (SoftServer Server, CancellationTokenSource Stop, Task Serving) Serve(NetLab lab, StringWriter log, IwarpSetupOptions? setup = null)
    {
        SoftServer server = lab.Server.Run(() => SoftServer.Start(new IPEndPoint(lab.Server.Address, IwarpSetupOptions.DefaultPort), setup ?? IwarpSetupOptions.Default, log));
        var stop = new CancellationTokenSource();
        return (server, stop, server.RunAsync(stop.Token));
    }

    [NetLabFact]
    public async Task Probe_AcrossVeth_SizesFpdusFromTheRealMssAndVerifiesAllOperations()
    {
        using var lab = NetLab.Create(router: false);
        var log = new StringWriter();
        var (server, stop, serving) = Serve(lab, log);
        using (server)
        using (stop)
        {
            using var connection = new IwarpConnection();
            var probe = new ProbeClient(connection, Wait);
            NegotiatedParameters parameters = lab.Client.Run(() => connection.Connect(new IPEndPoint(lab.Server.Address, IwarpSetupOptions.DefaultPort)));

            // MTU 1500: MSS 1460, or 1448 with TCP timestamps; MULPDU = EMSS − 6 (RFC 5044 §5, no markers).
            Assert.Contains(parameters.Emss, new[] { 1448, 1460 });
            Assert.Equal(parameters.Emss - 6, parameters.Mulpdu);
            probe.Hello();
            foreach (int size in new[] { 64, 1 << 20 })
            {
                foreach (ProbeResult result in new[] { probe.Send(size), probe.Write(size), probe.Read(size) })
                {
                    Assert.True(result.Verified, $"{result.Operation} {result.Size}: {result.Detail}");
                }
            }
            Assert.True(connection.FpdusSent > (1 << 20) / parameters.Mulpdu);
            connection.Close();
            await ProbeProtocolTests.WaitForLog(log, "closed by the peer after 7 probe request(s)");
            stop.Cancel();
            await serving.WaitAsync(Wait);
        }
    }

    [NetLabFact]
    public async Task Traffic_AcrossVethWithMarkersCrcAndReadRtr_IsIntact()
    {
        using var lab = NetLab.Create(router: false);
        var setup = new IwarpSetupOptions { Crc = CrcPolicy.Required, RequestMarkers = true, PeerToPeer = RtrTypes.Read };
        var failures = new ConcurrentQueue<IwarpException>();
        using IwarpListener listener = lab.Server.Run(() => IwarpListener.Start(new IPEndPoint(lab.Server.Address, 0), setup, failures.Enqueue));
        var traffic = new Traffic();
        var client = new IwarpConnection();
        var server = new IwarpConnection();
        traffic.PrepareClient(client);
        Task<NegotiatedParameters> connect = Task.Run(() => lab.Client.Run(() => client.Connect(new IPEndPoint(lab.Server.Address, listener.LocalEndPoint.Port), setup)));
        using var timeout = new CancellationTokenSource(Wait);
        IwarpConnectionRequest request = await listener.AcceptAsync(timeout.Token);
        traffic.PrepareServer(server);
        request.Accept(server);
        NegotiatedParameters parameters = await connect.WaitAsync(Wait);
        using var endpoints = new DisposablePair(listener, client, server);

        Assert.True(parameters is { Crc: true, MarkersSent: true, MarkersReceived: true, Rtr: RtrType.Read });
        Assert.Equal(wireMulpdu(parameters.Emss), parameters.Mulpdu);
        traffic.Run(endpoints.AsEndpointPair());
        Assert.Empty(failures);

        // With markers, MULPDU = EMSS − (6 + 4·⌈EMSS/512⌉ + EMSS mod 4).
        static int wireMulpdu(int emss) => emss - (6 + 4 * ((emss + 511) / 512) + emss % 4);
    }

    /// <summary>
    /// The loopback negotiation matrix again, between namespaces with the real 1500-octet MTU (no EMSS
    /// override): every case of <see cref="NegotiationMatrixTests"/> in one lab.
    /// </summary>
    [NetLabFact]
    public async Task NegotiationMatrix_AcrossVeth_AgreesOrFailsAsOnLoopback()
    {
        using var lab = NetLab.Create(router: false);
        var options = IwarpConnectionOptions.Default;
        foreach (object[] row in NegotiationMatrixTests.RevisionAndCrc())
        {
            await NegotiationMatrixTests.RevisionAndCrcCase((byte)row[0], (byte)row[1], (CrcPolicy)row[2], (CrcPolicy)row[3], options, lab);
        }
        foreach (object[] row in NegotiationMatrixTests.Markers())
        {
            await NegotiationMatrixTests.MarkersCase((byte)row[0], (bool)row[1], (bool)row[2], (bool)row[3], (bool)row[4], (CrcPolicy)row[5], options, lab);
        }
        foreach (object[] row in NegotiationMatrixTests.PeerToPeer())
        {
            await NegotiationMatrixTests.PeerToPeerCase((RtrTypes)row[0], (RtrTypes)row[1], (CrcPolicy)row[2], options, lab);
        }
    }

    [NetLabFact]
    public void Connect_SynsDropped_FailsTcpTimeout()
    {
        using var lab = NetLab.Create(router: false);
        // A neighbour entry for an address nobody owns: SYNs leave and are never answered.
        lab.Client.Exec("ip", "neigh", "add", "192.0.2.9", "lladdr", "02:00:00:00:00:09", "dev", "eth0");
        using var connection = new IwarpConnection();

        var error = Assert.Throws<IwarpException>(() => lab.Client.Run(() =>
            connection.Connect(new IPEndPoint(IPAddress.Parse("192.0.2.9"), 7174), new IwarpSetupOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) })));

        Assert.Equal(IwarpErrorKind.TcpTimeout, error.Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(500), error.Waited);
    }

    [NetLabFact]
    public void Connect_NoRoute_FailsTcpUnreachable()
    {
        using var lab = NetLab.Create(router: false);
        using var connection = new IwarpConnection();

        var error = Assert.Throws<IwarpException>(() => lab.Client.Run(() => connection.Connect(new IPEndPoint(IPAddress.Parse("10.250.0.1"), 7174))));

        Assert.Equal(IwarpErrorKind.TcpUnreachable, error.Kind);
        Assert.Equal(SocketError.NetworkUnreachable, error.SocketError);
    }

    [NetLabFact]
    public async Task Write_OutOfBoundsAcrossVeth_DrawsTheTerminate()
    {
        using var lab = NetLab.Create(router: false);
        using IwarpListener listener = lab.Server.Run(() => IwarpListener.Start(new IPEndPoint(lab.Server.Address, 0)));
        var endpoint = new IPEndPoint(lab.Server.Address, listener.LocalEndPoint.Port);
        Task<RawPeer> initiate = Task.Run(() => lab.Client.Run(() => RawPeer.Initiate(endpoint, RawPeer.SiwRequest(), out _)));
        using var timeout = new CancellationTokenSource(Wait);
        IwarpConnectionRequest request = await listener.AcceptAsync(timeout.Token);
        using var server = new IwarpConnection();
        MemoryRegion region = server.RegisterMemory(new byte[4096], MemoryAccess.RemoteWrite);
        request.Accept(server);
        using RawPeer peer = await initiate.WaitAsync(Wait);

        peer.SendFpdu(RawPeer.Write(region.STag, 4090), RdmapHeader.None, new byte[100]);

        RawPeer.Received received = peer.ExpectTerminate(Wait);
        Assert.Equal(TerminateErrors.DdpTaggedBaseOrBounds, received.Terminate.Error);
        Assert.Equal(IwarpErrorKind.TerminateSent, Traffic.WaitForError(server).Kind);
    }

    private sealed class DisposablePair(IwarpListener listener, IwarpConnection client, IwarpConnection server) : IDisposable
    {
        public EndpointPair AsEndpointPair() => EndpointPair.Wrap(listener, client, server);

        public void Dispose()
        {
            client.Dispose();
            server.Dispose();
        }
    }
}
