using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Tests.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>A <see cref="TransportServer"/> serving in the background with its log kept; disposing stops it.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    public static readonly IwarpSetupOptions RpingSetup = RpingProtocol.SoftSetup(IwarpSetupOptions.Default);


    private readonly TransportServer _server;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;

    private RunningServer(ITransportListener listener, Func<IRdmaTransport, ITransportSession> sessions, int maxConnections)
    {
        _server = TransportServer.Start(listener, sessions, Log, maxConnections);
        _serving = _server.RunAsync(_stop.Token);
    }

    public StringWriter Log { get; } = new();

    public IPEndPoint EndPoint => (IPEndPoint)_server.LocalEndPoint;

    public static RunningServer Start(ITransportListener listener, Func<IRdmaTransport, ITransportSession> sessions, int maxConnections = 64) =>
        new(listener, sessions, maxConnections);

    /// <summary>rping's server on the soft endpoint, on a free loopback port.</summary>
    public static RunningServer SoftRping(int maxSize = RpingProtocol.MaxSize, int maxConnections = 64) =>
        Start(SoftListener.Start(new IPEndPoint(IPAddress.Loopback, 0), RpingSetup), t => new RpingServer(t, maxSize), maxConnections);

    public Task WaitForLog(string text) => ProbeProtocolTests.WaitForLog(Log, text);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _serving.WaitAsync(EndpointPair.Wait);
        _server.Dispose();
        _stop.Dispose();
    }
}
