using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Threading.Channels;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Verbs;

/// <summary>
/// What <c>rdmadiag serve</c> runs on either transport: a listener whose connections each get a
/// session (the probe protocol's server, rping's) on their own thread. It logs one line when a
/// connection is set up (with what it runs with) or fails to be, and one when it ends (how, and what
/// was served).
/// </summary>
public sealed class TransportServer : IDisposable
{
    private readonly ITransportListener _listener;
    private readonly Func<IRdmaTransport, ITransportSession> _sessions;
    private readonly TextWriter _log;
    private readonly int _maxConnections;
    private readonly HashSet<IRdmaTransport> _active = [];
    private readonly List<Task> _running = [];

    private TransportServer(ITransportListener listener, Func<IRdmaTransport, ITransportSession> sessions, TextWriter log, int maxConnections)
    {
        _listener = listener;
        _sessions = sessions;
        _log = log;
        _maxConnections = maxConnections;
    }

    public EndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>
    /// Serves <paramref name="listener"/>'s connections with <paramref name="sessions"/>, which sets a
    /// session up on each prepared transport before it is accepted. Owns the listener from here on.
    /// </summary>
    public static TransportServer Start(ITransportListener listener, Func<IRdmaTransport, ITransportSession> sessions, TextWriter log, int maxConnections = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        var server = new TransportServer(listener, sessions, TextWriter.Synchronized(log), maxConnections);
        listener.SetupFailed += (peer, why) => server.Log(peer, $"setup failed: {why}");
        return server;
    }

    /// <summary>Serves until <paramref name="cancellationToken"/> fires, then closes the listener and every connection.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ITransportRequest request;
                try
                {
                    request = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or ChannelClosedException)
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

    private void Admit(ITransportRequest request, CancellationToken cancellationToken)
    {
        IRdmaTransport transport = request.Transport;
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
                return;
            }
            _active.Add(transport);
        }
        try
        {
            ITransportSession session = _sessions(transport);
            string parameters = request.Accept();
            Log(request.RemoteEndPoint, $"established: {parameters}");
            Task running = Task.Factory.StartNew(() => Serve(transport, session, cancellationToken), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default);
            lock (_active)
            {
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(running);
            }
        }
        catch (Exception e) when (e is IwarpException or System.Net.Sockets.SocketException or UserInputException)
        {
            Log(request.RemoteEndPoint, $"accept failed: {(e is IwarpException iw ? Describe(iw) : e.Message)}");
            Retire(transport);
        }
    }

    private void Serve(IRdmaTransport transport, ITransportSession session, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        EndPoint? peer = transport.RemoteEndPoint;
        try
        {
            session.Run(cancellationToken);
            string how = cancellationToken.IsCancellationRequested ? "closed at shutdown" : "closed by the peer";
            Log(peer, $"{how} after {session.Progress}, {clock.Elapsed.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s");
        }
        catch (IwarpException e)
        {
            Log(peer, $"failed after {session.Progress}: {Describe(e)}");
        }
        catch (InvalidDataException e)
        {
            Log(peer, $"failed after {session.Progress}: the peer broke the protocol: {e.Message}");
        }
        finally
        {
            Retire(transport);
        }
    }

    private void Retire(IRdmaTransport transport)
    {
        lock (_active)
        {
            _active.Remove(transport);
        }
        transport.Dispose();
    }

    /// <summary>"TerminateSent (peer, FullOperation): message".</summary>
    public static string Describe(IwarpException e) =>
        $"{e.Kind} ({(e.DetectedBy == ErrorSource.Peer ? "peer" : "local")}, {e.Phase}): {e.Message}";

    private void Log(EndPoint? peer, string message) =>
        _log.WriteLine($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {peer?.ToString() ?? "?"} {message}");

    public void Dispose()
    {
        _listener.Dispose();
        IRdmaTransport[] active;
        Task[] running;
        lock (_active)
        {
            active = [.. _active];
            running = [.. _running];
        }
        foreach (IRdmaTransport transport in active)
        {
            transport.Dispose();
        }
        Task.WaitAll(running, TimeSpan.FromSeconds(5));
    }
}
