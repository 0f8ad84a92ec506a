using System.Diagnostics;
using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Native;
using NativeRegion = RdmaDiag.Native.MemoryRegion;

namespace RdmaDiag.Verbs;

/// <summary>
/// One reliable connection through rdma_cm on a kernel RDMA device (an RNIC, siw, rxe): a cm id, a
/// protection domain, one completion queue on a completion channel, and the QP rdma_create_qp made.
/// Clients call <see cref="Create"/> (address and route resolution), register memory and post
/// receives, then <see cref="Connect"/>; servers get one from <see cref="VerbsListener"/>.
/// </summary>
/// <remarks>
/// The data path (posting, completions, waits) is <see cref="VerbsQueuePair"/>'s; this class adds
/// rdma_cm: resolution, connect/accept with IRD/ORD and private data, and the events that end a
/// connection. Failures become the <see cref="IwarpException"/> kinds the soft endpoint raises.
/// </remarks>
public sealed class VerbsConnection : IRdmaTransport
{
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(100);

    private readonly VerbsOptions _options;
    private readonly RdmaEventChannel? _ownedChannel;
    private readonly RdmaCmId _id;
    private readonly ICmEventSource _events;
    private readonly Action? _onDispose;
    private readonly List<NativeRegion> _regions = [];

    private ProtectionDomain? _pd;
    private VerbsQueuePair? _queue;
    private byte _maxIrd = byte.MaxValue;
    private byte _maxOrd = byte.MaxValue;
    private volatile ConnectionState _phase = ConnectionState.Idle;
    private volatile IwarpException? _setupError;
    private volatile bool _closing;
    private volatile bool _disposed;

    private VerbsConnection(RdmaCmId id, ICmEventSource events, VerbsOptions options, RdmaEventChannel? ownedChannel, Action? onDispose, IPEndPoint? remote)
    {
        _id = id;
        _events = events;
        _options = options;
        _ownedChannel = ownedChannel;
        _onDispose = onDispose;
        RemoteIPEndPoint = remote;
    }

    public string Name => $"verbs ({Device?.Name ?? "no device"})";

    public VerbsDeviceInfo? Device { get; private set; }

    /// <summary>Idle, Connecting, Established; Failed once an error is known; Closed once disposed.</summary>
    public ConnectionState State => _disposed ? ConnectionState.Closed : Error is not null ? ConnectionState.Failed : _phase;

    /// <summary>What the connection runs with; null until ESTABLISHED.</summary>
    public VerbsConnectionInfo? Info { get; private set; }

    public IwarpException? Error => _queue?.Error ?? _setupError;

    public EndPoint? LocalEndPoint => LocalIPEndPoint;

    public EndPoint? RemoteEndPoint => RemoteIPEndPoint;

    private IPEndPoint? LocalIPEndPoint { get; set; }

    private IPEndPoint? RemoteIPEndPoint { get; set; }

    private bool IsIwarp => Device is null || Device.TransportType == TransportType.Iwarp;

    /// <summary>
    /// Resolves <paramref name="remote"/>'s address and route through rdma_cm and creates the PD, CQ and
    /// QP on the device that reaches it. Throws <see cref="VerbsUnavailableException"/> when this host
    /// has no rdma-core, no RDMA kernel or no device on the route, and <see cref="IwarpException"/>
    /// (TcpUnreachable...) when the peer cannot be reached.
    /// </summary>
    public static VerbsConnection Create(IPEndPoint remote, VerbsOptions? options = null)
    {
        options ??= VerbsOptions.Default;
        options.Validate();
        RdmaEventChannel channel = OpenChannel(options);
        RdmaCmId? id = null;
        VerbsConnection? connection = null;
        try
        {
            id = CreateId(channel, options);
            connection = new VerbsConnection(id, new OwnedChannelEvents(channel), options, channel, onDispose: null, remote);
            connection.Resolve(remote);
            connection.CreateResources();
            return connection;
        }
        catch
        {
            if (connection is not null)
            {
                connection.Dispose();
            }
            else
            {
                id?.Dispose();
                channel.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// A CONNECT_REQUEST's id (its events dispatched by the listener) with resources created; when they
    /// cannot be, the request is rejected and the <see cref="IwarpException"/> says why.
    /// </summary>
    internal static VerbsConnection ForRequest(RdmaCmId id, DispatchedEvents events, VerbsOptions options, Action onDispose)
    {
        var connection = new VerbsConnection(id, events, options, ownedChannel: null, onDispose, id.PeerEndPoint);
        try
        {
            connection.LocalIPEndPoint = id.LocalEndPoint;
            connection.CreateResources();
            return connection;
        }
        catch (Exception e) when (e is IwarpException or InvalidOperationException)
        {
            try
            {
                id.Reject([]);
            }
            catch (RdmaNativeException)
            {
                // The initiator gave up already.
            }
            connection.Dispose();
            throw e as IwarpException ?? new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.MpaHandshake, e.Message) { RemoteEndPoint = connection.RemoteEndPoint };
        }
    }

    /// <summary>rdma_create_event_channel, turning "no RDMA here" into <see cref="VerbsUnavailableException"/>.</summary>
    internal static RdmaEventChannel OpenChannel(VerbsOptions options)
    {
        try
        {
            return RdmaEventChannel.Create();
        }
        catch (Exception e) when (VerbsFailures.Unavailable(e, options.Diagnose) is { } unavailable)
        {
            throw unavailable;
        }
    }

    internal static RdmaCmId CreateId(RdmaEventChannel channel, VerbsOptions options)
    {
        try
        {
            return channel.CreateId();
        }
        catch (Exception e) when (VerbsFailures.Unavailable(e, options.Diagnose) is { } unavailable)
        {
            throw unavailable;
        }
    }

    private void Resolve(IPEndPoint remote)
    {
        const ConnectionPhase Phase = ConnectionPhase.TcpConnect;
        try
        {
            _id.ResolveAddress(_options.Source, remote, _options.ResolveTimeout);
        }
        catch (RdmaNativeException e)
        {
            throw VerbsFailures.Unavailable(e, _options.Diagnose) ?? (Exception)VerbsFailures.FromCall(e, Phase, remote, "rdma_resolve_addr");
        }
        RdmaCmEvent addr = ExpectSetupEvent(_options.ResolveTimeout + Slice, Phase, IwarpErrorKind.TcpUnreachable, "ADDR_RESOLVED");
        if (addr.Type == RdmaCmEventType.AddrError && addr.Status == -Native.Errno.ENODEV)
        {
            throw VerbsFailures.NoDeviceOnRoute(remote, addr.Status, _options.Diagnose);
        }
        ThrowUnless(addr, RdmaCmEventType.AddrResolved, "ADDR_RESOLVED");
        try
        {
            _id.ResolveRoute(_options.ResolveTimeout);
        }
        catch (RdmaNativeException e)
        {
            throw VerbsFailures.FromCall(e, Phase, remote, "rdma_resolve_route");
        }
        RdmaCmEvent route = ExpectSetupEvent(_options.ResolveTimeout + Slice, Phase, IwarpErrorKind.TcpUnreachable, "ROUTE_RESOLVED");
        ThrowUnless(route, RdmaCmEventType.RouteResolved, "ROUTE_RESOLVED");
        LocalIPEndPoint = _id.LocalEndPoint;
        RemoteIPEndPoint = _id.PeerEndPoint ?? remote;
    }

    private void ThrowUnless(RdmaCmEvent e, RdmaCmEventType expected, string waitingFor)
    {
        if (e.Type != expected)
        {
            throw VerbsFailures.FromEvent(e.Type, e.Status, e.PrivateData, IsIwarp, RemoteIPEndPoint, waitingFor);
        }
    }

    /// <summary>The next event for this id within <paramref name="timeout"/> (the awaited one or the failure), or a timeout error of <paramref name="timeoutKind"/>.</summary>
    private RdmaCmEvent ExpectSetupEvent(TimeSpan timeout, ConnectionPhase phase, IwarpErrorKind timeoutKind, string waitingFor,
        CancellationToken cancellationToken = default)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            TimeSpan left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero)
            {
                throw VerbsFailures.Timeout(timeoutKind, phase, timeout, RemoteIPEndPoint, waitingFor);
            }
            RdmaCmEvent? e = _events.Next(left < Slice ? left : Slice);
            if (e is null || e.Id != _id || e.Type is RdmaCmEventType.TimewaitExit or RdmaCmEventType.AddrChange)
            {
                continue;
            }
            // CONNECT_RESPONSE only comes to ids without a QP; every other event answers the wait.
            if (e.Type != RdmaCmEventType.ConnectResponse)
            {
                return e;
            }
        }
    }

    private void CreateResources()
    {
        CompletionChannel? channel = null;
        CompletionQueue? cq = null;
        try
        {
            VerbsContext context = _id.Verbs
                ?? throw new InvalidOperationException("the rdma_cm id has no device after address resolution");
            Device = context.Device;
            DeviceAttributes attributes = context.QueryDevice();
            _maxIrd = (byte)Math.Clamp(attributes.MaxQpRdAtom, 0, byte.MaxValue);
            _maxOrd = (byte)Math.Clamp(attributes.MaxQpInitRdAtom, 0, byte.MaxValue);
            _pd = context.AllocateProtectionDomain();
            channel = context.CreateCompletionChannel();
            cq = context.CreateCompletionQueue((int)(_options.MaxSendWorkRequests + _options.MaxReceiveWorkRequests), channel);
            QueuePair qp = _id.CreateQueuePair(_pd, new QueuePairOptions(cq, cq)
            {
                MaxSendWr = _options.MaxSendWorkRequests,
                MaxRecvWr = _options.MaxReceiveWorkRequests,
            });
            _queue = new VerbsQueuePair(qp, cq, channel, (int)_options.MaxSendWorkRequests, (int)_options.MaxReceiveWorkRequests,
                ReadCmEvents, () => RemoteIPEndPoint, Name);
        }
        catch (RdmaNativeException e)
        {
            cq?.Dispose();
            channel?.Dispose();
            throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.TcpConnect,
                $"creating the protection domain, CQ and QP on {Device?.Name ?? "the device"}: {e.Message}",
                new RdmaCmEvidence(e.Message) { Function = e.Function, Errno = e.Errno })
            {
                RemoteEndPoint = RemoteIPEndPoint,
            };
        }
    }

    private VerbsQueuePair Queue => _queue ?? throw new ObjectDisposedException(nameof(VerbsConnection));

    /// <summary>
    /// rdma_connect with <see cref="VerbsOptions"/>' IRD/ORD (capped by the device) and private data,
    /// then waits for ESTABLISHED. Throws <see cref="IwarpException"/> with the kind the soft endpoint
    /// would raise (TcpRefused, TcpTimeout, MpaRejected with the peer's private data, ...).
    /// </summary>
    public VerbsConnectionInfo Connect(CancellationToken cancellationToken = default)
    {
        EnterConnecting("Connect");
        long start = Stopwatch.GetTimestamp();
        ConnectionParameters parameters = Parameters(_options.ResponderResources, _options.InitiatorDepth, _options.PrivateData);
        // siw connects TCP synchronously inside rdma_connect; a thread of its own keeps the timeout.
        Task call = Task.Factory.StartNew(() => _id.Connect(parameters), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            call.WaitAsync(_options.ConnectTimeout, cancellationToken).GetAwaiter().GetResult();
        }
        catch (TimeoutException)
        {
            call.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            throw FailSetup(new IwarpException(IwarpErrorKind.TcpTimeout, ConnectionPhase.TcpConnect,
                $"rdma_connect to {RemoteIPEndPoint} did not finish within {_options.ConnectTimeout.TotalSeconds:0.###} s (siw connects TCP inside the call: the SYNs went unanswered)")
            {
                RemoteEndPoint = RemoteIPEndPoint,
                Waited = _options.ConnectTimeout,
            });
        }
        catch (RdmaNativeException e)
        {
            throw FailSetup(VerbsFailures.FromCall(e, ConnectionPhase.TcpConnect, RemoteIPEndPoint, "rdma_connect"));
        }
        catch (OperationCanceledException)
        {
            call.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            FailSetup(new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.TcpConnect, "connect cancelled"));
            throw;
        }
        TimeSpan left = _options.ConnectTimeout - Stopwatch.GetElapsedTime(start);
        return AwaitEstablished(left > Slice ? left : Slice, "ESTABLISHED after rdma_connect", cancellationToken);
    }

    /// <summary>rdma_accept on a CONNECT_REQUEST's id, then waits for ESTABLISHED.</summary>
    internal VerbsConnectionInfo Accept(byte responderResources, byte initiatorDepth, ReadOnlySpan<byte> privateData, CancellationToken cancellationToken)
    {
        EnterConnecting("Accept");
        try
        {
            _id.Accept(Parameters(responderResources, initiatorDepth, privateData.ToArray()));
        }
        catch (RdmaNativeException e)
        {
            throw FailSetup(VerbsFailures.FromCall(e, ConnectionPhase.MpaHandshake, RemoteIPEndPoint, "rdma_accept"));
        }
        return AwaitEstablished(_options.AcceptTimeout, "ESTABLISHED after rdma_accept", cancellationToken);
    }

    /// <summary>rdma_reject with <paramref name="privateData"/> (an MPA Reply with R=1 on iWARP).</summary>
    internal void Reject(ReadOnlySpan<byte> privateData)
    {
        try
        {
            _id.Reject(privateData);
        }
        catch (RdmaNativeException e)
        {
            throw VerbsFailures.FromCall(e, ConnectionPhase.MpaHandshake, RemoteIPEndPoint, "rdma_reject");
        }
    }

    private void EnterConnecting(string what)
    {
        lock (_regions)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (State != ConnectionState.Idle)
            {
                throw new InvalidOperationException($"connection is {State}; {what} needs a new one");
            }
            _phase = ConnectionState.Connecting;
        }
    }

    private ConnectionParameters Parameters(byte responderResources, byte initiatorDepth, byte[] privateData) => new()
    {
        ResponderResources = Math.Min(responderResources, _maxIrd),
        InitiatorDepth = Math.Min(initiatorDepth, _maxOrd),
        PrivateData = privateData,
        RetryCount = 7,
        RnrRetryCount = 7,
    };

    private VerbsConnectionInfo AwaitEstablished(TimeSpan timeout, string waitingFor, CancellationToken cancellationToken)
    {
        RdmaCmEvent e;
        try
        {
            e = ExpectSetupEvent(timeout, ConnectionPhase.MpaHandshake,
                IsIwarp ? IwarpErrorKind.HandshakeTimeout : IwarpErrorKind.TcpTimeout, waitingFor, cancellationToken);
        }
        catch (IwarpException timeoutError)
        {
            throw FailSetup(timeoutError);
        }
        if (e.Type != RdmaCmEventType.Established)
        {
            throw FailSetup(VerbsFailures.FromEvent(e.Type, e.Status, e.PrivateData, IsIwarp, RemoteIPEndPoint, waitingFor));
        }
        LocalIPEndPoint = _id.LocalEndPoint ?? LocalIPEndPoint;
        RemoteIPEndPoint = _id.PeerEndPoint ?? RemoteIPEndPoint;
        Info = new VerbsConnectionInfo(Device?.Name ?? "?", Device?.TransportType ?? TransportType.Unknown, _queue?.QpNum ?? 0,
            e.ResponderResources, e.InitiatorDepth, LocalIPEndPoint, RemoteIPEndPoint, e.PrivateData);
        _phase = ConnectionState.Established;
        return Info;
    }

    private IwarpException FailSetup(IwarpException error)
    {
        Fail(error);
        return error;
    }

    // ---- data path ----

    public TransportRegion Register(int length, MemoryAccess access)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        // verbs refuses remote write or atomic access without local write (ibv_reg_mr EINVAL).
        var flags = (AccessFlags)(byte)access;
        if ((flags & (AccessFlags.RemoteWrite | AccessFlags.RemoteAtomic)) != 0)
        {
            flags |= AccessFlags.LocalWrite;
        }
        lock (_regions)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            NativeRegion mr;
            try
            {
                mr = _pd!.AllocateAndRegister(length, flags);
            }
            catch (RdmaNativeException e)
            {
                throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
                    $"registering {length} octets: {e.Message}{(e.Errno == Native.Errno.ENOMEM ? " (is the locked-memory limit, ulimit -l, too low?)" : "")}",
                    new RdmaCmEvidence(e.Message) { Function = e.Function, Errno = e.Errno });
            }
            _regions.Add(mr);
            return new VerbsRegion(this, mr);
        }
    }

    public void PostReceive(ulong workRequestId, TransportRegion region, int offset, int length) =>
        Queue.PostReceive(workRequestId, Sge(region, offset, length));

    public void PostSend(ulong workRequestId, TransportRegion region, int offset, int length, PostFlags flags = PostFlags.Signaled)
    {
        ScatterGatherElement sge = Sge(region, offset, length);
        Queue.PostSend(workRequestId, CompletionOpcode.Send, length, flags, (id, sendFlags) => SendWorkRequest.Send(id, sge, sendFlags));
    }

    public void PostWrite(ulong workRequestId, TransportRegion region, int offset, int length, uint remoteKey, ulong remoteAddress, PostFlags flags = PostFlags.Signaled)
    {
        ScatterGatherElement sge = Sge(region, offset, length);
        Queue.PostSend(workRequestId, CompletionOpcode.RdmaWrite, length, flags,
            (id, sendFlags) => SendWorkRequest.RdmaWrite(id, sge, remoteAddress, remoteKey, sendFlags));
    }

    public void PostRead(ulong workRequestId, TransportRegion sink, int offset, int length, uint remoteKey, ulong remoteAddress, PostFlags flags = PostFlags.Signaled)
    {
        ScatterGatherElement sge = Sge(sink, offset, length);
        Queue.PostSend(workRequestId, CompletionOpcode.RdmaRead, length, flags,
            (id, sendFlags) => SendWorkRequest.RdmaRead(id, sge, remoteAddress, remoteKey, sendFlags));
    }

    private ScatterGatherElement Sge(TransportRegion region, int offset, int length)
    {
        region.CheckSlice(offset, length);
        return region is VerbsRegion r && r.Owner == this
            ? r.Native.Slice(offset, length)
            : throw new ArgumentException($"{region} was not registered on this connection", nameof(region));
    }

    public Completion WaitForCompletion(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Queue.WaitForCompletion(timeout, cancellationToken);

    /// <summary>Reads the pending rdma_cm event, if any: between completion waits, so a DISCONNECTED ends them.</summary>
    private void ReadCmEvents()
    {
        if (_disposed)
        {
            return;
        }
        RdmaCmEvent? e;
        try
        {
            e = _events.Next(TimeSpan.Zero);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or RdmaNativeException)
        {
            return;
        }
        if (e is not null && e.Id == _id && e.Type is RdmaCmEventType.Disconnected or RdmaCmEventType.DeviceRemoval)
        {
            Fail(e.Type == RdmaCmEventType.DeviceRemoval
                ? VerbsFailures.FromEvent(e.Type, e.Status, e.PrivateData, IsIwarp, RemoteIPEndPoint, "completions")
                : Disconnected(e));
        }
    }

    private IwarpException Disconnected(RdmaCmEvent e) => _closing
        ? new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.FullOperation, "the connection was closed locally") { RemoteEndPoint = RemoteIPEndPoint }
        : new IwarpException(IwarpErrorKind.ConnectionClosed, ConnectionPhase.FullOperation, $"the peer closed the connection ({VerbsFailures.EventName(e.Type)})",
            new RdmaCmEvidence(VerbsFailures.EventName(e.Type)) { Event = e.Type, EventStatus = e.Status })
        {
            RemoteEndPoint = RemoteIPEndPoint,
            DetectedBy = ErrorSource.Peer,
        };

    private void Fail(IwarpException error)
    {
        if (_queue is { } queue)
        {
            queue.Fail(error);
        }
        else
        {
            _setupError ??= error;
        }
    }

    /// <summary>rdma_disconnect, then waits up to a second for DISCONNECTED before releasing everything.</summary>
    public void Close()
    {
        if (State == ConnectionState.Established)
        {
            _closing = true;
            try
            {
                _id.Disconnect();
                long deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
                while (State == ConnectionState.Established && Stopwatch.GetTimestamp() < deadline)
                {
                    if (_events.Next(Slice) is { Type: RdmaCmEventType.Disconnected } e && e.Id == _id)
                    {
                        Fail(Disconnected(e));
                    }
                }
            }
            catch (RdmaNativeException)
            {
                // Already disconnected by the peer; releasing is all that is left.
            }
        }
        Dispose();
    }

    public void Dispose()
    {
        lock (_regions)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            // Children first; each handle also holds its parents, so a late lease only delays a destroy.
            _queue?.Dispose();
            foreach (NativeRegion region in _regions)
            {
                region.Dispose();
            }
            _regions.Clear();
            _pd?.Dispose();
        }
        _id.Dispose();
        _ownedChannel?.Dispose();
        _onDispose?.Invoke();
    }

    public override string ToString() =>
        $"{Name} {LocalIPEndPoint} -> {RemoteIPEndPoint} {State}{(Info is { } info ? $" [{info}]" : "")}";

    private sealed class VerbsRegion(VerbsConnection owner, NativeRegion native) : TransportRegion
    {
        public VerbsConnection Owner { get; } = owner;

        public NativeRegion Native { get; } = native;

        public override uint RemoteKey => Native.RKey;

        public override ulong RemoteAddress => (ulong)Native.Address;

        public override int Length => (int)Native.Length;

        public override Span<byte> Span => Native.Span;

        public override void Dispose()
        {
            lock (Owner._regions)
            {
                Owner._regions.Remove(Native);
                Native.Dispose();
            }
        }
    }
}
