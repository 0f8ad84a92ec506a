using System.Collections.Concurrent;
using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>An initiator and a responder joined over loopback, with short test timeouts.</summary>
internal sealed class EndpointPair : IDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private EndpointPair(IwarpListener listener, IwarpConnection client, IwarpConnection server)
    {
        Listener = listener;
        Client = client;
        Server = server;
    }

    public static EndpointPair Wrap(IwarpListener listener, IwarpConnection client, IwarpConnection server) => new(listener, client, server);

    public IwarpListener Listener { get; }

    public IwarpConnection Client { get; }

    public IwarpConnection Server { get; }

    public NegotiatedParameters ClientParameters => Client.Parameters!;

    public NegotiatedParameters ServerParameters => Server.Parameters!;

    public ConcurrentQueue<IwarpException> ListenerFailures { get; } = new();

    /// <summary>An established pair; throws the initiator's error when setup fails.</summary>
    public static async Task<EndpointPair> ConnectAsync(
        IwarpSetupOptions? clientSetup = null,
        IwarpSetupOptions? serverSetup = null,
        IwarpConnectionOptions? clientOptions = null,
        IwarpConnectionOptions? serverOptions = null,
        Action<IwarpConnection>? prepareClient = null,
        Action<IwarpConnection>? prepareServer = null,
        ReadOnlyMemory<byte> clientPrivateData = default,
        ReadOnlyMemory<byte> serverPrivateData = default)
    {
        SetupOutcome outcome = await TryConnectAsync(clientSetup, serverSetup, clientOptions, serverOptions, prepareClient, prepareServer,
            clientPrivateData: clientPrivateData, serverPrivateData: serverPrivateData);
        if (outcome.ClientError is { } error)
        {
            outcome.Dispose();
            throw error;
        }
        return outcome.Pair;
    }

    /// <summary>
    /// Runs one connection setup that may fail on either side. Returns the established pair, or the
    /// initiator's error and whatever the listener reported.
    /// </summary>
    public static async Task<SetupOutcome> TryConnectAsync(
        IwarpSetupOptions? clientSetup = null,
        IwarpSetupOptions? serverSetup = null,
        IwarpConnectionOptions? clientOptions = null,
        IwarpConnectionOptions? serverOptions = null,
        Action<IwarpConnection>? prepareClient = null,
        Action<IwarpConnection>? prepareServer = null,
        Func<IwarpConnectionRequest, bool>? accept = null,
        ReadOnlyMemory<byte> rejectPrivateData = default,
        ReadOnlyMemory<byte> clientPrivateData = default,
        ReadOnlyMemory<byte> serverPrivateData = default)
    {
        var failures = new ConcurrentQueue<IwarpException>();
        var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), serverSetup, failures.Enqueue);
        var client = new IwarpConnection(clientOptions);
        var server = new IwarpConnection(serverOptions);
        prepareClient?.Invoke(client);
        Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint, clientSetup, clientPrivateData);
        using var timeout = new CancellationTokenSource(Wait);
        Task<IwarpConnectionRequest> request = listener.AcceptAsync(timeout.Token);
        await Task.WhenAny(connect, request);
        if (request.IsCompletedSuccessfully)
        {
            if (accept is null || accept(request.Result))
            {
                prepareServer?.Invoke(server);
                request.Result.Accept(server, serverPrivateData);
            }
            else
            {
                request.Result.Reject(rejectPrivateData);
            }
        }
        IwarpException? clientError = null;
        try
        {
            await connect.WaitAsync(Wait);
        }
        catch (IwarpException e)
        {
            clientError = e;
        }
        // Give the listener's handshake thread a moment to report a refusal it answered.
        for (int i = 0; i < 40 && clientError is not null && failures.IsEmpty && !request.IsCompletedSuccessfully; i++)
        {
            await Task.Delay(25);
        }
        var pair = new EndpointPair(listener, client, server);
        foreach (var failure in failures)
        {
            pair.ListenerFailures.Enqueue(failure);
        }
        return new SetupOutcome(pair, clientError);
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
        Listener.Dispose();
    }
}

internal sealed record SetupOutcome(EndpointPair Pair, IwarpException? ClientError) : IDisposable
{
    public bool Established => ClientError is null;

    public void Dispose() => Pair.Dispose();
}
