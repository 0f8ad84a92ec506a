namespace RdmaDiag.Native;

/// <summary>
/// An rdma_cm event channel: the descriptor on which address/route resolution, connection requests,
/// establishment, rejection and disconnection of its ids are reported.
/// </summary>
public sealed unsafe class RdmaEventChannel : IDisposable
{
    private readonly Dictionary<nint, RdmaCmId> _ids = [];

    private RdmaEventChannel(RdmaEventChannelHandle handle) => Handle = handle;

    internal RdmaEventChannelHandle Handle { get; }

    /// <summary>rdma_create_event_channel. Without RDMA in the kernel it fails with ENODEV.</summary>
    public static RdmaEventChannel Create()
    {
        RdmaCoreLibraries.ThrowIfUnavailable(RdmaCoreLibraries.RdmaCm);
        var channel = Interop.RdmaCm.rdma_create_event_channel();
        if (channel is null)
        {
            throw RdmaNativeException.FromLastError("rdma_create_event_channel");
        }
        var handle = new RdmaEventChannelHandle();
        handle.Attach((nint)channel);
        return new RdmaEventChannel(handle);
    }

    public int Fd
    {
        get
        {
            using var lease = new HandleLease(Handle);
            return ((Interop.RdmaCm.rdma_event_channel*)lease.Pointer)->fd;
        }
    }

    /// <summary>rdma_create_id on this channel (RDMA_PS_TCP: reliable connected, what iWARP needs).</summary>
    public RdmaCmId CreateId(RdmaPortSpace portSpace = RdmaPortSpace.Tcp)
    {
        using var lease = new HandleLease(Handle);
        Interop.RdmaCm.rdma_cm_id* id;
        if (Interop.RdmaCm.rdma_create_id((Interop.RdmaCm.rdma_event_channel*)lease.Pointer, &id, null, (int)portSpace) != 0)
        {
            throw RdmaNativeException.FromLastError("rdma_create_id");
        }
        return Adopt(id);
    }

    private RdmaCmId Adopt(Interop.RdmaCm.rdma_cm_id* id)
    {
        var handle = new RdmaCmIdHandle();
        handle.Attach((nint)id, Handle);
        var managed = new RdmaCmId(handle, this);
        lock (_ids)
        {
            _ids[(nint)id] = managed;
        }
        return managed;
    }

    internal void Forget(nint id)
    {
        lock (_ids)
        {
            _ids.Remove(id);
        }
    }

    private RdmaCmId? Find(Interop.RdmaCm.rdma_cm_id* id)
    {
        if (id is null)
        {
            return null;
        }
        lock (_ids)
        {
            return _ids.GetValueOrDefault((nint)id);
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the next event; null on timeout. The event is copied
    /// (private data included) and acknowledged before returning. A CONNECT_REQUEST brings a new id,
    /// returned as <see cref="RdmaCmEvent.Id"/>, that the caller owns (accept or reject, then dispose).
    /// </summary>
    public RdmaCmEvent? GetEvent(TimeSpan timeout)
    {
        using var lease = new HandleLease(Handle);
        var channel = (Interop.RdmaCm.rdma_event_channel*)lease.Pointer;
        if (!FdWait.WaitReadable(channel->fd, timeout, "rdma_cm event channel"))
        {
            return null;
        }
        Interop.RdmaCm.rdma_cm_event* ev;
        if (Interop.RdmaCm.rdma_get_cm_event(channel, &ev) != 0)
        {
            throw RdmaNativeException.FromLastError("rdma_get_cm_event");
        }
        RdmaCmEvent result;
        try
        {
            var type = (RdmaCmEventType)ev->@event;
            var id = type == RdmaCmEventType.ConnectRequest ? Adopt(ev->id) : Find(ev->id);
            if (id is null)
            {
                throw new InvalidOperationException($"rdma_cm reported {type} for an id this channel does not know");
            }
            var privateData = ev->param_conn_private_data is null || ev->param_conn_private_data_len == 0
                ? []
                : new ReadOnlySpan<byte>(ev->param_conn_private_data, ev->param_conn_private_data_len).ToArray();
            result = new RdmaCmEvent(type, ev->status, id, Find(ev->listen_id), privateData,
                ev->param_conn_responder_resources, ev->param_conn_initiator_depth);
        }
        finally
        {
            Interop.RdmaCm.rdma_ack_cm_event(ev);
        }
        return result;
    }

    public void Dispose() => Handle.Dispose();
}

/// <summary>
/// One rdma_cm event, copied out of struct rdma_cm_event. <see cref="Status"/> is 0 or a negative errno
/// (ADDR_ERROR -110 = ETIMEDOUT); for REJECTED it is the transport's reject reason.
/// </summary>
public sealed record RdmaCmEvent(
    RdmaCmEventType Type,
    int Status,
    RdmaCmId Id,
    RdmaCmId? ListenId,
    byte[] PrivateData,
    byte ResponderResources,
    byte InitiatorDepth)
{
    /// <summary>rdma_event_str's name, e.g. RDMA_CM_EVENT_ESTABLISHED.</summary>
    public string TypeName => EventName(Type);

    public static unsafe string EventName(RdmaCmEventType type)
    {
        if (!RdmaCoreLibraries.RdmaCm.IsAvailable)
        {
            return type.ToString();
        }
        var text = Interop.RdmaCm.rdma_event_str((int)type);
        return text is null ? type.ToString() : new string((sbyte*)text);
    }

    public override string ToString() =>
        Status == 0 ? TypeName : $"{TypeName}, status {Status}{(Status < 0 && Errno.Name(-Status) is { } n ? $" ({n})" : "")}";
}
