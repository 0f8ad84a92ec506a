namespace RdmaDiag.Endpoint;

/// <summary>What a memory region allows, as in ibv_access_flags.</summary>
[Flags]
public enum MemoryAccess : byte
{
    None = 0,

    /// <summary>The local endpoint may write into it: needed for the sink of our own RDMA Reads.</summary>
    LocalWrite = 1,

    /// <summary>The peer may RDMA Write into it.</summary>
    RemoteWrite = 2,

    /// <summary>The peer may RDMA Read from it.</summary>
    RemoteRead = 4,

    /// <summary>The peer may run Atomic FetchAdd/CmpSwap on it.</summary>
    RemoteAtomic = 8,

    All = LocalWrite | RemoteWrite | RemoteRead | RemoteAtomic,
}

/// <summary>
/// A registered buffer named on the wire by a random 32-bit STag. Tagged offsets run from
/// <see cref="BaseTO"/> to BaseTO + Length. A Send with Invalidate naming the STag, or
/// <see cref="IwarpConnection.DeregisterMemory"/>, makes it invalid for good.
/// </summary>
public sealed class MemoryRegion
{
    private volatile bool _valid = true;

    internal MemoryRegion(uint stag, ulong baseTO, Memory<byte> memory, MemoryAccess access)
    {
        STag = stag;
        BaseTO = baseTO;
        Memory = memory;
        Access = access;
    }

    public uint STag { get; }

    /// <summary>The tagged offset of the first octet.</summary>
    public ulong BaseTO { get; }

    public Memory<byte> Memory { get; }

    public int Length => Memory.Length;

    public MemoryAccess Access { get; }

    public bool IsValid => _valid;

    internal void Invalidate() => _valid = false;

    internal bool Allows(MemoryAccess access) => _valid && (Access & access) == access;

    /// <summary>
    /// Where [TO, TO+length) falls in the buffer. Returns the DDP/RDMAP reason it does not: TO below
    /// the base or past the end (bounds), or TO + length beyond 2^64 (wrap).
    /// </summary>
    internal RegionCheck Check(ulong to, ulong length, out int offset)
    {
        offset = 0;
        if (to + length < to)
        {
            return RegionCheck.Wrap;
        }
        if (to < BaseTO || to - BaseTO > (ulong)Length || length > (ulong)Length - (to - BaseTO))
        {
            return RegionCheck.Bounds;
        }
        offset = (int)(to - BaseTO);
        return RegionCheck.Ok;
    }

    public override string ToString() => $"MR STag 0x{STag:X8} TO 0x{BaseTO:X}+{Length} {Access}{(IsValid ? "" : " (invalidated)")}";
}

internal enum RegionCheck : byte
{
    Ok,
    Bounds,
    Wrap,
}
