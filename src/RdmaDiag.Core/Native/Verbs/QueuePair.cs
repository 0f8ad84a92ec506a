namespace RdmaDiag.Native;

/// <summary>What to create a QP with (struct ibv_qp_init_attr). Defaults are rping's.</summary>
public sealed record QueuePairOptions(CompletionQueue SendCq, CompletionQueue RecvCq)
{
    public QpType Type { get; init; } = QpType.Rc;
    public uint MaxSendWr { get; init; } = 64;
    public uint MaxRecvWr { get; init; } = 64;
    public uint MaxSendSge { get; init; } = 1;
    public uint MaxRecvSge { get; init; } = 1;
    public uint MaxInlineData { get; init; }

    /// <summary>Every send WR completes on the CQ (sq_sig_all) regardless of the Signaled flag.</summary>
    public bool SignalAll { get; init; }

    internal unsafe Interop.IbVerbs.ibv_qp_init_attr ToNative(Interop.IbVerbs.ibv_cq* send, Interop.IbVerbs.ibv_cq* recv) => new()
    {
        send_cq = send,
        recv_cq = recv,
        cap_max_send_wr = MaxSendWr,
        cap_max_recv_wr = MaxRecvWr,
        cap_max_send_sge = MaxSendSge,
        cap_max_recv_sge = MaxRecvSge,
        cap_max_inline_data = MaxInlineData,
        qp_type = (int)Type,
        sq_sig_all = SignalAll ? 1 : 0,
    };

    public override string ToString() =>
        $"{Type} QP, send {MaxSendWr}×{MaxSendSge} SGE, recv {MaxRecvWr}×{MaxRecvSge} SGE, inline {MaxInlineData}";
}

/// <summary>The capabilities the provider actually granted (written back into ibv_qp_init_attr.cap).</summary>
public readonly record struct QueuePairCapabilities(uint MaxSendWr, uint MaxRecvWr, uint MaxSendSge, uint MaxRecvSge, uint MaxInlineData)
{
    internal static QueuePairCapabilities From(in Interop.IbVerbs.ibv_qp_init_attr attr) =>
        new(attr.cap_max_send_wr, attr.cap_max_recv_wr, attr.cap_max_send_sge, attr.cap_max_recv_sge, attr.cap_max_inline_data);
}

/// <summary>
/// Attributes for ibv_modify_qp; only the members named in the mask are read by the provider.
/// Connecting by hand needs address vectors, which RdmaDiag leaves to rdma_cm (rdma_create_qp and the
/// connection events move the QP through INIT/RTR/RTS on every transport).
/// </summary>
public readonly record struct QueuePairAttributes
{
    public QpState State { get; init; }
    public AccessFlags AccessFlags { get; init; }
    public ushort PkeyIndex { get; init; }
    public byte PortNum { get; init; }
    public uint RqPsn { get; init; }
    public uint SqPsn { get; init; }
    public uint DestQpNum { get; init; }
    public byte MaxRdAtomic { get; init; }
    public byte MaxDestRdAtomic { get; init; }
    public byte MinRnrTimer { get; init; }
    public byte Timeout { get; init; }
    public byte RetryCount { get; init; }
    public byte RnrRetry { get; init; }

    internal Interop.IbVerbs.ibv_qp_attr ToNative() => new()
    {
        qp_state = (int)State,
        qp_access_flags = (uint)AccessFlags,
        pkey_index = PkeyIndex,
        port_num = PortNum,
        rq_psn = RqPsn,
        sq_psn = SqPsn,
        dest_qp_num = DestQpNum,
        max_rd_atomic = MaxRdAtomic,
        max_dest_rd_atomic = MaxDestRdAtomic,
        min_rnr_timer = MinRnrTimer,
        timeout = Timeout,
        retry_cnt = RetryCount,
        rnr_retry = RnrRetry,
    };
}

/// <summary>
/// A queue pair. PostSend/PostRecv go through context->ops (the inline verbs); Modify and Query are
/// exports. Either made by <see cref="ProtectionDomain.CreateQueuePair"/> or by rdma_create_qp on a cm id.
/// </summary>
public sealed unsafe class QueuePair : IDisposable
{
    // Work requests posted in one call; stackalloc'ed, so bounded.
    public const int MaxPostBatch = 64;

    private readonly RdmaSafeHandle _handle;

    internal QueuePair(RdmaSafeHandle handle, TransportType transport, QueuePairCapabilities capabilities)
    {
        _handle = handle;
        Transport = transport;
        Capabilities = capabilities;
        QpNum = ((Interop.IbVerbs.ibv_qp*)handle.DangerousGetHandle())->qp_num;
    }

    internal RdmaSafeHandle Handle => _handle;

    public uint QpNum { get; }

    public TransportType Transport { get; }

    public QueuePairCapabilities Capabilities { get; }

    /// <summary>The state libibverbs last recorded in ibv_qp.state (Query asks the provider).</summary>
    public QpState CachedState
    {
        get
        {
            using var lease = new HandleLease(_handle);
            return (QpState)((Interop.IbVerbs.ibv_qp*)lease.Pointer)->state;
        }
    }

    public void PostSend(in SendWorkRequest request) => PostSend([request]);

    /// <summary>ibv_post_send of a chain; on failure the exception names the first rejected request.</summary>
    public void PostSend(ReadOnlySpan<SendWorkRequest> requests)
    {
        if (!CheckBatch(requests.Length))
        {
            return;
        }
        var wrs = stackalloc Interop.IbVerbs.ibv_send_wr[requests.Length];
        var sges = stackalloc Interop.IbVerbs.ibv_sge[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            if (requests[i].HasImmediate && Transport == TransportType.Iwarp)
            {
                throw new NotSupportedException(
                    $"work request {requests[i].WrId}: {requests[i].Opcode} carries immediate data, which iWARP (RFC 5040) does not have");
            }
            requests[i].ToNative(&wrs[i], &sges[i]);
            wrs[i].next = i + 1 < requests.Length ? &wrs[i + 1] : null;
        }
        Interop.IbVerbs.ibv_send_wr* bad = null;
        int rc;
        using (var lease = new HandleLease(_handle))
        {
            rc = IbVerbsOps.PostSend((Interop.IbVerbs.ibv_qp*)lease.Pointer, wrs, &bad);
        }
        if (rc != 0)
        {
            var index = bad is null ? -1 : (int)(bad - wrs);
            throw PostFailed("ibv_post_send", rc, index, requests.Length,
                index >= 0 && index < requests.Length ? $"work request {requests[index].WrId} ({requests[index].Opcode})" : null);
        }
    }

    public void PostRecv(in RecvWorkRequest request) => PostRecv([request]);

    /// <summary>ibv_post_recv of a chain.</summary>
    public void PostRecv(ReadOnlySpan<RecvWorkRequest> requests)
    {
        if (!CheckBatch(requests.Length))
        {
            return;
        }
        var wrs = stackalloc Interop.IbVerbs.ibv_recv_wr[requests.Length];
        var sges = stackalloc Interop.IbVerbs.ibv_sge[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i].ToNative(&wrs[i], &sges[i]);
            wrs[i].next = i + 1 < requests.Length ? &wrs[i + 1] : null;
        }
        Interop.IbVerbs.ibv_recv_wr* bad = null;
        int rc;
        using (var lease = new HandleLease(_handle))
        {
            rc = IbVerbsOps.PostRecv((Interop.IbVerbs.ibv_qp*)lease.Pointer, wrs, &bad);
        }
        if (rc != 0)
        {
            var index = bad is null ? -1 : (int)(bad - wrs);
            throw PostFailed("ibv_post_recv", rc, index, requests.Length,
                index >= 0 && index < requests.Length ? $"receive {requests[index].WrId}" : null);
        }
    }

    private static bool CheckBatch(int count)
    {
        if (count > MaxPostBatch)
        {
            throw new ArgumentOutOfRangeException("requests", count, $"at most {MaxPostBatch} work requests per post");
        }
        return count > 0;
    }

    // post_send/post_recv return the errno and point bad_wr at the first request not posted.
    private RdmaNativeException PostFailed(string function, int errno, int index, int count, string? request) =>
        new(function, errno, request is null ? $"QP {QpNum}" : $"QP {QpNum}, {request}, #{index} of {count}");

    /// <summary>ibv_modify_qp (returns errno directly).</summary>
    public void Modify(in QueuePairAttributes attributes, QpAttrMask mask)
    {
        var attr = attributes.ToNative();
        using var lease = new HandleLease(_handle);
        var rc = Interop.IbVerbs.ibv_modify_qp((Interop.IbVerbs.ibv_qp*)lease.Pointer, &attr, (int)mask);
        if (rc != 0)
        {
            throw new RdmaNativeException("ibv_modify_qp", rc, $"QP {QpNum} to {attributes.State}, mask {mask}");
        }
    }

    /// <summary>ibv_query_qp for the current state.</summary>
    public QpState QueryState()
    {
        Interop.IbVerbs.ibv_qp_attr attr;
        Interop.IbVerbs.ibv_qp_init_attr init;
        using var lease = new HandleLease(_handle);
        var rc = Interop.IbVerbs.ibv_query_qp((Interop.IbVerbs.ibv_qp*)lease.Pointer, &attr, (int)QpAttrMask.State, &init);
        if (rc != 0)
        {
            throw new RdmaNativeException("ibv_query_qp", rc, $"QP {QpNum}");
        }
        return (QpState)attr.qp_state;
    }

    public void Dispose() => _handle.Dispose();
}
