using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RdmaDiag.Native;
using static RdmaDiag.Native.Interop.IbVerbs;

namespace RdmaDiag.Tests.Native;

/// <summary>
/// The inline verbs (post_send, post_recv, poll_cq, req_notify_cq, query_port) dispatch through a fake
/// provider: a verbs_context in native memory whose function pointers are [UnmanagedCallersOnly] methods
/// here. Proves the managed API reaches context->ops with the right structs, and maps return values.
/// </summary>
public unsafe class OpsDispatchTests : IDisposable
{
    // The fakes record into statics; xunit runs the tests of one class one after another.
    private static int s_postSendReturn;
    private static int s_postSendBadIndex = -1;
    private static readonly List<ibv_send_wr> s_sent = [];
    private static readonly List<ibv_sge> s_sentSges = [];
    private static readonly List<ibv_recv_wr> s_received = [];
    private static readonly Queue<ibv_wc> s_completions = new();
    private static int s_pollReturnOverride;
    private static int s_notifySolicited = -1;
    private static byte s_queriedPort;
    private static nuint s_queriedSize;

    private readonly verbs_context* _verbs;
    private readonly ibv_qp* _qp;
    private readonly ibv_cq* _cq;

    public OpsDispatchTests()
    {
        s_postSendReturn = 0;
        s_postSendBadIndex = -1;
        s_sent.Clear();
        s_sentSges.Clear();
        s_received.Clear();
        s_completions.Clear();
        s_pollReturnOverride = 0;
        s_notifySolicited = -1;

        _verbs = (verbs_context*)NativeMemory.AllocZeroed((nuint)sizeof(verbs_context));
        _verbs->sz = (nuint)sizeof(verbs_context);
        _verbs->query_port = &FakeQueryPort;
        var ctx = &_verbs->context;
        ctx->abi_compat = (void*)nuint.MaxValue;
        ctx->num_comp_vectors = 3;
        ctx->ops_post_send = &FakePostSend;
        ctx->ops_post_recv = &FakePostRecv;
        ctx->ops_poll_cq = &FakePollCq;
        ctx->ops_req_notify_cq = &FakeReqNotifyCq;

        _qp = (ibv_qp*)NativeMemory.AllocZeroed((nuint)sizeof(ibv_qp));
        _qp->context = ctx;
        _qp->qp_num = 0x1234;
        _qp->state = (int)QpState.Rts;

        _cq = (ibv_cq*)NativeMemory.AllocZeroed((nuint)sizeof(ibv_cq));
        _cq->context = ctx;
        _cq->cqe = 127;
    }

    public void Dispose()
    {
        NativeMemory.Free(_qp);
        NativeMemory.Free(_cq);
        NativeMemory.Free(_verbs);
    }

    private QueuePair FakeQueuePair(TransportType transport)
    {
        var handle = new IbvQpHandle();
        handle.AttachBorrowed((nint)_qp);
        return new QueuePair(handle, transport, new QueuePairCapabilities(64, 64, 1, 1, 0));
    }

    private CompletionQueue FakeCompletionQueue()
    {
        var handle = new IbvCqHandle();
        handle.AttachBorrowed((nint)_cq);
        return new CompletionQueue(handle, channel: null);
    }

    [Fact]
    public void PostSend_RdmaWrite_ReachesOpsPostSendWithRemoteAddressAndKey()
    {
        using var qp = FakeQueuePair(TransportType.Iwarp);

        qp.PostSend(SendWorkRequest.RdmaWrite(7, new ScatterGatherElement(0x1000, 64, 0xAA), 0xDEADBEEF00, 0x55));

        var wr = Assert.Single(s_sent);
        Assert.Equal(7ul, wr.wr_id);
        Assert.Equal((int)SendOpcode.RdmaWrite, wr.opcode);
        Assert.Equal((uint)SendFlags.Signaled, wr.send_flags);
        Assert.Equal(0xDEADBEEF00ul, wr.wr_rdma_remote_addr);
        Assert.Equal(0x55u, wr.wr_rdma_rkey);
        Assert.Equal(1, wr.num_sge);
        var sge = Assert.Single(s_sentSges);
        Assert.Equal((0x1000ul, 64u, 0xAAu), (sge.addr, sge.length, sge.lkey));
    }

    [Fact]
    public void PostSend_ChainOfThree_LinksNextPointersInOrder()
    {
        using var qp = FakeQueuePair(TransportType.Iwarp);

        qp.PostSend([
            SendWorkRequest.Send(1, new ScatterGatherElement(0x10, 4, 1)),
            SendWorkRequest.RdmaRead(2, new ScatterGatherElement(0x20, 8, 1), 0x99, 3),
            SendWorkRequest.Send(3, null, SendFlags.None),
        ]);

        Assert.Equal([1ul, 2ul, 3ul], s_sent.Select(w => w.wr_id));
        Assert.Equal([(int)SendOpcode.Send, (int)SendOpcode.RdmaRead, (int)SendOpcode.Send], s_sent.Select(w => w.opcode));
        Assert.Equal(0, s_sent[2].num_sge);
    }

    [Fact]
    public void PostSend_SendWithImmediateOnRoce_SendsImmediateInNetworkOrder()
    {
        using var qp = FakeQueuePair(TransportType.InfiniBand);

        qp.PostSend(SendWorkRequest.SendWithImmediate(9, null, 0x01020304));

        var wr = Assert.Single(s_sent);
        var bytes = BitConverter.GetBytes(wr.imm_data);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, bytes);
    }

    [Fact]
    public void PostSend_SendWithImmediateOnIwarp_RefusedWithoutCallingProvider()
    {
        using var qp = FakeQueuePair(TransportType.Iwarp);

        var e = Assert.Throws<NotSupportedException>(() => qp.PostSend(SendWorkRequest.SendWithImmediate(9, null, 1)));

        Assert.Contains("iWARP", e.Message);
        Assert.Empty(s_sent);
    }

    [Fact]
    public void PostSend_ProviderReturnsEnomemForSecond_ThrowsNamingThatRequestAndErrno()
    {
        using var qp = FakeQueuePair(TransportType.Iwarp);
        s_postSendReturn = Errno.ENOMEM;
        s_postSendBadIndex = 1;

        var e = Assert.Throws<RdmaNativeException>(() => qp.PostSend([
            SendWorkRequest.Send(10, null),
            SendWorkRequest.Send(11, null),
        ]));

        Assert.Equal("ibv_post_send", e.Function);
        Assert.Equal(Errno.ENOMEM, e.Errno);
        Assert.Equal("ENOMEM", e.ErrnoName);
        Assert.Contains("work request 11", e.Message);
    }

    [Fact]
    public void PostRecv_OneSge_ReachesOpsPostRecv()
    {
        using var qp = FakeQueuePair(TransportType.Iwarp);

        qp.PostRecv(new RecvWorkRequest(42, new ScatterGatherElement(0x2000, 128, 7)));

        var wr = Assert.Single(s_received);
        Assert.Equal(42ul, wr.wr_id);
        Assert.Equal(1, wr.num_sge);
    }

    [Fact]
    public void Poll_ThreeCompletionsQueued_ReturnsThemConverted()
    {
        using var cq = FakeCompletionQueue();
        s_completions.Enqueue(new ibv_wc { wr_id = 1, status = 0, opcode = (int)WcOpcode.Send, byte_len = 64, qp_num = 0x1234 });
        s_completions.Enqueue(new ibv_wc { wr_id = 2, status = (int)WcStatus.RemAccessErr, opcode = (int)WcOpcode.RdmaRead, vendor_err = 0x22 });
        s_completions.Enqueue(new ibv_wc { wr_id = 3, opcode = (int)WcOpcode.Recv, byte_len = 16, wc_flags = (uint)WcFlags.WithImm, imm_data = 0x04030201 });

        var buffer = new WorkCompletion[8];
        var n = cq.Poll(buffer);

        Assert.Equal(3, n);
        Assert.Equal(127, cq.Capacity);
        Assert.Equal(new WorkCompletion(1, WcStatus.Success, WcOpcode.Send, 0, 64, 0, 0x1234, WcFlags.None), buffer[0]);
        Assert.False(buffer[1].IsSuccess);
        Assert.Equal((WcStatus.RemAccessErr, 0x22u), (buffer[1].Status, buffer[1].VendorError));
        Assert.Equal(0x01020304u, buffer[2].ImmediateData);
    }

    [Fact]
    public void Poll_MoreThanOneChunkQueued_DrainsAcrossChunks()
    {
        using var cq = FakeCompletionQueue();
        for (var i = 0; i < 40; i++)
        {
            s_completions.Enqueue(new ibv_wc { wr_id = (ulong)i });
        }

        var buffer = new WorkCompletion[64];
        Assert.Equal(40, cq.Poll(buffer));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (ulong)i), buffer.Take(40).Select(c => c.WrId));
    }

    [Fact]
    public void Poll_ProviderReturnsNegative_ThrowsWithErrno()
    {
        using var cq = FakeCompletionQueue();
        s_pollReturnOverride = -Errno.EINVAL;

        var e = Assert.Throws<RdmaNativeException>(() => cq.Poll(new WorkCompletion[4]));

        Assert.Equal(("ibv_poll_cq", Errno.EINVAL), (e.Function, e.Errno));
    }

    [Fact]
    public void RequestNotify_SolicitedOnly_PassesOne()
    {
        using var cq = FakeCompletionQueue();

        cq.RequestNotify(solicitedOnly: true);
        Assert.Equal(1, s_notifySolicited);
        cq.RequestNotify();
        Assert.Equal(0, s_notifySolicited);
    }

    [Fact]
    public void QueryPort_ExtendedContext_UsesVerbsContextQueryPortWithFullSize()
    {
        var handle = new IbvContextHandle();
        handle.AttachBorrowed((nint)(&_verbs->context));
        using var context = new VerbsContext(handle,
            new VerbsDeviceInfo("fake0", "uverbs9", NodeType.Rnic, TransportType.Iwarp, 0x0007430648b00000, "/sys/class/infiniband/fake0"));

        var port = context.QueryPort(1);

        Assert.Equal((byte)1, s_queriedPort);
        Assert.Equal((nuint)sizeof(ibv_port_attr), s_queriedSize);
        Assert.Equal(PortState.Active, port.State);
        Assert.Equal(1024, PortAttributes.MtuBytes(port.ActiveMtu));
        Assert.Equal(LinkLayer.Ethernet, port.LinkLayer);
        Assert.Equal(3, context.CompVectorCount);
    }

    [Fact]
    public void ExtendedContext_LegacyAbiCompat_IsNull()
    {
        var legacy = (ibv_context*)NativeMemory.AllocZeroed((nuint)sizeof(ibv_context));
        try
        {
            Assert.True(IbVerbsOps.ExtendedContext(legacy) is null);
            Assert.True(IbVerbsOps.ExtendedContext(&_verbs->context) == _verbs);
        }
        finally
        {
            NativeMemory.Free(legacy);
        }
    }

    [Fact]
    public void QueuePair_Created_ReadsQpNumAndCachedState()
    {
        using var qp = FakeQueuePair(TransportType.Iwarp);

        Assert.Equal(0x1234u, qp.QpNum);
        Assert.Equal(QpState.Rts, qp.CachedState);
    }

    [Fact]
    public void QueuePair_Disposed_PostSendThrowsObjectDisposed()
    {
        var qp = FakeQueuePair(TransportType.Iwarp);
        qp.Dispose();

        Assert.Throws<ObjectDisposedException>(() => qp.PostSend(SendWorkRequest.Send(1, null)));
    }

    [UnmanagedCallersOnly]
    private static int FakePostSend(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad)
    {
        var index = 0;
        for (var w = wr; w is not null; w = w->next, index++)
        {
            if (index == s_postSendBadIndex)
            {
                *bad = w;
                return s_postSendReturn;
            }
            s_sent.Add(*w);
            if (w->num_sge > 0)
            {
                s_sentSges.Add(w->sg_list[0]);
            }
        }
        return s_postSendBadIndex < 0 ? s_postSendReturn : 0;
    }

    [UnmanagedCallersOnly]
    private static int FakePostRecv(ibv_qp* qp, ibv_recv_wr* wr, ibv_recv_wr** bad)
    {
        for (var w = wr; w is not null; w = w->next)
        {
            s_received.Add(*w);
        }
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int FakePollCq(ibv_cq* cq, int numEntries, ibv_wc* wc)
    {
        if (s_pollReturnOverride != 0)
        {
            return s_pollReturnOverride;
        }
        var n = 0;
        while (n < numEntries && s_completions.TryDequeue(out var next))
        {
            wc[n++] = next;
        }
        return n;
    }

    [UnmanagedCallersOnly]
    private static int FakeReqNotifyCq(ibv_cq* cq, int solicitedOnly)
    {
        s_notifySolicited = solicitedOnly;
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int FakeQueryPort(ibv_context* context, byte port, ibv_port_attr* attr, nuint size)
    {
        s_queriedPort = port;
        s_queriedSize = size;
        Unsafe.InitBlock(attr, 0, (uint)size);
        attr->state = (int)PortState.Active;
        attr->active_mtu = 3;
        attr->max_mtu = 5;
        attr->link_layer = (byte)LinkLayer.Ethernet;
        return 0;
    }
}
