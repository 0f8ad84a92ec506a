using System.Net;
using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

/// <summary>Device capabilities from ibv_query_device (the subset RdmaDiag reports and sizes queues by).</summary>
public sealed record DeviceAttributes(
    string FirmwareVersion,
    ulong NodeGuid,
    ulong SysImageGuid,
    uint VendorId,
    uint VendorPartId,
    uint HardwareVersion,
    int MaxQp,
    int MaxQpWr,
    int MaxSge,
    int MaxCq,
    int MaxCqe,
    int MaxMr,
    int MaxPd,
    int MaxQpRdAtom,
    int MaxQpInitRdAtom,
    ulong MaxMrSize,
    byte PhysPortCount);

/// <summary>Port properties from ibv_query_port.</summary>
public sealed record PortAttributes(
    PortState State,
    int MaxMtu,
    int ActiveMtu,
    int GidTableLength,
    uint PortCapFlags,
    uint MaxMessageSize,
    byte PhysState,
    LinkLayer LinkLayer,
    byte ActiveWidth,
    byte ActiveSpeed)
{
    /// <summary>enum ibv_mtu (1..5) to bytes (256..4096); 0 when the code is out of range.</summary>
    public static int MtuBytes(int ibvMtu) => ibvMtu is >= 1 and <= 5 ? 128 << ibvMtu : 0;
}

/// <summary>
/// An open device (ibv_context). Opened from <see cref="VerbsDevices.Open"/>, or borrowed from an
/// rdma_cm id (cm_id->verbs, owned by librdmacm; closing it is librdmacm's business).
/// </summary>
public sealed unsafe class VerbsContext : IDisposable
{
    internal VerbsContext(IbvContextHandle handle, VerbsDeviceInfo device)
    {
        Handle = handle;
        Device = device;
    }

    internal IbvContextHandle Handle { get; }

    public VerbsDeviceInfo Device { get; }

    public TransportType Transport => Device.TransportType;

    public int CompVectorCount
    {
        get
        {
            using var lease = new HandleLease(Handle);
            return ((Interop.IbVerbs.ibv_context*)lease.Pointer)->num_comp_vectors;
        }
    }

    internal static VerbsContext Open(Interop.IbVerbs.ibv_device* device, VerbsDeviceInfo info)
    {
        var context = Interop.IbVerbs.ibv_open_device(device);
        if (context is null)
        {
            throw RdmaNativeException.FromLastError("ibv_open_device", info.Name);
        }
        var handle = new IbvContextHandle();
        handle.Attach((nint)context);
        return new VerbsContext(handle, info);
    }

    /// <summary>Wraps cm_id->verbs without owning it; the context keeps the id alive instead.</summary>
    internal static VerbsContext Borrow(Interop.IbVerbs.ibv_context* context, SafeHandle owner)
    {
        var handle = new IbvContextHandle();
        handle.AttachBorrowed((nint)context, owner);
        return new VerbsContext(handle, VerbsDevices.Describe(context->device));
    }

    public DeviceAttributes QueryDevice()
    {
        using var lease = new HandleLease(Handle);
        Interop.IbVerbs.ibv_device_attr attr = default;
        var rc = Interop.IbVerbs.ibv_query_device((Interop.IbVerbs.ibv_context*)lease.Pointer, &attr);
        if (rc != 0)
        {
            throw new RdmaNativeException("ibv_query_device", rc, Device.Name);
        }
        return new DeviceAttributes(
            VerbsDevices.CString(attr.fw_ver, 64),
            Guids.FromNetworkOrder(attr.node_guid),
            Guids.FromNetworkOrder(attr.sys_image_guid),
            attr.vendor_id,
            attr.vendor_part_id,
            attr.hw_ver,
            attr.max_qp,
            attr.max_qp_wr,
            attr.max_sge,
            attr.max_cq,
            attr.max_cqe,
            attr.max_mr,
            attr.max_pd,
            attr.max_qp_rd_atom,
            attr.max_qp_init_rd_atom,
            attr.max_mr_size,
            attr.phys_port_cnt);
    }

    /// <summary>ibv_query_port as verbs.h's inline wrapper does it (see <see cref="IbVerbsOps.QueryPort"/>).</summary>
    public PortAttributes QueryPort(byte port)
    {
        using var lease = new HandleLease(Handle);
        Interop.IbVerbs.ibv_port_attr attr;
        var rc = IbVerbsOps.QueryPort((Interop.IbVerbs.ibv_context*)lease.Pointer, port, &attr);
        if (rc != 0)
        {
            throw new RdmaNativeException("ibv_query_port", rc, $"{Device.Name} port {port}");
        }
        return new PortAttributes(
            (PortState)attr.state,
            attr.max_mtu,
            attr.active_mtu,
            attr.gid_tbl_len,
            attr.port_cap_flags,
            attr.max_msg_sz,
            attr.phys_state,
            (LinkLayer)attr.link_layer,
            attr.active_width,
            attr.active_speed);
    }

    /// <summary>One GID table entry (ibv_query_gid) as an IPv6-formatted address.</summary>
    public IPAddress QueryGid(byte port, int index)
    {
        using var lease = new HandleLease(Handle);
        Interop.IbVerbs.ibv_gid gid;
        var rc = Interop.IbVerbs.ibv_query_gid((Interop.IbVerbs.ibv_context*)lease.Pointer, port, index, &gid);
        if (rc != 0)
        {
            var errno = rc == -1 ? Marshal.GetLastPInvokeError() : rc;
            throw new RdmaNativeException("ibv_query_gid", errno, $"{Device.Name} port {port} index {index}");
        }
        return new IPAddress(new ReadOnlySpan<byte>(gid.raw, 16));
    }

    public ProtectionDomain AllocateProtectionDomain()
    {
        using var lease = new HandleLease(Handle);
        var pd = Interop.IbVerbs.ibv_alloc_pd((Interop.IbVerbs.ibv_context*)lease.Pointer);
        if (pd is null)
        {
            throw RdmaNativeException.FromLastError("ibv_alloc_pd", Device.Name);
        }
        var handle = new IbvPdHandle();
        handle.Attach((nint)pd, Handle);
        return new ProtectionDomain(handle, this);
    }

    public CompletionChannel CreateCompletionChannel()
    {
        using var lease = new HandleLease(Handle);
        var channel = Interop.IbVerbs.ibv_create_comp_channel((Interop.IbVerbs.ibv_context*)lease.Pointer);
        if (channel is null)
        {
            throw RdmaNativeException.FromLastError("ibv_create_comp_channel", Device.Name);
        }
        var handle = new IbvCompChannelHandle();
        handle.Attach((nint)channel, Handle);
        return new CompletionChannel(handle);
    }

    /// <summary>ibv_create_cq with at least <paramref name="minEntries"/> entries, optionally on a completion channel.</summary>
    public CompletionQueue CreateCompletionQueue(int minEntries, CompletionChannel? channel = null, int compVector = 0)
    {
        if (minEntries < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(minEntries), minEntries, "a CQ needs at least one entry");
        }
        using var lease = new HandleLease(Handle);
        var channelLease = channel is null ? default : new HandleLease(channel.Handle);
        try
        {
            var cq = Interop.IbVerbs.ibv_create_cq(
                (Interop.IbVerbs.ibv_context*)lease.Pointer, minEntries, null,
                (Interop.IbVerbs.ibv_comp_channel*)channelLease.Pointer, compVector);
            if (cq is null)
            {
                throw RdmaNativeException.FromLastError("ibv_create_cq", $"{Device.Name}, {minEntries} entries");
            }
            var handle = new IbvCqHandle();
            if (channel is null)
            {
                handle.Attach((nint)cq, Handle);
            }
            else
            {
                handle.Attach((nint)cq, Handle, channel.Handle);
            }
            return new CompletionQueue(handle, channel);
        }
        finally
        {
            channelLease.Dispose();
        }
    }

    public void Dispose() => Handle.Dispose();
}
