using System.Buffers.Binary;

namespace RdmaDiag.Native;

/// <summary>One scatter/gather element (struct ibv_sge): address, length and the MR's local key.</summary>
public readonly record struct ScatterGatherElement(ulong Address, uint Length, uint LKey);

/// <summary>
/// A send-queue work request with zero or one SGE (what rping and perftest post). Build it with the
/// factory methods; <see cref="QueuePair.PostSend(in SendWorkRequest)"/> turns it into struct ibv_send_wr.
/// </summary>
public readonly record struct SendWorkRequest
{
    public ulong WrId { get; init; }
    public SendOpcode Opcode { get; init; }
    public SendFlags Flags { get; init; }
    public ScatterGatherElement? Sge { get; init; }

    /// <summary>Host-order immediate data for the *WithImm opcodes; sent in network order.</summary>
    public uint ImmediateData { get; init; }

    /// <summary>Peer virtual address (tagged offset) for RDMA Write and Read.</summary>
    public ulong RemoteAddress { get; init; }

    /// <summary>Peer rkey (STag) for RDMA Write and Read.</summary>
    public uint RemoteKey { get; init; }

    public static SendWorkRequest Send(ulong wrId, ScatterGatherElement? sge, SendFlags flags = SendFlags.Signaled) =>
        new() { WrId = wrId, Opcode = SendOpcode.Send, Sge = sge, Flags = flags };

    /// <summary>Send with Immediate. iWARP (RFC 5040) has no immediate data: QueuePair refuses it there.</summary>
    public static SendWorkRequest SendWithImmediate(ulong wrId, ScatterGatherElement? sge, uint immediate, SendFlags flags = SendFlags.Signaled) =>
        new() { WrId = wrId, Opcode = SendOpcode.SendWithImm, Sge = sge, ImmediateData = immediate, Flags = flags };

    public static SendWorkRequest RdmaWrite(ulong wrId, ScatterGatherElement? sge, ulong remoteAddress, uint remoteKey, SendFlags flags = SendFlags.Signaled) =>
        new() { WrId = wrId, Opcode = SendOpcode.RdmaWrite, Sge = sge, RemoteAddress = remoteAddress, RemoteKey = remoteKey, Flags = flags };

    public static SendWorkRequest RdmaRead(ulong wrId, ScatterGatherElement? sge, ulong remoteAddress, uint remoteKey, SendFlags flags = SendFlags.Signaled) =>
        new() { WrId = wrId, Opcode = SendOpcode.RdmaRead, Sge = sge, RemoteAddress = remoteAddress, RemoteKey = remoteKey, Flags = flags };

    internal bool HasImmediate => Opcode is SendOpcode.SendWithImm or SendOpcode.RdmaWriteWithImm;

    internal unsafe void ToNative(Interop.IbVerbs.ibv_send_wr* wr, Interop.IbVerbs.ibv_sge* sge)
    {
        *wr = default;
        wr->wr_id = WrId;
        wr->opcode = (int)Opcode;
        wr->send_flags = (uint)Flags;
        if (Sge is { } s)
        {
            *sge = new Interop.IbVerbs.ibv_sge { addr = s.Address, length = s.Length, lkey = s.LKey };
            wr->sg_list = sge;
            wr->num_sge = 1;
        }
        if (HasImmediate)
        {
            wr->imm_data = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(ImmediateData) : ImmediateData;
        }
        if (Opcode is SendOpcode.RdmaWrite or SendOpcode.RdmaWriteWithImm or SendOpcode.RdmaRead)
        {
            wr->wr_rdma_remote_addr = RemoteAddress;
            wr->wr_rdma_rkey = RemoteKey;
        }
    }
}

/// <summary>A receive-queue work request (struct ibv_recv_wr) with zero or one SGE.</summary>
public readonly record struct RecvWorkRequest(ulong WrId, ScatterGatherElement? Sge)
{
    internal unsafe void ToNative(Interop.IbVerbs.ibv_recv_wr* wr, Interop.IbVerbs.ibv_sge* sge)
    {
        *wr = default;
        wr->wr_id = WrId;
        if (Sge is { } s)
        {
            *sge = new Interop.IbVerbs.ibv_sge { addr = s.Address, length = s.Length, lkey = s.LKey };
            wr->sg_list = sge;
            wr->num_sge = 1;
        }
    }
}

/// <summary>A completion (struct ibv_wc) copied out of the CQ.</summary>
public readonly record struct WorkCompletion(
    ulong WrId,
    WcStatus Status,
    WcOpcode Opcode,
    uint VendorError,
    uint ByteLength,
    uint ImmediateData,
    uint QpNum,
    WcFlags Flags)
{
    public bool IsSuccess => Status == WcStatus.Success;

    internal static WorkCompletion FromNative(in Interop.IbVerbs.ibv_wc wc)
    {
        var flags = (WcFlags)wc.wc_flags;
        var imm = (flags & WcFlags.WithImm) != 0 && BitConverter.IsLittleEndian
            ? BinaryPrimitives.ReverseEndianness(wc.imm_data)
            : wc.imm_data;
        return new WorkCompletion(wc.wr_id, (WcStatus)wc.status, (WcOpcode)wc.opcode, wc.vendor_err, wc.byte_len, imm, wc.qp_num, flags);
    }

    /// <summary>ibv_wc_status_str's text for a status, e.g. "remote access error".</summary>
    public static unsafe string StatusText(WcStatus status)
    {
        if (!RdmaCoreLibraries.Verbs.IsAvailable)
        {
            return status.ToString();
        }
        var text = Interop.IbVerbs.ibv_wc_status_str((int)status);
        return text is null ? status.ToString() : new string((sbyte*)text);
    }
}
