using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

/// <summary>
/// Base of every rdma-core object handle. A child holds a reference on each parent
/// (context ← PD ← MR/QP, channel ← cm_id ← QP) from <see cref="Attach"/> until it is released, so a
/// parent is never destroyed under a live child whatever order Dispose and finalizers run in.
/// A borrowed handle (an object librdmacm owns, such as cm_id->verbs) keeps its parents alive the same
/// way but destroys nothing.
/// </summary>
internal abstract class RdmaSafeHandle : SafeHandle
{
    private SafeHandle[] _parents = [];
    private bool _borrowed;

    protected RdmaSafeHandle() : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Call while the parents are leased (they cannot be closing), right after the native create.</summary>
    internal void Attach(nint native, params SafeHandle[] parents) => Attach(native, borrowed: false, parents);

    internal void AttachBorrowed(nint native, params SafeHandle[] parents) => Attach(native, borrowed: true, parents);

    private void Attach(nint native, bool borrowed, SafeHandle[] parents)
    {
        var taken = new List<SafeHandle>(parents.Length);
        try
        {
            foreach (var parent in parents)
            {
                var added = false;
                parent.DangerousAddRef(ref added);
                taken.Add(parent);
            }
        }
        catch
        {
            foreach (var parent in taken)
            {
                parent.DangerousRelease();
            }
            throw;
        }
        _parents = [.. taken];
        _borrowed = borrowed;
        SetHandle(native);
    }

    protected sealed override bool ReleaseHandle()
    {
        var ok = _borrowed || ReleaseNative();
        for (var i = _parents.Length - 1; i >= 0; i--)
        {
            _parents[i].DangerousRelease();
        }
        _parents = [];
        return ok;
    }

    /// <summary>Destroys the native object; true when the library reported success.</summary>
    protected abstract bool ReleaseNative();
}

/// <summary>
/// Keeps a handle referenced for the duration of a native call (DangerousAddRef/Release bracket),
/// including calls through the context->ops function-pointer table.
/// </summary>
internal ref struct HandleLease
{
    private readonly SafeHandle _handle;
    private bool _added;

    public HandleLease(SafeHandle handle)
    {
        _handle = handle;
        _added = false;
        handle.DangerousAddRef(ref _added);
        Pointer = handle.DangerousGetHandle();
    }

    public nint Pointer { get; }

    public void Dispose()
    {
        if (_added)
        {
            _added = false;
            _handle.DangerousRelease();
        }
    }
}

internal sealed unsafe class IbvContextHandle : RdmaSafeHandle
{
    public Interop.IbVerbs.ibv_context* Context => (Interop.IbVerbs.ibv_context*)handle;

    protected override bool ReleaseNative() => Interop.IbVerbs.ibv_close_device(Context) == 0;
}

internal sealed unsafe class IbvPdHandle : RdmaSafeHandle
{
    protected override bool ReleaseNative() => Interop.IbVerbs.ibv_dealloc_pd((Interop.IbVerbs.ibv_pd*)handle) == 0;
}

/// <summary>An MR; when it owns its buffer, the buffer is freed after deregistration.</summary>
internal sealed unsafe class IbvMrHandle : RdmaSafeHandle
{
    internal void* OwnedBuffer { get; set; }

    protected override bool ReleaseNative()
    {
        var ok = Interop.IbVerbs.ibv_dereg_mr((Interop.IbVerbs.ibv_mr*)handle) == 0;
        if (OwnedBuffer is not null && ok)
        {
            NativeMemory.AlignedFree(OwnedBuffer);
            OwnedBuffer = null;
        }
        return ok;
    }
}

internal sealed unsafe class IbvCompChannelHandle : RdmaSafeHandle
{
    protected override bool ReleaseNative() =>
        Interop.IbVerbs.ibv_destroy_comp_channel((Interop.IbVerbs.ibv_comp_channel*)handle) == 0;
}

/// <summary>
/// A CQ. ibv_destroy_cq waits until every event taken with ibv_get_cq_event is acknowledged, so the
/// handle counts the unacknowledged ones and acks them before destroying.
/// </summary>
internal sealed unsafe class IbvCqHandle : RdmaSafeHandle
{
    private int _unackedEvents;

    internal int NoteEvent() => Interlocked.Increment(ref _unackedEvents);

    internal int TakeUnacked() => Interlocked.Exchange(ref _unackedEvents, 0);

    protected override bool ReleaseNative()
    {
        var cq = (Interop.IbVerbs.ibv_cq*)handle;
        var pending = TakeUnacked();
        if (pending > 0)
        {
            Interop.IbVerbs.ibv_ack_cq_events(cq, (uint)pending);
        }
        return Interop.IbVerbs.ibv_destroy_cq(cq) == 0;
    }
}

internal sealed unsafe class IbvQpHandle : RdmaSafeHandle
{
    protected override bool ReleaseNative() => Interop.IbVerbs.ibv_destroy_qp((Interop.IbVerbs.ibv_qp*)handle) == 0;
}

/// <summary>A QP made by rdma_create_qp: it belongs to its cm_id and is destroyed with rdma_destroy_qp.</summary>
internal sealed unsafe class RdmaCmQpHandle : RdmaSafeHandle
{
    internal Interop.RdmaCm.rdma_cm_id* Id { get; set; }

    protected override bool ReleaseNative()
    {
        Interop.RdmaCm.rdma_destroy_qp(Id);
        return true;
    }
}

internal sealed unsafe class RdmaEventChannelHandle : RdmaSafeHandle
{
    protected override bool ReleaseNative()
    {
        Interop.RdmaCm.rdma_destroy_event_channel((Interop.RdmaCm.rdma_event_channel*)handle);
        return true;
    }
}

internal sealed unsafe class RdmaCmIdHandle : RdmaSafeHandle
{
    public Interop.RdmaCm.rdma_cm_id* Id => (Interop.RdmaCm.rdma_cm_id*)handle;

    protected override bool ReleaseNative() => Interop.RdmaCm.rdma_destroy_id(Id) == 0;
}
