using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Verbs;

/// <summary><see cref="ITransportListener"/> over the userspace endpoint's <see cref="IwarpListener"/>.</summary>
public sealed class SoftListener : ITransportListener
{
    private readonly IwarpListener _listener;
    private readonly IwarpConnectionOptions? _connectionOptions;

    private SoftListener(IwarpListener listener, IwarpConnectionOptions? connectionOptions)
    {
        _listener = listener;
        _connectionOptions = connectionOptions;
    }

    public EndPoint LocalEndPoint => _listener.LocalEndPoint;

    public string Description => $"soft iWARP endpoint ({_listener.Setup})";

    public event Action<EndPoint?, string>? SetupFailed;

    /// <summary>Binds (throws <see cref="System.Net.Sockets.SocketException"/> when it cannot) and listens.</summary>
    public static SoftListener Start(IPEndPoint endpoint, IwarpSetupOptions? setup = null, IwarpConnectionOptions? connectionOptions = null)
    {
        SoftListener? self = null;
        IwarpListener listener = IwarpListener.Start(endpoint, setup,
            failure => self?.SetupFailed?.Invoke(failure.RemoteEndPoint, TransportServer.Describe(failure)));
        self = new SoftListener(listener, connectionOptions);
        return self;
    }

    public async Task<ITransportRequest> AcceptAsync(CancellationToken cancellationToken = default)
    {
        IwarpConnectionRequest request = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        return new Request(request, new SoftTransport(new IwarpConnection(_connectionOptions)));
    }

    public void Dispose() => _listener.Dispose();

    private sealed class Request(IwarpConnectionRequest request, SoftTransport transport) : ITransportRequest
    {
        public EndPoint? RemoteEndPoint => request.RemoteEndPoint;

        public IRdmaTransport Transport => transport;

        public string Accept() => request.Accept(transport.Connection).ToString();

        public void Reject()
        {
            try
            {
                request.Reject();
            }
            finally
            {
                transport.Dispose();
            }
        }
    }
}
