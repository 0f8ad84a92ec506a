using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Endpoint;

public enum ConnectionState : byte
{
    Idle,
    Connecting,
    Established,
    Failed,
    Closed,
}

/// <summary>
/// One iWARP connection over a TCP socket, MPA/DDP/RDMAP in user space (like Linux siw): a queue pair
/// and its stream. Create it, register memory and post receives, then <see cref="Connect"/> as MPA
/// initiator or hand it to <see cref="IwarpConnectionRequest.Accept"/> as responder.
/// </summary>
/// <remarks>
/// <para>Data path: every message is cut into FPDUs of at most the MULPDU computed from the socket's
/// TCP_MAXSEG, built into one reusable buffer and written with one synchronous Socket.Send per batch.
/// One receive loop reads large chunks into one reusable buffer and parses the FPDUs in place; nothing
/// on either path allocates per message.</para>
/// <para>Sends, Writes and Immediates complete when their last octet is handed to TCP. Receives
/// complete in order; Reads and Atomics when their response has arrived. Inbound Read and Atomic
/// responses are sent by a helper thread started on first use, so the receive loop never blocks
/// behind a large response.</para>
/// <para>Every violation found in what the peer sends is answered with the Terminate RFC 5040 §7 asks
/// for, then the stream stops; the connection's <see cref="Error"/> then says why, with evidence.</para>
/// </remarks>
public sealed partial class IwarpConnection : IDisposable
{
    private readonly IwarpConnectionOptions _options;
    private readonly object _stateLock = new();
    private Socket? _socket;
    private volatile ConnectionState _state;
    private volatile IwarpException? _error;
    private NegotiatedParameters? _parameters;

    // Memory regions: copy-on-write so the receive path looks up STags without a lock.
    private readonly object _regionLock = new();
    private volatile Dictionary<uint, MemoryRegion> _regions = [];
    private long _registeredBytes;

    // Posted receives, FIFO.
    private readonly object _receiveQueueLock = new();
    private readonly ReceiveEntry[] _receiveQueue;
    private int _receiveHead;
    private int _receiveCount;

    // Completion queue; _stateLock guards it and is the monitor waiters sleep on.
    private readonly Completion[] _completions;
    private int _completionHead;
    private int _completionCount;
    private int _waiters;
    private bool _completionOverrun;

    private long _bytesSent;
    private long _bytesReceived;
    private long _fpdusSent;
    private long _fpdusReceived;
    private long _lastReceiveTimestamp;

    private Thread? _receiveThread;

    public IwarpConnection(IwarpConnectionOptions? options = null)
    {
        _options = options ?? IwarpConnectionOptions.Default;
        _options.Validate();
        _receiveQueue = new ReceiveEntry[_options.MaxReceiveQueueDepth];
        _completions = new Completion[_options.CompletionQueueDepth];
    }

    public IwarpConnectionOptions Options => _options;

    public ConnectionState State => _state;

    /// <summary>What was agreed during setup; null before the connection is established.</summary>
    public NegotiatedParameters? Parameters => _parameters;

    /// <summary>Why the connection stopped (a Terminate, a CRC error, a close...); null while it works.</summary>
    public IwarpException? Error => _error;

    public EndPoint? RemoteEndPoint { get; private set; }

    public EndPoint? LocalEndPoint { get; private set; }

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long FpdusSent => Interlocked.Read(ref _fpdusSent);

    public long FpdusReceived => Interlocked.Read(ref _fpdusReceived);

    /// <summary>
    /// Connects as MPA initiator: TCP connect, MPA Request, Reply, negotiation, and the RTR in
    /// peer-to-peer mode. Throws <see cref="IwarpException"/> with the failure's kind and evidence.
    /// </summary>
    public NegotiatedParameters Connect(EndPoint remote, IwarpSetupOptions? setup = null, ReadOnlyMemory<byte> privateData = default,
        CancellationToken cancellationToken = default)
    {
        setup ??= IwarpSetupOptions.Default;
        setup.Validate();
        setup.ValidatePrivateData(privateData.Span);
        lock (_stateLock)
        {
            if (_state != ConnectionState.Idle)
            {
                throw new InvalidOperationException($"connection is {_state}; Connect needs a new one");
            }
            _state = ConnectionState.Connecting;
        }

        IPEndPoint target = MpaHandshake.Resolve(remote);
        Socket socket = MpaHandshake.CreateSocket(target.AddressFamily);
        using CancellationTokenRegistration cancel = cancellationToken.Register(socket.Dispose);
        try
        {
            MpaHandshake.Connect(socket, target, setup.ConnectTimeout);
            MpaStartFrame request = MpaNegotiation.BuildRequest(setup, privateData);
            MpaHandshake.SendFrame(socket, request);
            MpaStartFrame reply = MpaHandshake.ReceiveFrame(socket, setup.PrivateDataLimit, setup.InitiatorHandshakeTimeout, "Reply");
            NegotiatedParameters parameters;
            try
            {
                parameters = MpaNegotiation.EvaluateReply(request, reply, setup, out var terminate);
            }
            catch (IwarpException e) when (e.Kind is IwarpErrorKind.InsufficientIrd or IwarpErrorKind.NoMatchingRtr)
            {
                SendSetupTerminate(socket, request, reply, e.Kind);
                throw e.WithRemote(target);
            }
            catch (IwarpException e)
            {
                throw e.WithRemote(target);
            }
            Attach(socket, parameters, RtrTypes.None);
            if (parameters.Rtr != RtrType.None)
            {
                SendRtr(parameters.Rtr);
            }
            Start();
            return _parameters!;
        }
        catch (Exception e) when (e is IwarpException or SocketException or ObjectDisposedException)
        {
            socket.Dispose();
            lock (_stateLock)
            {
                _state = ConnectionState.Failed;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("connect cancelled", e, cancellationToken);
            }
            var error = e as IwarpException ?? (e is SocketException se
                ? IwarpException.FromSocket(se, ConnectionPhase.MpaHandshake, target, "connection setup")
                : new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.MpaHandshake, "the socket was closed during setup", e));
            _error = error;
            throw error;
        }
    }

    /// <summary><see cref="Connect"/> on a dedicated thread (the socket stays synchronous for speed).</summary>
    public Task<NegotiatedParameters> ConnectAsync(EndPoint remote, IwarpSetupOptions? setup = null, ReadOnlyMemory<byte> privateData = default,
        CancellationToken cancellationToken = default) =>
        Task.Factory.StartNew(() => Connect(remote, setup, privateData, cancellationToken), cancellationToken,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Takes over an accepted socket as MPA responder once the Reply is on the wire.</summary>
    internal void AttachResponder(Socket socket, NegotiatedParameters parameters, RtrTypes acceptedRtr)
    {
        lock (_stateLock)
        {
            if (_state != ConnectionState.Idle)
            {
                throw new InvalidOperationException($"connection is {_state}; Accept needs a new one");
            }
            _state = ConnectionState.Connecting;
        }
        Attach(socket, parameters, acceptedRtr);
        Start();
    }

    private void Attach(Socket socket, NegotiatedParameters parameters, RtrTypes acceptedRtr)
    {
        _socket = socket;
        socket.NoDelay = true;
        socket.ReceiveTimeout = 0;
        socket.SendTimeout = 0;
        RemoteEndPoint = MpaHandshake.SafeRemote(socket);
        LocalEndPoint = socket.LocalEndPoint;
        int emss = _options.EmssOverride ?? ReadMss(socket);
        int mulpdu = Mulpdu.FromEmss(emss, parameters.MarkersSent);
        _parameters = parameters with { Emss = emss, Mulpdu = mulpdu };
        InitializeTransmit(_parameters);
        InitializeReceive(_parameters, acceptedRtr);
        _lastReceiveTimestamp = Stopwatch.GetTimestamp();
    }

    private void Start()
    {
        lock (_stateLock)
        {
            if (_state == ConnectionState.Connecting)
            {
                _state = ConnectionState.Established;
            }
        }
        if (_options.Progress == ProgressMode.Background)
        {
            _receiveThread = new Thread(ReceiveLoop) { IsBackground = true, Name = $"iwarp-rx {RemoteEndPoint}" };
            _receiveThread.Start();
        }
    }

    /// <summary>TCP_MAXSEG: the MSS the kernel uses for this connection.</summary>
    private static int ReadMss(Socket socket)
    {
        Span<byte> value = stackalloc byte[sizeof(int)];
        try
        {
            int length = socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 2 /* TCP_MAXSEG */, value);
            return length == sizeof(int) ? BitConverter.ToInt32(value) : 1460;
        }
        catch (SocketException)
        {
            return 1460;
        }
    }

    /// <summary>
    /// Registers <paramref name="buffer"/> under a new random STag (never 0 or 1: 1 is what RTRs carry).
    /// Throws <see cref="IwarpException"/> (LocalResourceLimit) past <see cref="IwarpConnectionOptions.MaxRegisteredBytes"/>.
    /// </summary>
    public MemoryRegion RegisterMemory(Memory<byte> buffer, MemoryAccess access, ulong baseTO = 0)
    {
        if (baseTO + (ulong)buffer.Length < baseTO)
        {
            throw new ArgumentOutOfRangeException(nameof(baseTO), $"TO 0x{baseTO:X} + {buffer.Length} wraps past 2^64");
        }
        lock (_regionLock)
        {
            if (_registeredBytes + buffer.Length > _options.MaxRegisteredBytes)
            {
                throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
                    $"registering {buffer.Length} octets would exceed the limit of {_options.MaxRegisteredBytes} registered octets ({_registeredBytes} in use)");
            }
            var regions = new Dictionary<uint, MemoryRegion>(_regions);
            uint stag;
            do
            {
                stag = (uint)RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);
            }
            while (stag <= 1 || regions.ContainsKey(stag));
            var region = new MemoryRegion(stag, baseTO, buffer, access);
            regions.Add(stag, region);
            _registeredBytes += buffer.Length;
            _regions = regions;
            return region;
        }
    }

    public void DeregisterMemory(MemoryRegion region)
    {
        lock (_regionLock)
        {
            if (!_regions.ContainsKey(region.STag))
            {
                return;
            }
            var regions = new Dictionary<uint, MemoryRegion>(_regions);
            regions.Remove(region.STag);
            _registeredBytes -= region.Length;
            region.Invalidate();
            _regions = regions;
        }
    }

    internal MemoryRegion? FindRegion(uint stag) => _regions.GetValueOrDefault(stag);

    /// <summary>Posts a receive buffer for one incoming Send or Immediate Data message (FIFO).</summary>
    public void PostReceive(ulong workRequestId, Memory<byte> buffer)
    {
        ThrowIfUnusable();
        lock (_receiveQueueLock)
        {
            if (_receiveCount == _receiveQueue.Length)
            {
                throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
                    $"receive queue full: {_receiveCount} receives posted, limit {_receiveQueue.Length}");
            }
            _receiveQueue[(_receiveHead + _receiveCount) % _receiveQueue.Length] = new ReceiveEntry(workRequestId, buffer);
            _receiveCount++;
        }
    }

    public int PostedReceives
    {
        get
        {
            lock (_receiveQueueLock)
            {
                return _receiveCount;
            }
        }
    }

    private bool TryTakeReceive(out ReceiveEntry entry)
    {
        lock (_receiveQueueLock)
        {
            if (_receiveCount == 0)
            {
                entry = default;
                return false;
            }
            entry = _receiveQueue[_receiveHead];
            _receiveQueue[_receiveHead] = default;
            _receiveHead = (_receiveHead + 1) % _receiveQueue.Length;
            _receiveCount--;
            return true;
        }
    }

    private void ThrowIfUnusable()
    {
        if (_state is ConnectionState.Closed)
        {
            throw new ObjectDisposedException(nameof(IwarpConnection));
        }
        if (_error is { } error && _state == ConnectionState.Failed)
        {
            throw error;
        }
    }

    private void AddCompletion(in Completion completion)
    {
        bool overrun = false;
        lock (_stateLock)
        {
            if (_completionCount == _completions.Length)
            {
                overrun = !_completionOverrun;
                _completionOverrun = true;
            }
            else
            {
                _completions[(_completionHead + _completionCount) % _completions.Length] = completion;
                _completionCount++;
            }
            if (_waiters > 0)
            {
                Monitor.PulseAll(_stateLock);
            }
        }
        if (overrun)
        {
            Fail(new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
                $"completion queue overrun: {_completions.Length} completions not polled"));
        }
    }

    /// <summary>Takes the oldest completion, if any; never blocks and never drives progress.</summary>
    public bool TryPollCompletion(out Completion completion)
    {
        if (Volatile.Read(ref _completionCount) == 0)
        {
            completion = default;
            return false;
        }
        lock (_stateLock)
        {
            if (_completionCount == 0)
            {
                completion = default;
                return false;
            }
            completion = _completions[_completionHead];
            _completionHead = (_completionHead + 1) % _completions.Length;
            _completionCount--;
            return true;
        }
    }

    /// <summary>
    /// Waits for the next completion. Throws <see cref="IwarpException"/>: Stall when nothing completes
    /// within <paramref name="timeout"/> (the connection stays usable), or the connection's
    /// <see cref="Error"/> once it has failed and every completion has been taken.
    /// </summary>
    public Completion WaitForCompletion(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var spinner = new SpinWait();
        while (true)
        {
            if (TryPollCompletion(out Completion completion))
            {
                return completion;
            }
            if (_state is ConnectionState.Failed or ConnectionState.Closed)
            {
                if (TryPollCompletion(out completion))
                {
                    return completion;
                }
                throw _error ?? new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.FullOperation, "the connection is closed");
            }
            cancellationToken.ThrowIfCancellationRequested();
            long now = Stopwatch.GetTimestamp();
            if (now >= deadline)
            {
                throw Stall(timeout, "waiting for a completion");
            }
            if (_options.Progress == ProgressMode.Inline)
            {
                DriveProgress(deadline);
            }
            else if (_options.BusyPoll)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            else
            {
                SleepUntilSignalled(deadline);
            }
        }
    }

    /// <summary><see cref="WaitForCompletion"/> on a pool thread.</summary>
    public Task<Completion> WaitForCompletionAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Task.Run(() => WaitForCompletion(timeout, cancellationToken), cancellationToken);

    /// <summary>Blocks on the state monitor until a completion, a state change or the deadline (at most 100 ms, to see cancellation).</summary>
    private void SleepUntilSignalled(long deadline)
    {
        lock (_stateLock)
        {
            if (_completionCount > 0 || _state is ConnectionState.Failed or ConnectionState.Closed)
            {
                return;
            }
            long left = deadline - Stopwatch.GetTimestamp();
            int ms = (int)Math.Clamp(left * 1000 / Stopwatch.Frequency + 1, 1, 100);
            _waiters++;
            try
            {
                Monitor.Wait(_stateLock, ms);
            }
            finally
            {
                _waiters--;
            }
        }
    }

    private void Signal()
    {
        lock (_stateLock)
        {
            if (_waiters > 0)
            {
                Monitor.PulseAll(_stateLock);
            }
        }
    }

    internal IwarpException Stall(TimeSpan waited, string what)
    {
        double idle = Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReceiveTimestamp)).TotalSeconds;
        return new IwarpException(IwarpErrorKind.Stall, ConnectionPhase.FullOperation,
            $"no progress within {waited.TotalSeconds:0.###} s {what}: {BytesReceived} octets / {FpdusReceived} FPDUs received so far, the last {idle:0.###} s ago{DescribeReceiveProgress()}")
        {
            RemoteEndPoint = RemoteEndPoint,
            BytesReceived = BytesReceived,
            Waited = waited,
        };
    }

    /// <summary>
    /// Marks the connection failed with <paramref name="error"/> (first error wins), stops the stream
    /// and flushes outstanding work. After a Terminate we sent, only our sending half is shut so the
    /// Terminate reaches the peer before the socket closes.
    /// </summary>
    internal void Fail(IwarpException error, bool keepReceiving = false)
    {
        lock (_stateLock)
        {
            if (_error is not null || _state == ConnectionState.Closed)
            {
                return;
            }
            _error = error;
            _state = ConnectionState.Failed;
        }
        StopReceiving();
        try
        {
            _socket?.Shutdown(keepReceiving ? SocketShutdown.Send : SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already reset or closed: nothing left to stop.
        }
        FlushOutstanding(error);
        StopWorker();
        Signal();
    }

    private void FlushOutstanding(IwarpException error)
    {
        FlushOutbound(error);
        // Receives belong to whoever runs the receive loop; when that is another thread (the receive
        // thread, or an inline waiter inside a blocking receive) it flushes them as it stops.
        if (Monitor.TryEnter(_progressLock))
        {
            try
            {
                FlushReceives();
            }
            finally
            {
                Monitor.Exit(_progressLock);
            }
        }
    }

    /// <summary>The Send being received, then every posted receive, complete as flushed, in order; the caller owns the receive loop.</summary>
    private void FlushReceives()
    {
        FlushInboundMessage();
        while (TryTakeReceive(out ReceiveEntry entry))
        {
            AddCompletion(new Completion(entry.WorkRequestId, CompletionOpcode.Receive, CompletionStatus.Flushed, 0));
        }
    }

    /// <summary>Graceful close: FIN to the peer, outstanding work flushed, socket closed.</summary>
    public void Close()
    {
        if (_state == ConnectionState.Established)
        {
            try
            {
                _socket?.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The peer may have reset first; closing anyway.
            }
        }
        Dispose();
    }

    public void Dispose()
    {
        Fail(new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.FullOperation, "the connection was closed locally") { RemoteEndPoint = RemoteEndPoint });
        lock (_stateLock)
        {
            if (_state == ConnectionState.Closed)
            {
                return;
            }
            _state = ConnectionState.Closed;
            Monitor.PulseAll(_stateLock);
        }
        _socket?.Dispose();
        if (_receiveThread is { } thread && thread != Thread.CurrentThread)
        {
            thread.Join(TimeSpan.FromSeconds(2));
        }
        JoinWorker();
    }

    public override string ToString() => $"iWARP {LocalEndPoint} -> {RemoteEndPoint} {_state}{(_parameters is { } p ? $" [{p}]" : "")}";

    private readonly record struct ReceiveEntry(ulong WorkRequestId, Memory<byte> Buffer);
}
