using System.Runtime.InteropServices;
using RdmaDiag.Native;
using static RdmaDiag.Native.Interop.IbVerbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>
/// A fake provider for one QP and its CQ: an ibv_context in native memory whose post_send, post_recv,
/// poll_cq and req_notify_cq are [UnmanagedCallersOnly] methods here (the technique of
/// Native/OpsDispatchTests). Tests read what was posted and queue the completions the CQ returns.
/// The fakes record into statics: one instance at a time (xunit runs a class's tests one by one).
/// </summary>
internal sealed unsafe class FakeQueuePair : IDisposable
{
    private static readonly List<ibv_send_wr> s_sent = [];
    private static readonly List<ibv_sge> s_sentSges = [];
    private static readonly List<ibv_recv_wr> s_received = [];
    private static readonly Queue<ibv_wc> s_completions = new();
    private static int s_postSendReturn;

    private readonly verbs_context* _verbs;
    private readonly ibv_qp* _qp;
    private readonly ibv_cq* _cq;

    public FakeQueuePair()
    {
        s_sent.Clear();
        s_sentSges.Clear();
        s_received.Clear();
        s_completions.Clear();
        s_postSendReturn = 0;

        _verbs = (verbs_context*)NativeMemory.AllocZeroed((nuint)sizeof(verbs_context));
        _verbs->sz = (nuint)sizeof(verbs_context);
        ibv_context* context = &_verbs->context;
        context->ops_post_send = &PostSend;
        context->ops_post_recv = &PostRecv;
        context->ops_poll_cq = &PollCq;
        context->ops_req_notify_cq = &ReqNotifyCq;
        _qp = (ibv_qp*)NativeMemory.AllocZeroed((nuint)sizeof(ibv_qp));
        _qp->context = context;
        _qp->qp_num = 0x77;
        _cq = (ibv_cq*)NativeMemory.AllocZeroed((nuint)sizeof(ibv_cq));
        _cq->context = context;
        _cq->cqe = 64;
    }

    public IReadOnlyList<ibv_send_wr> Sent => s_sent;

    public IReadOnlyList<ibv_sge> SentSges => s_sentSges;

    public IReadOnlyList<ibv_recv_wr> Received => s_received;

    /// <summary>What ibv_post_send returns (0, or an errno).</summary>
    public int PostSendReturn
    {
        set => s_postSendReturn = value;
    }

    public QueuePair QueuePair()
    {
        var handle = new IbvQpHandle();
        handle.AttachBorrowed((nint)_qp);
        return new QueuePair(handle, TransportType.Iwarp, new QueuePairCapabilities(64, 64, 1, 1, 0));
    }

    public CompletionQueue CompletionQueue()
    {
        var handle = new IbvCqHandle();
        handle.AttachBorrowed((nint)_cq);
        return new CompletionQueue(handle, channel: null);
    }

    /// <summary>Queues a completion for the native wr_id <paramref name="nativeId"/>.</summary>
    public void Complete(ulong nativeId, WcStatus status = WcStatus.Success, WcOpcode opcode = WcOpcode.Send, uint byteLength = 0, uint vendorError = 0) =>
        s_completions.Enqueue(new ibv_wc
        {
            wr_id = nativeId,
            status = (int)status,
            opcode = (int)opcode,
            byte_len = byteLength,
            vendor_err = vendorError,
            qp_num = 0x77,
        });

    public void Dispose()
    {
        NativeMemory.Free(_qp);
        NativeMemory.Free(_cq);
        NativeMemory.Free(_verbs);
    }

    [UnmanagedCallersOnly]
    private static int PostSend(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad)
    {
        if (s_postSendReturn != 0)
        {
            *bad = wr;
            return s_postSendReturn;
        }
        for (ibv_send_wr* w = wr; w is not null; w = w->next)
        {
            s_sent.Add(*w);
            if (w->num_sge > 0)
            {
                s_sentSges.Add(w->sg_list[0]);
            }
        }
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int PostRecv(ibv_qp* qp, ibv_recv_wr* wr, ibv_recv_wr** bad)
    {
        for (ibv_recv_wr* w = wr; w is not null; w = w->next)
        {
            s_received.Add(*w);
        }
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int PollCq(ibv_cq* cq, int entries, ibv_wc* wc)
    {
        int n = 0;
        while (n < entries && s_completions.TryDequeue(out ibv_wc next))
        {
            wc[n++] = next;
        }
        return n;
    }

    [UnmanagedCallersOnly]
    private static int ReqNotifyCq(ibv_cq* cq, int solicitedOnly) => 0;
}
