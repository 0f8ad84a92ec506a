using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace RdmaDiag.Endpoint;

/// <summary>
/// What <c>rdmadiag serve --soft</c> runs: a listener whose connections each get a
/// <see cref="ProbeServer"/> on their own thread. It logs one line when a connection is set up (with
/// the negotiated parameters) or fails to be, and one when it ends (how, and after how many requests).
/// </summary>
public sealed class SoftServer : IDisposable
{
    private readonly IwarpListener _listener;
    private readonly TextWriter _log;
    private readonly int _maxConnections;
    private readonly HashSet<IwarpConnection> _active = [];
    private readonly List<Task> _sessions = [];

    private SoftServer(IwarpListener listener, TextWriter log, int maxConnections)
    {
        _listener = listener;
        _log = log;
        _maxConnections = maxConnections;
    }

    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Binds (throws <see cref="System.Net.Sockets.SocketException"/> when it cannot) and starts listening.</summary>
    public static SoftServer Start(IPEndPoint endpoint, IwarpSetupOptions setup, TextWriter log, int maxConnections = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        TextWriter synchronized = TextWriter.Synchronized(log);
        SoftServer? server = null;
        var listener = IwarpListener.Start(endpoint, setup, failure => server?.Log(failure.RemoteEndPoint, $"setup failed: {Describe(failure)}"));
        server = new SoftServer(listener, synchronized, maxConnections);
        return server;
    }

    /// <summary>Serves until <paramref name="cancellationToken"/> fires, then closes the listener and every connection.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                IwarpConnectionRequest request;
                try
                {
                    request = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
                {
                    break;
                }
                Admit(request, cancellationToken);
            }
        }
        finally
        {
            Dispose();
        }
    }

    private void Admit(IwarpConnectionRequest request, CancellationToken cancellationToken)
    {
        var connection = new IwarpConnection();
        lock (_active)
        {
            if (_active.Count >= _maxConnections)
            {
                Log(request.RemoteEndPoint, $"rejected: {_maxConnections} connections already served");
                try
                {
                    request.Reject();
                }
                catch (Exception e) when (e is IwarpException or System.Net.Sockets.SocketException)
                {
                    // The peer is gone; the log line above is all there is to say.
                }
                connection.Dispose();
                return;
            }
            _active.Add(connection);
        }
        try
        {
            var probe = new ProbeServer(connection);
            NegotiatedParameters parameters = request.Accept(connection);
            Log(request.RemoteEndPoint, $"established: {parameters}");
            Task session = Task.Factory.StartNew(() => Serve(connection, probe, cancellationToken), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default);
            lock (_active)
            {
                _sessions.RemoveAll(t => t.IsCompleted);
                _sessions.Add(session);
            }
        }
        catch (Exception e) when (e is IwarpException or System.Net.Sockets.SocketException or UserInputException)
        {
            Log(request.RemoteEndPoint, $"accept failed: {(e is IwarpException iw ? Describe(iw) : e.Message)}");
            Retire(connection);
        }
    }

    private void Serve(IwarpConnection connection, ProbeServer probe, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        EndPoint? peer = connection.RemoteEndPoint;
        try
        {
            probe.Run(cancellationToken);
            string how = cancellationToken.IsCancellationRequested ? "closed at shutdown" : "closed by the peer";
            Log(peer, $"{how} after {probe.RequestsServed} probe request(s), {connection.BytesReceived} octets in, {connection.BytesSent} out, {clock.Elapsed.TotalSeconds:0.###} s");
        }
        catch (IwarpException e)
        {
            Log(peer, $"failed after {probe.RequestsServed} probe request(s): {Describe(e)}");
        }
        finally
        {
            Retire(connection);
        }
    }

    private void Retire(IwarpConnection connection)
    {
        lock (_active)
        {
            _active.Remove(connection);
        }
        connection.Dispose();
    }

    /// <summary>"TerminateSent (peer): message" plus the Terminate and the first bytes when there are any.</summary>
    public static string Describe(IwarpException e) =>
        $"{e.Kind} ({(e.DetectedBy == ErrorSource.Peer ? "peer" : "local")}, {e.Phase}): {e.Message}";

    private void Log(EndPoint? peer, string message) =>
        _log.WriteLine($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {peer?.ToString() ?? "?"} {message}");

    public void Dispose()
    {
        _listener.Dispose();
        IwarpConnection[] active;
        Task[] sessions;
        lock (_active)
        {
            active = [.. _active];
            sessions = [.. _sessions];
        }
        foreach (IwarpConnection connection in active)
        {
            connection.Dispose();
        }
        Task.WaitAll(sessions, TimeSpan.FromSeconds(5));
    }
}
