using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using RdmaDiag.Endpoint;
using RdmaDiag.Native;

namespace RdmaDiag.Verbs;

/// <summary>
/// An rdma_cm listener (rdma_bind_addr, rdma_listen). One thread reads the listener's event channel:
/// CONNECT_REQUESTs queue for <see cref="AcceptAsync"/>; events for accepted connections (ESTABLISHED,
/// DISCONNECTED), whose ids were born on this channel, go to the connection they name.
/// </summary>
public sealed class VerbsListener : ITransportListener
{
    private static readonly TimeSpan ReadSlice = TimeSpan.FromMilliseconds(200);

    private readonly RdmaEventChannel _channel;
    private readonly RdmaCmId _id;
    private readonly VerbsOptions _options;
    private readonly Channel<RdmaCmEvent> _requests = Channel.CreateUnbounded<RdmaCmEvent>();
    private readonly ConcurrentDictionary<RdmaCmId, DispatchedEvents> _children = new();
    private readonly Thread _reader;
    private volatile bool _stopping;

    private VerbsListener(RdmaEventChannel channel, RdmaCmId id, VerbsOptions options, IPEndPoint local)
    {
        _channel = channel;
        _id = id;
        _options = options;
        LocalEndPoint = local;
        _reader = new Thread(ReadEvents) { IsBackground = true, Name = $"rdma_cm listener {local}" };
    }

    public EndPoint LocalEndPoint { get; }

    public string Description => "rdma_cm on the kernel's RDMA devices";

    public event Action<EndPoint?, string>? SetupFailed;

    /// <summary>
    /// Binds and listens. Throws <see cref="VerbsUnavailableException"/> when this host has no usable
    /// RDMA, <see cref="RdmaNativeException"/> when the address cannot be bound (EADDRINUSE...).
    /// </summary>
    public static VerbsListener Start(IPEndPoint endpoint, VerbsOptions? options = null, int backlog = 64)
    {
        options ??= VerbsOptions.Default;
        options.Validate();
        RdmaEventChannel channel = VerbsConnection.OpenChannel(options);
        RdmaCmId? id = null;
        try
        {
            id = VerbsConnection.CreateId(channel, options);
            id.BindAddress(endpoint);
            id.Listen(backlog);
            var listener = new VerbsListener(channel, id, options, id.LocalEndPoint ?? endpoint);
            listener._reader.Start();
            return listener;
        }
        catch
        {
            id?.Dispose();
            channel.Dispose();
            throw;
        }
    }

    private void ReadEvents()
    {
        while (!_stopping)
        {
            RdmaCmEvent? e;
            try
            {
                e = _channel.GetEvent(ReadSlice);
            }
            catch (InvalidOperationException)
            {
                continue;
            }
            catch (Exception failure) when (failure is RdmaNativeException or ObjectDisposedException)
            {
                if (!_stopping)
                {
                    SetupFailed?.Invoke(null, $"the listener's event channel failed: {failure.Message}");
                }
                break;
            }
            if (e is null)
            {
                continue;
            }
            if (e.Type == RdmaCmEventType.ConnectRequest && e.ListenId == _id)
            {
                _requests.Writer.TryWrite(e);
            }
            else if (_children.TryGetValue(e.Id, out DispatchedEvents? events))
            {
                events.Post(e);
            }
            else if (e.Id == _id && e.Type is RdmaCmEventType.DeviceRemoval or RdmaCmEventType.AddrChange)
            {
                SetupFailed?.Invoke(null, $"listener: {VerbsFailures.Describe(e.Type, e.Status)}");
            }
        }
    }

    /// <summary>
    /// The next connection request, its PD, CQ and QP created; register and post on its
    /// <see cref="VerbsConnectionRequest.Connection"/>, then accept or reject it.
    /// </summary>
    public async Task<VerbsConnectionRequest> AcceptRequestAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            RdmaCmEvent request = await _requests.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var events = new DispatchedEvents();
            _children[request.Id] = events;
            try
            {
                VerbsConnection connection = VerbsConnection.ForRequest(request.Id, events, _options, () => _children.TryRemove(request.Id, out _));
                return new VerbsConnectionRequest(request, connection, _options);
            }
            catch (IwarpException e)
            {
                _children.TryRemove(request.Id, out _);
                SetupFailed?.Invoke(e.RemoteEndPoint, $"{TransportServer.Describe(e)}; the request was rejected");
            }
        }
    }

    async Task<ITransportRequest> ITransportListener.AcceptAsync(CancellationToken cancellationToken) =>
        await AcceptRequestAsync(cancellationToken).ConfigureAwait(false);

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }
        _stopping = true;
        if (_reader.IsAlive && _reader != Thread.CurrentThread)
        {
            _reader.Join(ReadSlice * 5);
        }
        _requests.Writer.TryComplete();
        while (_requests.Reader.TryRead(out RdmaCmEvent? pending))
        {
            try
            {
                pending.Id.Reject([]);
            }
            catch (RdmaNativeException)
            {
                // The peer gave up already.
            }
            pending.Id.Dispose();
        }
        _id.Dispose();
        _channel.Dispose();
    }
}

/// <summary>A CONNECT_REQUEST with its connection prepared: accept or reject it.</summary>
public sealed class VerbsConnectionRequest : ITransportRequest
{
    private readonly RdmaCmEvent _request;
    private readonly VerbsOptions _options;

    internal VerbsConnectionRequest(RdmaCmEvent request, VerbsConnection connection, VerbsOptions options)
    {
        _request = request;
        _options = options;
        Connection = connection;
    }

    public VerbsConnection Connection { get; }

    public IRdmaTransport Transport => Connection;

    public EndPoint? RemoteEndPoint => Connection.RemoteEndPoint;

    /// <summary>The initiator's private data (the MPA v2 IRD/ORD block already removed by the provider).</summary>
    public ReadOnlyMemory<byte> PrivateData => _request.PrivateData;

    /// <summary>IRD the request leaves for this side (what librdmacm would accept with when given no parameters).</summary>
    public byte OfferedResponderResources => _request.ResponderResources;

    public byte OfferedInitiatorDepth => _request.InitiatorDepth;

    /// <summary>
    /// rdma_accept with the request's IRD/ORD capped by <see cref="VerbsOptions"/> (rping accepts with
    /// none, which makes librdmacm use the request's), then waits for ESTABLISHED.
    /// </summary>
    public VerbsConnectionInfo Accept(ReadOnlySpan<byte> privateData = default, CancellationToken cancellationToken = default) =>
        Connection.Accept(
            Offered(_request.ResponderResources, _options.ResponderResources),
            Offered(_request.InitiatorDepth, _options.InitiatorDepth),
            privateData, cancellationToken);

    private static byte Offered(byte offered, byte limit) => offered == 0 ? limit : Math.Min(offered, limit);

    string ITransportRequest.Accept() => Accept().ToString();

    /// <summary>rdma_reject with <paramref name="privateData"/>, then releases the connection.</summary>
    public void Reject(ReadOnlySpan<byte> privateData)
    {
        try
        {
            Connection.Reject(privateData);
        }
        finally
        {
            Connection.Dispose();
        }
    }

    void ITransportRequest.Reject() => Reject([]);
}
