using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Native;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>
/// The far end of `rdmadiag latency send|write|read`: a responder that speaks
/// <see cref="SoftLatencyProtocol"/> on the userspace endpoint (--soft) or through rdma_cm on this
/// host's RDMA device (--verbs, <see cref="StartVerbs"/>); the sessions run over
/// <see cref="IRdmaTransport"/>, the same code on both. Each connection gets its own thread: it echoes Sends
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

    private readonly Doorway _listener;
    private readonly TextWriter _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _acceptThread;
    private readonly Lock _gate = new();
    private readonly List<Session> _sessions = [];
    private long _accepted;

    /// <exception cref="UserInputException">the address cannot be bound.</exception>
    public SoftLatencyResponder(IPEndPoint listenOn, IwarpSetupOptions? setup = null, TextWriter? log = null, int maxMessage = SoftLatencyProtocol.MaxMessageSize)
        : this(log, maxMessage, responder =>
        {
            try
            {
                return new SoftDoorway(IwarpListener.Start(listenOn, setup,
                    failure => responder.Log(failure.RemoteEndPoint, $"setup failed: {SoftServer.Describe(failure)}")));
            }
            catch (SocketException e)
            {
                throw new UserInputException($"soft latency responder: cannot listen on {listenOn}: {e.Message}");
            }
        })
    {
    }

    private SoftLatencyResponder(TextWriter? log, int maxMessage, Func<SoftLatencyResponder, Doorway> listen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessage, 1);
        MaxMessage = maxMessage;
        _log = log is null ? TextWriter.Null : TextWriter.Synchronized(log);
        _listener = listen(this);
        _acceptThread = new Thread(AcceptLoop) { Name = $"{_listener.Engine} latency accept", IsBackground = true };
        _acceptThread.Start();
    }

    /// <summary>
    /// A responder listening through rdma_cm on <paramref name="listenOn"/> (the device that holds the
    /// address serves). Throws <see cref="VerbsUnavailableException"/> when this host has no usable RDMA,
    /// <see cref="UserInputException"/> when the address cannot be bound.
    /// </summary>
    public static SoftLatencyResponder StartVerbs(IPEndPoint listenOn, TextWriter? log = null, int maxMessage = SoftLatencyProtocol.MaxMessageSize) =>
        new(log, maxMessage, responder =>
        {
            try
            {
                var listener = VerbsListener.Start(listenOn, VerbsOptions.Default);
                listener.SetupFailed += (peer, why) => responder.Log(peer, $"setup failed: {why}");
                return new VerbsDoorway(listener);
            }
            catch (RdmaNativeException e)
            {
                throw new UserInputException($"verbs latency responder: cannot listen on {listenOn}: {e.Message}");
            }
        });

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint;

    /// <summary>"soft" or "verbs".</summary>
    public string Engine => _listener.Engine;

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
            session.Transport.Dispose();
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
            Request request;
            try
            {
                request = _listener.Accept(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or System.Threading.Channels.ChannelClosedException)
            {
                return;
            }
            try
            {
                Admit(request);
            }
            finally
            {
                request.Release();
            }
        }
    }

    private void Admit(Request request)
    {
        var peer = request.RemoteEndPoint;
        if (!SoftLatencyProtocol.TryReadHello(request.PrivateData.Span, out var version, out var op, out var flags))
        {
            Refuse(request, SoftLatencyStatus.BadRequest, $"refused: private data {IwarpException.FormatBytes(request.PrivateData.Span[..Math.Min(16, request.PrivateData.Length)])} is not a latency hello");
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
        var transport = request.Take(op, busyPoll);
        Session session;
        try
        {
            session = new Session(this, transport, op, busyPoll, peer);
            var parameters = request.Accept(SoftLatencyProtocol.WriteReply(SoftLatencyStatus.Ok, MaxMessage));
            Log(peer, $"established: {op.ToString().ToLowerInvariant()}{(busyPoll ? " busy-poll" : "")}, {parameters}");
        }
        catch (Exception e) when (e is IwarpException or SocketException or UserInputException or ObjectDisposedException or InvalidOperationException)
        {
            Log(peer, $"accept failed: {(e is IwarpException iw ? SoftServer.Describe(iw) : e.Message)}");
            transport.Dispose();
            return;
        }
        Interlocked.Increment(ref _accepted);
        lock (_gate)
        {
            _sessions.Add(session);
        }
        session.Thread.Start();
    }

    private void Refuse(Request request, SoftLatencyStatus status, string why)
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
        private readonly TransportRegion _control;
        private readonly TransportRegion _reply;
        private TransportRegion? _a;
        private TransportRegion? _b;
        private int _sizes;

        public Session(SoftLatencyResponder owner, IRdmaTransport transport, SoftLatencyOp op, bool busyPoll, EndPoint? peer)
        {
            _owner = owner;
            Transport = transport;
            _op = op;
            _busyPoll = busyPoll;
            _peer = peer;
            _control = transport.Register(SoftLatencyProtocol.ControlLength, MemoryAccess.LocalWrite);
            _reply = transport.Register(SoftLatencyProtocol.ControlLength, MemoryAccess.None);
            // Posted before the Reply goes out: the client's Setup may follow it at once.
            PostControlReceive();
            Thread = new Thread(Run) { Name = $"{owner.Engine} latency {op.ToString().ToLowerInvariant()}", IsBackground = true };
        }

        public IRdmaTransport Transport { get; }

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
                    if (!SoftLatencyControl.TryRead(_control.Span[..completion.ByteLength], out var setup, out var error) || setup.Opcode != SoftLatencyOpcode.Setup)
                    {
                        _owner.Log(_peer, $"bad Setup: {(error.Length > 0 ? error : $"opcode {setup.Opcode}")}");
                        PostControlReceive();
                        Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, SoftLatencyStatus.BadRequest));
                        continue;
                    }
                    if (setup.Size < 1 || setup.Size > _owner.MaxMessage)
                    {
                        PostControlReceive();
                        Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, SoftLatencyStatus.BadRequest, setup.Size));
                        continue;
                    }
                    var done = _op switch
                    {
                        SoftLatencyOp.Send => ServeSend(setup),
                        SoftLatencyOp.Write => ServeWrite(setup),
                        _ => ServeRead(setup),
                    };
                    PostControlReceive();
                    Reply(done);
                    _sizes++;
                }
            }
            catch (IwarpException e) when (e.Kind is IwarpErrorKind.ConnectionClosed or IwarpErrorKind.LocalClose)
            {
                var octets = Transport is SoftTransport soft ? $", {soft.Connection.BytesReceived} octets in, {soft.Connection.BytesSent} out" : "";
                _owner.Log(_peer, $"{(_owner._stop.IsCancellationRequested ? "closed at shutdown" : "closed by the peer")} after {_sizes} size(s){octets}, {clock.Elapsed.TotalSeconds:0.###} s");
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
                Transport.Dispose();
            }
        }

        private void PostControlReceive() => Transport.PostReceive(0, _control, 0, SoftLatencyProtocol.ControlLength);

        /// <summary>Between sizes: waits as long as the client likes, until the connection closes.</summary>
        private Completion WaitIdle()
        {
            while (true)
            {
                try
                {
                    return Transport.WaitForCompletion(TimeSpan.FromSeconds(1));
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
                    completion = Transport.WaitForCompletion(IdleLimit);
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
            if (_a is null || _b is null || _a.Length < capacity)
            {
                _a?.Dispose();
                _b?.Dispose();
                _a = Transport.Register(capacity, MemoryAccess.LocalWrite);
                _b = Transport.Register(capacity, MemoryAccess.LocalWrite);
            }
            var current = _a;
            Transport.PostReceive(1, current, 0, capacity);
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
                Transport.PostReceive(1, next, 0, capacity);
                LatencyPosts.Send(Transport, current, completion.ByteLength);
                current = next;
                count++;
            }
            return new SoftLatencyControl(SoftLatencyOpcode.Done, Size: setup.Size, Count: count);
        }

        private SoftLatencyControl ServeWrite(in SoftLatencyControl setup)
        {
            using var region = Transport.Register(setup.Size, MemoryAccess.LocalWrite | MemoryAccess.RemoteWrite);
            using var source = Transport.Register(setup.Size, MemoryAccess.None);
            Endpoint.ProbeMessage.FillPattern(source.Span, SoftLatencyProtocol.ResponderSeed(setup.Seed));
            PostControlReceive();
            Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, Size: setup.Size, TaggedOffset: region.RemoteAddress, STag: region.RemoteKey));
            var idleTicks = (long)(IdleLimit.TotalSeconds * Stopwatch.Frequency);
            byte previous = 0;
            long exchange = 0;
            var status = SoftLatencyStatus.Ok;
            while (true)
            {
                var seen = LastOctetPoller.WaitForChange(region, previous, Transport, _busyPoll, idleTicks, watchCompletions: true, out var completion);
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
                source.Span[^1] = SoftLatencyProtocol.Tag(exchange);
                LatencyPosts.Write(Transport, source, setup.STag, setup.TaggedOffset);
                previous = (byte)seen;
            }
            // The end marker came after the client saw our last Write, so its own last Write is
            // placed in full: the region must hold the client's pattern and the last tag.
            var expected = new byte[setup.Size];
            Endpoint.ProbeMessage.FillPattern(expected, setup.Seed);
            expected[^1] = exchange == 0 ? (byte)0 : SoftLatencyProtocol.Tag(exchange);
            if (exchange > 0 && !region.Span.SequenceEqual(expected))
            {
                status = SoftLatencyStatus.DataMismatch;
            }
            return new SoftLatencyControl(SoftLatencyOpcode.Done, status, setup.Size, exchange);
        }

        private SoftLatencyControl ServeRead(in SoftLatencyControl setup)
        {
            using var region = Transport.Register(setup.Size, MemoryAccess.RemoteRead);
            Endpoint.ProbeMessage.FillPattern(region.Span, setup.Seed);
            PostControlReceive();
            Reply(new SoftLatencyControl(SoftLatencyOpcode.Ready, Size: setup.Size, TaggedOffset: region.RemoteAddress, STag: region.RemoteKey));
            // The Reads are served by the connection (or the device) while this thread waits and, on the
            // soft endpoint inline, drives the stream; the end marker is the only message to wait for.
            while (WaitReceive().ByteLength != 0)
            {
            }
            return new SoftLatencyControl(SoftLatencyOpcode.Done, Size: setup.Size);
        }

        private void Reply(in SoftLatencyControl message)
        {
            message.Write(_reply.Span);
            LatencyPosts.Send(Transport, _reply, SoftLatencyProtocol.ControlLength);
        }
    }

    /// <summary>Where connection requests come from: the userspace endpoint's listener or rdma_cm's.</summary>
    private abstract class Doorway : IDisposable
    {
        public abstract string Engine { get; }

        public abstract EndPoint LocalEndPoint { get; }

        public abstract Request Accept(CancellationToken cancellationToken);

        public abstract void Dispose();
    }

    /// <summary>A connection request carrying the client's hello, answered with the Reply's private data.</summary>
    private abstract class Request
    {
        public abstract EndPoint? RemoteEndPoint { get; }

        public abstract ReadOnlyMemory<byte> PrivateData { get; }

        /// <summary>The transport the session runs on, prepared (receives can be posted) but not yet accepted.</summary>
        public abstract IRdmaTransport Take(SoftLatencyOp op, bool busyPoll);

        /// <summary>Accepts with <paramref name="reply"/>; returns what the connection runs with, for the log.</summary>
        public abstract string Accept(byte[] reply);

        public abstract void Reject(byte[] reply);

        /// <summary>After Accept or Reject: what the request still holds.</summary>
        public virtual void Release()
        {
        }
    }

    private sealed class SoftDoorway(IwarpListener listener) : Doorway
    {
        public override string Engine => "soft";

        public override EndPoint LocalEndPoint => listener.LocalEndPoint;

        public override Request Accept(CancellationToken cancellationToken) =>
            new SoftRequest(listener.AcceptAsync(cancellationToken).GetAwaiter().GetResult());

        public override void Dispose() => listener.Dispose();
    }

    private sealed class SoftRequest(IwarpConnectionRequest request) : Request
    {
        private IwarpConnection? _connection;

        public override EndPoint? RemoteEndPoint => request.RemoteEndPoint;

        public override ReadOnlyMemory<byte> PrivateData => request.PrivateData;

        public override IRdmaTransport Take(SoftLatencyOp op, bool busyPoll)
        {
            // Write is polled in memory while the receive thread places it; send and read sessions
            // wait on completions and drive the stream themselves.
            _connection = new IwarpConnection(new IwarpConnectionOptions
            {
                Progress = op == SoftLatencyOp.Write ? ProgressMode.Background : ProgressMode.Inline,
                BusyPoll = busyPoll,
            });
            return new SoftTransport(_connection);
        }

        public override string Accept(byte[] reply) =>
            request.Accept(_connection ?? throw new InvalidOperationException("Take the transport before accepting"), reply).ToString();

        public override void Reject(byte[] reply) => request.Reject(reply);

        public override void Release() => request.Dispose();
    }

    private sealed class VerbsDoorway(VerbsListener listener) : Doorway
    {
        public override string Engine => "verbs";

        public override EndPoint LocalEndPoint => listener.LocalEndPoint;

        public override Request Accept(CancellationToken cancellationToken) =>
            new VerbsRequest(listener.AcceptRequestAsync(cancellationToken).GetAwaiter().GetResult());

        public override void Dispose() => listener.Dispose();
    }

    private sealed class VerbsRequest(VerbsConnectionRequest request) : Request
    {
        private bool _taken;

        public override EndPoint? RemoteEndPoint => request.RemoteEndPoint;

        public override ReadOnlyMemory<byte> PrivateData => request.PrivateData;

        public override IRdmaTransport Take(SoftLatencyOp op, bool busyPoll)
        {
            _taken = true;
            return request.Connection;
        }

        public override string Accept(byte[] reply) => request.Accept(reply).ToString();

        public override void Reject(byte[] reply)
        {
            // rdma_reject releases the connection itself.
            _taken = true;
            request.Reject(reply);
        }

        public override void Release()
        {
            if (!_taken)
            {
                request.Connection.Dispose();
            }
        }
    }
}
