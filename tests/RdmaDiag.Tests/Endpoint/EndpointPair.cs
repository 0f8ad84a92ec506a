using System.Collections.Concurrent;
using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>An initiator and a responder joined over loopback (or any address), with short test timeouts.</summary>
internal sealed class EndpointPair : IDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private EndpointPair(IwarpListener listener, IwarpConnection client, IwarpConnection server)
    {
        Listener = listener;
        Client = client;
        Server = server;
    }

    public IwarpListener Listener { get; }

    public IwarpConnection Client { get; }

    public IwarpConnection Server { get; }

    public NegotiatedParameters ClientParameters => Client.Parameters!;

    public NegotiatedParameters ServerParameters => Server.Parameters!;

    public ConcurrentQueue<IwarpException> ListenerFailures { get; } = new();

    public static async Task<EndpointPair> ConnectAsync(
        IwarpSetupOptions? clientSetup = null,
        IwarpSetupOptions? serverSetup = null,
        IwarpConnectionOptions? clientOptions = null,
        IwarpConnectionOptions? serverOptions = null,
        Action<IwarpConnection>? prepareClient = null,
        Action<IwarpConnection>? prepareServer = null,
        ReadOnlyMemory<byte> clientPrivateData = default,
        ReadOnlyMemory<byte> serverPrivateData = default,
        IPAddress? address = null)
    {
        var failures = new ConcurrentQueue<IwarpException>();
        var listener = IwarpListener.Start(new IPEndPoint(address ?? IPAddress.Loopback, 0), serverSetup, failures.Enqueue);
        var client = new IwarpConnection(clientOptions);
        var server = new IwarpConnection(serverOptions);
        try
        {
            prepareClient?.Invoke(client);
            Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint, clientSetup, clientPrivateData);
            using var timeout = new CancellationTokenSource(Wait);
            IwarpConnectionRequest request = await listener.AcceptAsync(timeout.Token);
            prepareServer?.Invoke(server);
            request.Accept(server, serverPrivateData);
            await connect.WaitAsync(Wait);
        }
        catch
        {
            client.Dispose();
            server.Dispose();
            listener.Dispose();
            throw;
        }
        var pair = new EndpointPair(listener, client, server);
        foreach (var failure in failures)
        {
            pair.ListenerFailures.Enqueue(failure);
        }
        return pair;
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
        Listener.Dispose();
    }
}
