using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace RdmaDiag.Endpoint;

/// <summary>
/// Listens as MPA responder: accepts TCP, reads and judges each MPA Request on its own thread within
/// the responder timeout (5 s by default, siw's), and hands valid ones to <see cref="AcceptAsync"/>.
/// Requests refused by policy (markers, CRC, revision, malformed) are answered or closed here and
/// reported through the failure callback, as is every handshake that times out or sends garbage.
/// </summary>
public sealed class IwarpListener : IDisposable
{
    /// <summary>
    /// Handshakes in progress plus requests not yet taken by <see cref="AcceptAsync"/>; more TCP
    /// connections are closed at once and reported.
    /// </summary>
    public const int MaxPendingHandshakes = 64;

    private readonly Socket _socket;
    private readonly Action<IwarpException>? _onHandshakeFailure;
    private readonly Channel<IwarpConnectionRequest> _requests = Channel.CreateBounded<IwarpConnectionRequest>(MaxPendingHandshakes);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private int _pendingHandshakes;

    private IwarpListener(Socket socket, IwarpSetupOptions setup, Action<IwarpException>? onHandshakeFailure)
    {
        _socket = socket;
        Setup = setup;
        _onHandshakeFailure = onHandshakeFailure;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IwarpSetupOptions Setup { get; }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// Binds and listens. Throws <see cref="SocketException"/> when the address cannot be bound (in use,
    /// not local, privileged port).
    /// </summary>
    public static IwarpListener Start(IPEndPoint endpoint, IwarpSetupOptions? setup = null, Action<IwarpException>? onHandshakeFailure = null, int backlog = 128)
    {
        setup ??= IwarpSetupOptions.Default;
        setup.Validate();
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endpoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new IwarpListener(socket, setup, onHandshakeFailure);
    }

    /// <summary>The next connection whose MPA Request passed; accept or reject it.</summary>
    public async Task<IwarpConnectionRequest> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            IwarpConnectionRequest request = await _requests.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Decrement(ref _pendingHandshakes);
            return request;
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(IwarpListener));
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                // The accepted socket is a new descriptor in blocking mode: asynchrony here does not
                // slow the data path (see MpaHandshake).
                accepted = await _socket.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested)
                {
                    break;
                }
                continue;
            }
            if (Interlocked.Increment(ref _pendingHandshakes) > MaxPendingHandshakes)
            {
                Interlocked.Decrement(ref _pendingHandshakes);
                Report(new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.MpaHandshake,
                    $"{MaxPendingHandshakes} MPA handshakes in progress or requests not yet accepted; connection closed")
                { RemoteEndPoint = MpaHandshake.SafeRemote(accepted) });
                accepted.Dispose();
                continue;
            }
            var thread = new Thread(() => Handshake(accepted)) { IsBackground = true, Name = "iwarp-mpa-responder" };
            thread.Start();
        }
        _requests.Writer.TryComplete();
    }

    private void Handshake(Socket socket)
    {
        EndPoint? remote = MpaHandshake.SafeRemote(socket);
        bool handedOver = false;
        try
        {
            socket.NoDelay = true;
            var request = MpaHandshake.ReceiveFrame(socket, Setup.PrivateDataLimit, Setup.ResponderHandshakeTimeout, "Request");
            RequestDecision decision = MpaNegotiation.EvaluateRequest(request, Setup);
            if (decision.Refusal is { } refusal)
            {
                if (decision.RefusalReply is { } reject)
                {
                    MpaHandshake.SendFrame(socket, reject);
                }
                Report(refusal.WithRemote(remote));
                return;
            }
            var pending = new IwarpConnectionRequest(this, socket, request, decision);
            handedOver = _requests.Writer.TryWrite(pending);
        }
        catch (IwarpException e)
        {
            Report(e.WithRemote(remote));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Report(new IwarpException(IwarpErrorKind.ConnectionReset, ConnectionPhase.MpaHandshake, $"MPA handshake: {e.Message}", e) { RemoteEndPoint = remote });
        }
        finally
        {
            if (!handedOver)
            {
                // A request handed over counts as pending until AcceptAsync takes it.
                Interlocked.Decrement(ref _pendingHandshakes);
                socket.Dispose();
            }
        }
    }

    internal void Report(IwarpException failure)
    {
        if (!_stop.IsCancellationRequested)
        {
            _onHandshakeFailure?.Invoke(failure);
        }
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            _acceptLoop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // The loop ends by cancellation; nothing to report.
        }
        _requests.Writer.TryComplete();
        while (_requests.Reader.TryRead(out IwarpConnectionRequest? left))
        {
            left.Dispose();
        }
        _stop.Dispose();
    }
}

/// <summary>
/// A TCP connection whose MPA Request passed the listener's checks, waiting for the application to
/// <see cref="Accept"/> it into an <see cref="IwarpConnection"/> or <see cref="Reject"/> it (R=1).
/// </summary>
public sealed class IwarpConnectionRequest : IDisposable
{
    private readonly IwarpListener _listener;
    private readonly RequestDecision _decision;
    private Socket? _socket;

    internal IwarpConnectionRequest(IwarpListener listener, Socket socket, Wire.Mpa.MpaStartFrame request, RequestDecision decision)
    {
        _listener = listener;
        _socket = socket;
        _decision = decision;
        Request = request;
        RemoteEndPoint = MpaHandshake.SafeRemote(socket);
        LocalEndPoint = socket.LocalEndPoint;
    }

    public EndPoint? RemoteEndPoint { get; }

    public EndPoint? LocalEndPoint { get; }

    /// <summary>The MPA Request as received.</summary>
    public Wire.Mpa.MpaStartFrame Request { get; }

    /// <summary>The initiator's ULP private data (the RFC 6581 block removed).</summary>
    public ReadOnlyMemory<byte> PrivateData => Request.PrivateData;

    /// <summary>
    /// Sends the MPA Reply (R=0, with <paramref name="privateData"/>) and hands the stream to
    /// <paramref name="connection"/>, which must be new; register memory and post receives on it first,
    /// since the initiator may send as soon as the Reply arrives.
    /// </summary>
    public NegotiatedParameters Accept(IwarpConnection connection, ReadOnlyMemory<byte> privateData = default)
    {
        Socket socket = Take();
        try
        {
            _listener.Setup.ValidatePrivateData(privateData.Span);
            var reply = _decision.Reply(privateData, rejected: false);
            var parameters = MpaNegotiation.ResponderParameters(Request, reply, _decision);
            MpaHandshake.SendFrame(socket, reply);
            connection.AttachResponder(socket, parameters, _decision.PeerToPeer ? _decision.OfferedRtr : RtrTypes.None);
            return connection.Parameters!;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends an MPA Reply with R=1 and <paramref name="privateData"/>, then closes, as Linux drivers do.</summary>
    public void Reject(ReadOnlyMemory<byte> privateData = default)
    {
        Socket socket = Take();
        try
        {
            _listener.Setup.ValidatePrivateData(privateData.Span);
            MpaHandshake.SendFrame(socket, _decision.Reply(privateData, rejected: true));
            socket.Shutdown(SocketShutdown.Send);
        }
        finally
        {
            socket.Dispose();
        }
    }

    private Socket Take() => Interlocked.Exchange(ref _socket, null)
        ?? throw new InvalidOperationException("this connection request was already accepted, rejected or disposed");

    public void Dispose() => Interlocked.Exchange(ref _socket, null)?.Dispose();
}
