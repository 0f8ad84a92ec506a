namespace RdmaDiag.Native;

/// <summary>
/// A completion event channel (ibv_comp_channel): a file descriptor that becomes readable when an
/// armed CQ gets a completion.
/// </summary>
public sealed unsafe class CompletionChannel : IDisposable
{
    private readonly Dictionary<nint, CompletionQueue> _queues = [];

    internal CompletionChannel(IbvCompChannelHandle handle) => Handle = handle;

    internal IbvCompChannelHandle Handle { get; }

    public int Fd
    {
        get
        {
            using var lease = new HandleLease(Handle);
            return ((Interop.IbVerbs.ibv_comp_channel*)lease.Pointer)->fd;
        }
    }

    internal void Register(CompletionQueue cq, nint native)
    {
        lock (_queues)
        {
            _queues[native] = cq;
        }
    }

    internal void Unregister(nint native)
    {
        lock (_queues)
        {
            _queues.Remove(native);
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for a CQ event (ibv_get_cq_event); returns the CQ, or null on
    /// timeout. The event is counted and acknowledged in batches by the CQ; re-arm with RequestNotify.
    /// </summary>
    public CompletionQueue? WaitForEvent(TimeSpan timeout)
    {
        using var lease = new HandleLease(Handle);
        var channel = (Interop.IbVerbs.ibv_comp_channel*)lease.Pointer;
        if (!FdWait.WaitReadable(channel->fd, timeout, "ibv_comp_channel"))
        {
            return null;
        }
        Interop.IbVerbs.ibv_cq* cq;
        void* context;
        if (Interop.IbVerbs.ibv_get_cq_event(channel, &cq, &context) != 0)
        {
            throw RdmaNativeException.FromLastError("ibv_get_cq_event");
        }
        CompletionQueue? owner;
        lock (_queues)
        {
            _queues.TryGetValue((nint)cq, out owner);
        }
        if (owner is null)
        {
            // A CQ this channel does not know cannot be acknowledged through a handle; ack it here so its
            // destroy does not wait forever.
            Interop.IbVerbs.ibv_ack_cq_events(cq, 1);
            throw new InvalidOperationException("ibv_get_cq_event returned a CQ not created on this channel");
        }
        owner.NoteEvent();
        return owner;
    }

    public void Dispose() => Handle.Dispose();
}

/// <summary>A completion queue (ibv_cq). Poll and RequestNotify go through context->ops.</summary>
public sealed unsafe class CompletionQueue : IDisposable
{
    // Acknowledging is a mutex round trip in libibverbs; batching like rping/perftest keeps it off the hot path.
    private const int AckBatch = 16;

    private readonly CompletionChannel? _channel;
    private readonly nint _native;

    internal CompletionQueue(IbvCqHandle handle, CompletionChannel? channel)
    {
        Handle = handle;
        _channel = channel;
        _native = handle.DangerousGetHandle();
        Capacity = ((Interop.IbVerbs.ibv_cq*)_native)->cqe;
        channel?.Register(this, _native);
    }

    internal IbvCqHandle Handle { get; }

    /// <summary>The number of entries the provider gave the CQ (≥ the number asked for).</summary>
    public int Capacity { get; }

    /// <summary>ibv_poll_cq: copies up to <c>completions.Length</c> completions; returns how many.</summary>
    public int Poll(Span<WorkCompletion> completions)
    {
        if (completions.IsEmpty)
        {
            return 0;
        }
        const int Chunk = 16;
        var native = stackalloc Interop.IbVerbs.ibv_wc[Chunk];
        using var lease = new HandleLease(Handle);
        var cq = (Interop.IbVerbs.ibv_cq*)lease.Pointer;
        var total = 0;
        while (total < completions.Length)
        {
            var want = Math.Min(Chunk, completions.Length - total);
            var got = IbVerbsOps.PollCq(cq, want, native);
            if (got < 0)
            {
                // ibv_poll_cq returns a negative value on error; providers use -errno or -1.
                throw new RdmaNativeException("ibv_poll_cq", got == -1 ? Errno.EIO : -got);
            }
            for (var i = 0; i < got; i++)
            {
                completions[total + i] = WorkCompletion.FromNative(native[i]);
            }
            total += got;
            if (got < want)
            {
                break;
            }
        }
        return total;
    }

    /// <summary>ibv_req_notify_cq: arm the CQ so the next (solicited) completion raises a channel event.</summary>
    public void RequestNotify(bool solicitedOnly = false)
    {
        using var lease = new HandleLease(Handle);
        var rc = IbVerbsOps.ReqNotifyCq((Interop.IbVerbs.ibv_cq*)lease.Pointer, solicitedOnly);
        if (rc != 0)
        {
            throw new RdmaNativeException("ibv_req_notify_cq", rc);
        }
    }

    internal void NoteEvent()
    {
        if (Handle.NoteEvent() >= AckBatch && Handle.TakeUnacked() is var pending and > 0)
        {
            using var lease = new HandleLease(Handle);
            Interop.IbVerbs.ibv_ack_cq_events((Interop.IbVerbs.ibv_cq*)lease.Pointer, (uint)pending);
        }
    }

    public void Dispose()
    {
        _channel?.Unregister(_native);
        Handle.Dispose();
    }
}
