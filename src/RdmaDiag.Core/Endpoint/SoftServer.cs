using System.Net;
using RdmaDiag.Verbs;

namespace RdmaDiag.Endpoint;

/// <summary>
/// What <c>rdmadiag serve --soft</c> runs: the userspace endpoint's listener, each connection served
/// by a <see cref="ProbeServer"/> on its own thread (a <see cref="TransportServer"/>, which logs one
/// line per connection set up or failed, and one when it ends).
/// </summary>
public sealed class SoftServer : IDisposable
{
    private readonly TransportServer _server;

    private SoftServer(TransportServer server) => _server = server;

    public IPEndPoint LocalEndPoint => (IPEndPoint)_server.LocalEndPoint;

    /// <summary>Binds (throws <see cref="System.Net.Sockets.SocketException"/> when it cannot) and starts listening.</summary>
    public static SoftServer Start(IPEndPoint endpoint, IwarpSetupOptions setup, TextWriter log, int maxConnections = 64) =>
        new(TransportServer.Start(SoftListener.Start(endpoint, setup), transport => new ProbeServer(transport), log, maxConnections));

    /// <summary>Serves until <paramref name="cancellationToken"/> fires, then closes the listener and every connection.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => _server.RunAsync(cancellationToken);

    /// <summary>"TerminateSent (peer): message".</summary>
    public static string Describe(IwarpException e) => TransportServer.Describe(e);

    public void Dispose() => _server.Dispose();
}
