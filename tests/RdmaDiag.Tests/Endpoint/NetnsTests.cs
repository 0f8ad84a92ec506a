using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// The endpoint between two network namespaces joined by veth: a real 1500-octet MTU (so FPDUs are
/// sized from a real MSS, not loopback's), real SYN loss and a real unreachable network.
/// </summary>
[Trait("Tier", "netns")]
public class NetnsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>A SoftServer in namespace A; returns it, its endpoint address and a stop source.</summary>
    private static (SoftServer Server, CancellationTokenSource Stop, Task Serving) ServeInA(NetnsPair pair, StringWriter log, IwarpSetupOptions? setup = null)
    {
        SoftServer server = NetnsPair.Run(pair.A, () => SoftServer.Start(new IPEndPoint(NetnsPair.AddressA, IwarpSetupOptions.DefaultPort), setup ?? IwarpSetupOptions.Default, log));
        var stop = new CancellationTokenSource();
        return (server, stop, server.RunAsync(stop.Token));
    }

    [NetnsFact]
    public async Task Probe_AcrossVeth_SizesFpdusFromTheRealMssAndVerifiesAllOperations()
    {
        using NetnsPair pair = NetnsPair.Create();
        var log = new StringWriter();
        var (server, stop, serving) = ServeInA(pair, log);
        using (server)
        using (stop)
        {
            using var connection = new IwarpConnection();
            var probe = new ProbeClient(connection, Wait);
            NegotiatedParameters parameters = NetnsPair.Run(pair.B, () => connection.Connect(new IPEndPoint(NetnsPair.AddressA, IwarpSetupOptions.DefaultPort)));

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

    [NetnsFact]
    public async Task Traffic_AcrossVethWithMarkersCrcAndReadRtr_IsIntact()
    {
        using NetnsPair pair = NetnsPair.Create();
        var setup = new IwarpSetupOptions { Crc = CrcPolicy.Required, RequestMarkers = true, PeerToPeer = RtrTypes.Read };
        var failures = new ConcurrentQueue<IwarpException>();
        using IwarpListener listener = NetnsPair.Run(pair.A, () => IwarpListener.Start(new IPEndPoint(NetnsPair.AddressA, 0), setup, failures.Enqueue));
        var traffic = new Traffic();
        var client = new IwarpConnection();
        var server = new IwarpConnection();
        traffic.PrepareClient(client);
        Task<NegotiatedParameters> connect = Task.Run(() => NetnsPair.Run(pair.B, () => client.Connect(new IPEndPoint(NetnsPair.AddressA, listener.LocalEndPoint.Port), setup)));
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

    [NetnsFact]
    public void Connect_SynsDropped_FailsTcpTimeout()
    {
        using NetnsPair pair = NetnsPair.Create();
        // A neighbour entry for an address nobody owns: SYNs leave and are never answered.
        NetnsPair.Ip($"-n {pair.B} neigh add 10.199.0.9 lladdr 02:00:00:00:00:09 dev {DeviceOf(pair.B)}");
        using var connection = new IwarpConnection();

        var error = Assert.Throws<IwarpException>(() => NetnsPair.Run(pair.B, () =>
            connection.Connect(new IPEndPoint(IPAddress.Parse("10.199.0.9"), 7174), new IwarpSetupOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) })));

        Assert.Equal(IwarpErrorKind.TcpTimeout, error.Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(500), error.Waited);
    }

    [NetnsFact]
    public void Connect_NoRoute_FailsTcpUnreachable()
    {
        using NetnsPair pair = NetnsPair.Create();
        using var connection = new IwarpConnection();

        var error = Assert.Throws<IwarpException>(() => NetnsPair.Run(pair.B, () => connection.Connect(new IPEndPoint(IPAddress.Parse("10.250.0.1"), 7174))));

        Assert.Equal(IwarpErrorKind.TcpUnreachable, error.Kind);
        Assert.Equal(SocketError.NetworkUnreachable, error.SocketError);
    }

    [NetnsFact]
    public async Task Write_OutOfBoundsAcrossVeth_DrawsTheTerminate()
    {
        using NetnsPair pair = NetnsPair.Create();
        using IwarpListener listener = NetnsPair.Run(pair.A, () => IwarpListener.Start(new IPEndPoint(NetnsPair.AddressA, 0)));
        var endpoint = new IPEndPoint(NetnsPair.AddressA, listener.LocalEndPoint.Port);
        Task<RawPeer> initiate = Task.Run(() => NetnsPair.Run(pair.B, () => RawPeer.Initiate(endpoint, RawPeer.SiwRequest(), out _)));
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

    private static string DeviceOf(string ns) => $"v{ns[(ns.IndexOf('x') + 1)..^1]}b";

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
