using System.Net;

namespace RdmaDiag.Native;

/// <summary>
/// An rdma_cm identifier (rdma_cm_id): the RDMA analogue of a socket. Resolve, connect, listen, accept,
/// reject and disconnect report their outcome as events on the channel the id was created on.
/// </summary>
public sealed unsafe class RdmaCmId : IDisposable
{
    private readonly RdmaEventChannel _channel;
    private readonly nint _native;
    private VerbsContext? _verbs;

    internal RdmaCmId(RdmaCmIdHandle handle, RdmaEventChannel channel)
    {
        Handle = handle;
        _channel = channel;
        _native = handle.DangerousGetHandle();
    }

    internal RdmaCmIdHandle Handle { get; }

    public RdmaEventChannel Channel => _channel;

    /// <summary>
    /// The device the id is bound to (cm_id->verbs): set once the address is resolved or bound to a
    /// device address, and on ids from CONNECT_REQUEST. Null before that. Owned by librdmacm.
    /// </summary>
    public VerbsContext? Verbs
    {
        get
        {
            using var lease = new HandleLease(Handle);
            var context = ((Interop.RdmaCm.rdma_cm_id*)lease.Pointer)->verbs;
            if (context is null)
            {
                return null;
            }
            if (_verbs is null || _verbs.Handle.DangerousGetHandle() != (nint)context)
            {
                _verbs?.Dispose();
                _verbs = VerbsContext.Borrow(context, Handle);
            }
            return _verbs;
        }
    }

    public byte PortNum
    {
        get
        {
            using var lease = new HandleLease(Handle);
            return ((Interop.RdmaCm.rdma_cm_id*)lease.Pointer)->port_num;
        }
    }

    /// <summary>rdma_get_local_addr (inline in rdma_cma.h: &amp;id->route.addr.src_addr).</summary>
    public IPEndPoint? LocalEndPoint
    {
        get
        {
            using var lease = new HandleLease(Handle);
            return SockAddr.Read(new ReadOnlySpan<byte>(((Interop.RdmaCm.rdma_cm_id*)lease.Pointer)->route_addr_src_storage, SockAddr.StorageSize));
        }
    }

    /// <summary>rdma_get_peer_addr (inline: &amp;id->route.addr.dst_addr).</summary>
    public IPEndPoint? PeerEndPoint
    {
        get
        {
            using var lease = new HandleLease(Handle);
            return SockAddr.Read(new ReadOnlySpan<byte>(((Interop.RdmaCm.rdma_cm_id*)lease.Pointer)->route_addr_dst_storage, SockAddr.StorageSize));
        }
    }

    public void BindAddress(IPEndPoint local)
    {
        var storage = stackalloc byte[SockAddr.StorageSize];
        SockAddr.Write(local, new Span<byte>(storage, SockAddr.StorageSize));
        using var lease = new HandleLease(Handle);
        Check(Interop.RdmaCm.rdma_bind_addr((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, storage), "rdma_bind_addr", local.ToString());
    }

    /// <summary>rdma_resolve_addr; completes with ADDR_RESOLVED or ADDR_ERROR.</summary>
    public void ResolveAddress(IPEndPoint? source, IPEndPoint destination, TimeSpan timeout)
    {
        var src = stackalloc byte[SockAddr.StorageSize];
        var dst = stackalloc byte[SockAddr.StorageSize];
        if (source is not null)
        {
            SockAddr.Write(source, new Span<byte>(src, SockAddr.StorageSize));
        }
        SockAddr.Write(destination, new Span<byte>(dst, SockAddr.StorageSize));
        using var lease = new HandleLease(Handle);
        Check(Interop.RdmaCm.rdma_resolve_addr((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, source is null ? null : src, dst, Milliseconds(timeout)),
            "rdma_resolve_addr", destination.ToString());
    }

    /// <summary>rdma_resolve_route; completes with ROUTE_RESOLVED or ROUTE_ERROR.</summary>
    public void ResolveRoute(TimeSpan timeout)
    {
        using var lease = new HandleLease(Handle);
        Check(Interop.RdmaCm.rdma_resolve_route((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, Milliseconds(timeout)), "rdma_resolve_route");
    }

    /// <summary>
    /// rdma_create_qp: the QP belongs to this id, and rdma_cm moves it through its states on connect/accept
    /// (the only way on iWARP, where the connection manager owns the transition to RTS).
    /// </summary>
    public QueuePair CreateQueuePair(ProtectionDomain pd, QueuePairOptions options)
    {
        using var lease = new HandleLease(Handle);
        using var pdLease = new HandleLease(pd.Handle);
        using var send = new HandleLease(options.SendCq.Handle);
        using var recv = new HandleLease(options.RecvCq.Handle);
        var attr = options.ToNative((Interop.IbVerbs.ibv_cq*)send.Pointer, (Interop.IbVerbs.ibv_cq*)recv.Pointer);
        var id = (Interop.RdmaCm.rdma_cm_id*)lease.Pointer;
        Check(Interop.RdmaCm.rdma_create_qp(id, (Interop.IbVerbs.ibv_pd*)pdLease.Pointer, &attr), "rdma_create_qp", options.ToString());
        var handle = new RdmaCmQpHandle { Id = id };
        handle.Attach((nint)id->qp, Handle, pd.Handle, options.SendCq.Handle, options.RecvCq.Handle);
        return new QueuePair(handle, pd.Context.Transport, QueuePairCapabilities.From(attr));
    }

    /// <summary>rdma_connect; completes with ESTABLISHED, REJECTED, UNREACHABLE or CONNECT_ERROR.</summary>
    public void Connect(ConnectionParameters parameters)
    {
        fixed (byte* pd = parameters.PrivateData)
        {
            var param = parameters.ToNative(pd);
            using var lease = new HandleLease(Handle);
            Check(Interop.RdmaCm.rdma_connect((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, &param), "rdma_connect", PeerEndPoint?.ToString());
        }
    }

    public void Listen(int backlog)
    {
        using var lease = new HandleLease(Handle);
        Check(Interop.RdmaCm.rdma_listen((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, backlog), "rdma_listen", LocalEndPoint?.ToString());
    }

    /// <summary>rdma_accept on an id from CONNECT_REQUEST; completes with ESTABLISHED.</summary>
    public void Accept(ConnectionParameters parameters)
    {
        fixed (byte* pd = parameters.PrivateData)
        {
            var param = parameters.ToNative(pd);
            using var lease = new HandleLease(Handle);
            Check(Interop.RdmaCm.rdma_accept((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, &param), "rdma_accept", PeerEndPoint?.ToString());
        }
    }

    /// <summary>rdma_reject with private data (on iWARP: an MPA Reply with the R bit).</summary>
    public void Reject(ReadOnlySpan<byte> privateData)
    {
        if (privateData.Length > ConnectionParameters.MaxPrivateData)
        {
            throw new UserInputException(
                $"reject private data of {privateData.Length} bytes: rdma_cm carries at most {ConnectionParameters.MaxPrivateData}");
        }
        fixed (byte* pd = privateData)
        {
            using var lease = new HandleLease(Handle);
            Check(Interop.RdmaCm.rdma_reject((Interop.RdmaCm.rdma_cm_id*)lease.Pointer, privateData.IsEmpty ? null : pd, (byte)privateData.Length),
                "rdma_reject", PeerEndPoint?.ToString());
        }
    }

    /// <summary>rdma_disconnect; both sides then see DISCONNECTED.</summary>
    public void Disconnect()
    {
        using var lease = new HandleLease(Handle);
        Check(Interop.RdmaCm.rdma_disconnect((Interop.RdmaCm.rdma_cm_id*)lease.Pointer), "rdma_disconnect", PeerEndPoint?.ToString());
    }

    /// <summary>
    /// Destroys the id (rdma_destroy_id) once everything made on it is disposed: QP, PD and the borrowed
    /// context hold references, so dispose them first for the id to go at once.
    /// </summary>
    public void Dispose()
    {
        _verbs?.Dispose();
        _channel.Forget(_native);
        Handle.Dispose();
    }

    private static int Milliseconds(TimeSpan timeout) => (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);

    // librdmacm convention: -1 and errno.
    private static void Check(int rc, string function, string? detail = null)
    {
        if (rc != 0)
        {
            throw RdmaNativeException.FromLastError(function, detail);
        }
    }
}
