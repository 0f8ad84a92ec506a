using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

/// <summary>A protection domain (ibv_pd): the scope of MRs and QPs.</summary>
public sealed unsafe class ProtectionDomain : IDisposable
{
    internal ProtectionDomain(IbvPdHandle handle, VerbsContext context)
    {
        Handle = handle;
        Context = context;
    }

    internal IbvPdHandle Handle { get; }

    public VerbsContext Context { get; }

    /// <summary>Allocates <paramref name="length"/> page-aligned zeroed bytes and registers them (ibv_reg_mr).</summary>
    public MemoryRegion AllocateAndRegister(int length, AccessFlags access)
    {
        if (length < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "a memory region needs at least one byte");
        }
        var buffer = NativeMemory.AlignedAlloc((nuint)length, (nuint)Environment.SystemPageSize);
        NativeMemory.Clear(buffer, (nuint)length);
        try
        {
            var mr = RegisterCore(buffer, (nuint)length, access);
            mr.Handle.OwnedBuffer = buffer;
            return mr;
        }
        catch
        {
            NativeMemory.AlignedFree(buffer);
            throw;
        }
    }

    /// <summary>
    /// Registers memory the caller owns and keeps pinned/alive for the region's lifetime
    /// (for example NativeMemory or a pinned array).
    /// </summary>
    public MemoryRegion Register(nint address, nuint length, AccessFlags access) =>
        RegisterCore((void*)address, length, access);

    private MemoryRegion RegisterCore(void* address, nuint length, AccessFlags access)
    {
        using var lease = new HandleLease(Handle);
        var mr = Interop.IbVerbs.ibv_reg_mr((Interop.IbVerbs.ibv_pd*)lease.Pointer, address, length, (int)access);
        if (mr is null)
        {
            throw RdmaNativeException.FromLastError("ibv_reg_mr", $"{length} bytes, access {access}");
        }
        var handle = new IbvMrHandle();
        handle.Attach((nint)mr, Handle);
        return new MemoryRegion(handle, (nint)mr->addr, mr->length, mr->lkey, mr->rkey);
    }

    /// <summary>ibv_create_qp for a QP connected by hand (ibv_modify_qp); rdma_cm users call <see cref="RdmaCmId.CreateQueuePair"/>.</summary>
    public QueuePair CreateQueuePair(QueuePairOptions options)
    {
        using var lease = new HandleLease(Handle);
        using var send = new HandleLease(options.SendCq.Handle);
        using var recv = new HandleLease(options.RecvCq.Handle);
        var attr = options.ToNative((Interop.IbVerbs.ibv_cq*)send.Pointer, (Interop.IbVerbs.ibv_cq*)recv.Pointer);
        var qp = Interop.IbVerbs.ibv_create_qp((Interop.IbVerbs.ibv_pd*)lease.Pointer, &attr);
        if (qp is null)
        {
            throw RdmaNativeException.FromLastError("ibv_create_qp", options.ToString());
        }
        var handle = new IbvQpHandle();
        handle.Attach((nint)qp, Handle, options.SendCq.Handle, options.RecvCq.Handle);
        return new QueuePair(handle, Context.Transport, QueuePairCapabilities.From(attr));
    }

    public void Dispose() => Handle.Dispose();
}

/// <summary>A registered memory region (ibv_mr) and its keys.</summary>
public sealed unsafe class MemoryRegion : IDisposable
{
    internal MemoryRegion(IbvMrHandle handle, nint address, nuint length, uint lkey, uint rkey)
    {
        Handle = handle;
        Address = address;
        Length = length;
        LKey = lkey;
        RKey = rkey;
    }

    internal IbvMrHandle Handle { get; }

    public nint Address { get; }

    public nuint Length { get; }

    /// <summary>Local key, for SGEs of this host's work requests.</summary>
    public uint LKey { get; }

    /// <summary>Remote key (the STag on iWARP), advertised to the peer for RDMA Read/Write.</summary>
    public uint RKey { get; }

    /// <summary>The registered bytes. Valid until Dispose.</summary>
    public Span<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(Handle.IsClosed, this);
            return new Span<byte>((void*)Address, checked((int)Length));
        }
    }

    /// <summary>An SGE covering <paramref name="length"/> bytes at <paramref name="offset"/> of this region.</summary>
    public ScatterGatherElement Slice(int offset, int length)
    {
        if (offset < 0 || length < 0 || (nuint)offset + (nuint)length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length),
                $"slice [{offset}, {offset}+{length}) lies outside the {Length}-byte memory region");
        }
        return new ScatterGatherElement((ulong)Address + (ulong)offset, (uint)length, LKey);
    }

    public ScatterGatherElement All => Slice(0, checked((int)Length));

    public void Dispose() => Handle.Dispose();
}
