using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Latency;

/// <summary>
/// The far end of `rdmadiag latency send|write|read --soft`: an MPA responder on the userspace endpoint
/// that speaks <see cref="SoftLatencyProtocol"/>. Each connection gets its own thread: it echoes Sends
/// (send), answers each RDMA Write by polling its region's last octet and Writing back (write), or
/// lets the client Read its region (read). Send and read connections have no receive thread: the
/// session thread drives the stream itself (inline progress), one thread hand-off less per message.
/// Hosted by `rdmadiag serve --soft` (through <see cref="LatencyServices"/>), in-process for loopback
/// runs and in tests. Dispose closes the listener and every connection.
/// </summary>
public sealed class SoftLatencyResponder : IDisposable
{
    /// <summary>Connections served at once; more are rejected with status Busy.</summary>
    public const int MaxConnections = 16;

    /// <summary>A session whose client sends nothing for this long (inside a size) is ended.</summary>
    private static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(30);

    private readonly IwarpListener _listener;
    private readonly TextWriter _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _acceptThread;
    private readonly Lock _gate = new();
    private readonly List<Session> _sessions = [];
    private long _accepted;

    /// <exception cref="UserInputException">the address cannot be bound.</exception>
    public SoftLatencyResponder(IPEndPoint listenOn, IwarpSetupOptions? setup = null, TextWriter? log = null, int maxMessage = SoftLatencyProtocol.MaxMessageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessage, 1);
        MaxMessage = maxMessage;
        _log = log is null ? TextWriter.Null : TextWriter.Synchronized(log);
        try
        {
            _listener = IwarpListener.Start(listenOn, setup, failure => Log(failure.RemoteEndPoint, $"setup failed: {SoftServer.Describe(failure)}"));
        }
        catch (SocketException e)
        {
            throw new UserInputException($"soft latency responder: cannot listen on {listenOn}: {e.Message}");
        }
        _acceptThread = new Thread(AcceptLoop) { Name = "soft latency accept", IsBackground = true };
        _acceptThread.Start();
    }

    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>The largest message (and region) this responder accepts, announced in every MPA Reply.</summary>
    public int MaxMessage { get; }

    /// <summary>Connections accepted so far (including ones already closed).</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>
    /// The responder a soft latency run talks to: the one at HOST (default port
    /// <see cref="SoftLatencyProtocol.DefaultPort"/>), or without HOST a new one in-process on loopback
    /// that the caller disposes. Its CRC policy is "off": it follows what the client asks for.
    /// </summary>
    internal static (SoftLatencyResponder? Local, IPEndPoint Target) ForRun(LatencyRunSettings settings, string mode, List<string> notes)
    {
        if (settings.Host is null)
        {
            var local = new SoftLatencyResponder(new IPEndPoint(IPAddress.Loopback, settings.Port));
            notes.Add($"{mode}: own initiator, an in-process soft latency responder on {local.LocalEndPoint}");
            return (local, local.LocalEndPoint);
        }
        var target = new IPEndPoint(LatencyResponder.Resolve(settings.Host), settings.Port == 0 ? SoftLatencyProtocol.DefaultPort : settings.Port);
        notes.Add($"{mode}: soft latency responder at {settings.Host} ({target})");
        return (null, target);
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _listener.Dispose();
        _acceptThread.Join();
        Session[] sessions;
        lock (_gate)
        {
            sessions = [.. _sessions];
        }
        foreach (var session in sessions)
        {
            session.Connection.Dispose();
        }
        foreach (var session in sessions)
        {
            session.Thread.Join(TimeSpan.FromSeconds(5));
        }
    }

    private void AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            IwarpConnectionRequest request;
            try
            {
                request = _listener.AcceptAsync(_stop.Token).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            using (request)
            {
                Admit(request);
            }
        }
    }

    private void Admit(IwarpConnectionRequest request)
    {
        var peer = request.RemoteEndPoint;
        if (!SoftLatencyProtocol.TryReadHello(request.PrivateData.Span, out var version, out var op, out var flags))
        {
            Refuse(request, SoftLatencyStatus.BadRequest, $"refused: private data {IwarpException.FormatBytes(request.PrivateData.Span[..Math.Min(16, request.PrivateData.Length)])} is not a soft latency hello");
            return;
        }
        if (version != SoftLatencyProtocol.Version)
        {
            Refuse(request, SoftLatencyStatus.BadVersion, $"refused: protocol version {version}, this responder speaks {SoftLatencyProtocol.Version}");
            return;
        }
        if (!SoftLatencyProtocol.IsKnown(op))
        {
            Refuse(request, SoftLatencyStatus.BadRequest, $"refused: unknown operation {(byte)op}");
            return;
        }
        lock (_gate)
        {
            _sessions.RemoveAll(s => !s.Thread.IsAlive && s.Thread.ThreadState != System.Threading.ThreadState.Unstarted);
            if (_sessions.Count >= MaxConnections)
            {
                Refuse(request, SoftLatencyStatus.Busy, $"refused: {MaxConnections} latency connections already served");
                return;
            }
        }
        var busyPoll = (flags & SoftLatencyProtocol.FlagBusyPoll) != 0;
        var connection = new IwarpConnection(new IwarpConnectionOptions
        {
            Progress = op == SoftLatencyOp.Write ? ProgressMode.Background : ProgressMode.Inline,
            BusyPoll = busyPoll,
        });
        var session = new Session(this, connection, op, busyPoll, peer);
        try
        {
            var parameters = request.Accept(connection, SoftLatencyProtocol.WriteReply(SoftLatencyStatus.Ok, MaxMessage));
            Log(peer, $"established: {op.ToString().ToLowerInvariant()}{(busyPoll ? " busy-poll" : "")}, {parameters}");
        }
        catch (Exception e) when (e is IwarpException or SocketException or UserInputException or ObjectDisposedException or InvalidOperationException)
        {
            Log(peer, $"accept failed: {(e is IwarpException iw ? SoftServer.Describe(iw) : e.Message)}");
            connection.Dispose();
            return;
        }
        Interlocked.Increment(ref _accepted);
        lock (_gate)
        {
            _sessions.Add(session);
        }
        session.Thread.Start();
    }

    private void Refuse(IwarpConnectionRequest request, SoftLatencyStatus status, string why)
    {
        Log(request.RemoteEndPoint, why);
        try
        {
            request.Reject(SoftLatencyProtocol.WriteReply(status, MaxMessage));
        }
        catch (Exception e) when (e is IwarpException or SocketException or UserInputException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone already; the log line says what it was refused for.
        }
    }

    private void Log(EndPoint? peer, string message) =>
        _log.WriteLine($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} latency {peer?.ToString() ?? "?"} {message}");

    /// <summary>One client connection, served on its own thread until the client closes.</summary>
    private sealed class Session
    {
        private readonly SoftLatencyResponder _owner;
        private readonly SoftLatencyOp _op;
        private readonly bool _busyPoll;
        private readonly EndPoint? _peer;
        private readonly byte[] _control = new byte[SoftLatencyProtocol.ControlLength];
        private readonly byte[] _reply = new byte[SoftLatencyProtocol.ControlLength];
        private byte[] _a = [];
        private byte[] _b = [];
        private int _sizes;

        public Session(SoftLatencyResponder owner, IwarpConnection connection, SoftLatencyOp op, bool busyPoll, EndPoint? peer)
        {
            _owner = owner;
            Connection = connection;
            _op = op;
            _busyPoll = busyPoll;
            _peer = peer;
            // Posted before the Reply goes out: the client's Setup may follow it at once.
            connection.PostReceive(0, _control);
            Thread = new Thread(Run) { Name = $"soft latency {op.ToString().ToLowerInvariant()}", IsBackground = true };
        }

        public IwarpConnection Connection { get; }

        public Thread Thread { get; }

        private void Run()
        {
            var clock = Stopwatch.StartNew();
            try
            {
                while (true)
                {
                    var completion = WaitIdle();
                    if (completion.Opcode != CompletionOpcode.Receive || !completion.IsSuccess)
                    {
                        continue;
                    }
                    if (!SoftLatencyControl.TryRead(_control.AsSpan(0, completion.ByteLength), out var setup, out var error) || setup.Opcode != SoftLatencyOpcode.Setup)
                    {
                        _owner.Log(_peer, $"bad Setup: {(error.Length > 0 ? error : $"opcode {setup.Opcode}")}");
                        Connection.PostReceive(0, _control);
                        Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, SoftLatencyStatus.BadRequest));
                        continue;
                    }
                    if (setup.Size < 1 || setup.Size > _owner.MaxMessage)
                    {
                        Connection.PostReceive(0, _control);
                        Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, SoftLatencyStatus.BadRequest, setup.Size));
                        continue;
                    }
                    var done = _op switch
                    {
                        SoftLatencyOp.Send => ServeSend(setup),
                        SoftLatencyOp.Write => ServeWrite(setup),
                        _ => ServeRead(setup),
                    };
                    Connection.PostReceive(0, _control);
                    Reply(done);
                    _sizes++;
                }
            }
            catch (IwarpException e) when (e.Kind is IwarpErrorKind.ConnectionClosed or IwarpErrorKind.LocalClose)
            {
                _owner.Log(_peer, $"{(_owner._stop.IsCancellationRequested ? "closed at shutdown" : "closed by the peer")} after {_sizes} size(s), {Connection.BytesReceived} octets in, {Connection.BytesSent} out, {clock.Elapsed.TotalSeconds:0.###} s");
            }
            catch (IwarpException e)
            {
                _owner.Log(_peer, $"failed after {_sizes} size(s): {SoftServer.Describe(e)}");
            }
            catch (TimeoutException e)
            {
                _owner.Log(_peer, $"ended: {e.Message}");
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                // Posting on a connection that Dispose (shutdown) closed under this thread.
                _owner.Log(_peer, $"closed at shutdown after {_sizes} size(s)");
            }
            finally
            {
                Connection.Dispose();
            }
        }

        /// <summary>Between sizes: waits as long as the client likes, until the connection closes.</summary>
        private Completion WaitIdle()
        {
            while (true)
            {
                try
                {
                    return Connection.WaitForCompletion(TimeSpan.FromSeconds(1));
                }
                catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
                {
                    // Nothing yet; a closed connection ends the wait with its own error.
                }
            }
        }

        /// <summary>Inside a size: the next Receive, or the client is gone after <see cref="IdleLimit"/>.</summary>
        private Completion WaitReceive()
        {
            while (true)
            {
                Completion completion;
                try
                {
                    completion = Connection.WaitForCompletion(IdleLimit);
                }
                catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
                {
                    throw new TimeoutException($"no message from the client within {IdleLimit.TotalSeconds:0} s inside a size");
                }
                if (completion.Opcode == CompletionOpcode.Receive)
                {
                    return completion;
                }
            }
        }

        private SoftLatencyControl ServeSend(in SoftLatencyControl setup)
        {
            // One receive posted at a time, swapped before each echo: the client sends the next message
            // only after our echo arrived, and its end marker (0 octets) fits any buffer.
            var capacity = Math.Max(setup.Size, SoftLatencyProtocol.ControlLength);
            if (_a.Length < capacity)
            {
                _a = new byte[capacity];
                _b = new byte[capacity];
            }
            var current = _a;
            Connection.PostReceive(1, current.AsMemory(0, capacity));
            Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, Size: setup.Size));
            long count = 0;
            while (true)
            {
                var completion = WaitReceive();
                if (completion.ByteLength == 0)
                {
                    break;
                }
                var next = ReferenceEquals(current, _a) ? _b : _a;
                Connection.PostReceive(1, next.AsMemory(0, capacity));
                Connection.PostSend(0, current.AsSpan(0, completion.ByteLength), PostFlags.None);
                current = next;
                count++;
            }
            return new SoftLatencyControl(SoftLatencyOpcode.Done, Size: setup.Size, Count: count);
        }

        private SoftLatencyControl ServeWrite(in SoftLatencyControl setup)
        {
            var region = new byte[setup.Size];
            var mr = Connection.RegisterMemory(region, MemoryAccess.LocalWrite | MemoryAccess.RemoteWrite);
            try
            {
                var source = new byte[setup.Size];
                Endpoint.ProbeMessage.FillPattern(source, SoftLatencyProtocol.ResponderSeed(setup.Seed));
                Connection.PostReceive(0, _control);
                Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, Size: setup.Size, TaggedOffset: mr.BaseTO, STag: mr.STag));
                var idleTicks = (long)(IdleLimit.TotalSeconds * Stopwatch.Frequency);
                byte previous = 0;
                long exchange = 0;
                var status = SoftLatencyStatus.Ok;
                while (true)
                {
                    var seen = LastOctetPoller.WaitForChange(region, previous, Connection, _busyPoll, idleTicks, watchCompletions: true, out var completion);
                    if (seen < 0)
                    {
                        if (completion.Opcode == CompletionOpcode.Receive && completion.ByteLength == 0)
                        {
                            break;
                        }
                        continue;
                    }
                    exchange++;
                    if (seen != SoftLatencyProtocol.Tag(exchange))
                    {
                        status = SoftLatencyStatus.DataMismatch;
                    }
                    source[^1] = SoftLatencyProtocol.Tag(exchange);
                    Connection.PostWrite(0, source, setup.STag, setup.TaggedOffset, PostFlags.None);
                    previous = (byte)seen;
                }
                // The end marker came after the client saw our last Write, so its own last Write is
                // placed in full: the region must hold the client's pattern and the last tag.
                var expected = new byte[setup.Size];
                Endpoint.ProbeMessage.FillPattern(expected, setup.Seed);
                expected[^1] = exchange == 0 ? (byte)0 : SoftLatencyProtocol.Tag(exchange);
                if (exchange > 0 && !region.AsSpan().SequenceEqual(expected))
                {
                    status = SoftLatencyStatus.DataMismatch;
                }
                return new SoftLatencyControl(SoftLatencyOpcode.Done, status, setup.Size, exchange);
            }
            finally
            {
                Connection.DeregisterMemory(mr);
            }
        }

        private SoftLatencyControl ServeRead(in SoftLatencyControl setup)
        {
            var region = new byte[setup.Size];
            Endpoint.ProbeMessage.FillPattern(region, setup.Seed);
            var mr = Connection.RegisterMemory(region, MemoryAccess.RemoteRead);
            try
            {
                Connection.PostReceive(0, _control);
                Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, Size: setup.Size, TaggedOffset: mr.BaseTO, STag: mr.STag));
                // The Reads are served by the connection itself while this thread waits (and, inline,
                // drives the stream); the end marker is the only message to wait for.
                while (WaitReceive().ByteLength != 0)
                {
                }
                return new SoftLatencyControl(SoftLatencyOpcode.Done, Size: setup.Size);
            }
            finally
            {
                Connection.DeregisterMemory(mr);
            }
        }

        private void Reply(in SoftLatencyControl message)
        {
            message.Write(_reply);
            Connection.PostSend(0, _reply, PostFlags.None);
        }
    }
}
