namespace RdmaDiag.Native;

/// <summary>
/// The <c>static inline</c> verbs of verbs.h, done as the header does them: through the provider's
/// function pointers in <c>ibv_context.ops</c> (and <c>verbs_context</c> for ibv_query_port).
/// Callers hold leases on the handles so the objects cannot be destroyed during the call.
/// Return conventions are the header's: poll_cq → count or negative; the others → 0 or errno.
/// </summary>
internal static unsafe class IbVerbsOps
{
    public static int PollCq(Interop.IbVerbs.ibv_cq* cq, int numEntries, Interop.IbVerbs.ibv_wc* wc) =>
        cq->context->ops_poll_cq(cq, numEntries, wc);

    public static int ReqNotifyCq(Interop.IbVerbs.ibv_cq* cq, bool solicitedOnly) =>
        cq->context->ops_req_notify_cq(cq, solicitedOnly ? 1 : 0);

    public static int PostSend(Interop.IbVerbs.ibv_qp* qp, Interop.IbVerbs.ibv_send_wr* wr, Interop.IbVerbs.ibv_send_wr** badWr) =>
        qp->context->ops_post_send(qp, wr, badWr);

    public static int PostRecv(Interop.IbVerbs.ibv_qp* qp, Interop.IbVerbs.ibv_recv_wr* wr, Interop.IbVerbs.ibv_recv_wr** badWr) =>
        qp->context->ops_post_recv(qp, wr, badWr);

    /// <summary>
    /// verbs.h's ___ibv_query_port: the extended context's query_port with the full struct size when the
    /// context is extended (abi_compat == __VERBS_ABI_IS_EXTENDED) and the provider's verbs_context is
    /// large enough to hold the member; otherwise the exported ibv_query_port on a zeroed struct.
    /// </summary>
    public static int QueryPort(Interop.IbVerbs.ibv_context* context, byte port, Interop.IbVerbs.ibv_port_attr* attr)
    {
        var extended = ExtendedContext(context);
        if (extended is not null
            && extended->sz >= (nuint)(sizeof(Interop.IbVerbs.verbs_context) - QueryPortOffset)
            && extended->query_port is not null)
        {
            return extended->query_port(context, port, attr, (nuint)sizeof(Interop.IbVerbs.ibv_port_attr));
        }
        *attr = default;
        return Interop.IbVerbs.ibv_query_port(context, port, attr);
    }

    /// <summary>verbs_get_ctx: the verbs_context around <paramref name="context"/>, or null for a legacy provider.</summary>
    public static Interop.IbVerbs.verbs_context* ExtendedContext(Interop.IbVerbs.ibv_context* context)
    {
        if ((nuint)context->abi_compat != Interop.IbVerbs.VerbsAbiIsExtended)
        {
            return null;
        }
        return (Interop.IbVerbs.verbs_context*)((byte*)context - ContextOffset);
    }

    // offsetof(struct verbs_context, context) and offsetof(struct verbs_context, query_port), taken from
    // the mirror struct whose offsets the layout test proves.
    private static readonly nint ContextOffset = OffsetOfContext();
    private static readonly nint QueryPortOffset = OffsetOfQueryPort();

    private static nint OffsetOfContext()
    {
        Interop.IbVerbs.verbs_context probe;
        return (nint)((byte*)&probe.context - (byte*)&probe);
    }

    private static nint OffsetOfQueryPort()
    {
        Interop.IbVerbs.verbs_context probe;
        return (nint)((byte*)&probe.query_port - (byte*)&probe);
    }
}
