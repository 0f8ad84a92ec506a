using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Verbs;

/// <summary>
/// The data path a protocol (the probe protocol, rping's) needs from a connected queue pair, and no
/// more: register memory, post receives, Sends, RDMA Writes and RDMA Reads from registered memory,
/// and wait for completions. Both RdmaDiag's userspace iWARP endpoint (<see cref="SoftTransport"/>) and
/// an rdma_cm connection on a kernel device (<see cref="VerbsConnection"/>) provide it, so each protocol
/// is written once and runs over either.
/// </summary>
/// <remarks>
/// <para>Every buffer a work request names is a <see cref="TransportRegion"/> from <see cref="Register"/>:
/// verbs can only send from and receive into registered memory. A region must stay alive until the
/// work requests naming it have completed.</para>
/// <para>Failures surface as <see cref="IwarpException"/> with the same kinds on both transports: a
/// Stall when nothing completes in time (the connection stays usable), the connection's
/// <see cref="Error"/> once it has failed and every completion has been taken.</para>
/// </remarks>
public interface IRdmaTransport : IDisposable
{
    /// <summary>"soft" or "verbs (DEVICE)", for logs.</summary>
    string Name { get; }

    EndPoint? LocalEndPoint { get; }

    EndPoint? RemoteEndPoint { get; }

    /// <summary>Why the connection stopped; null while it works.</summary>
    IwarpException? Error { get; }

    /// <summary>Registers <paramref name="length"/> zeroed octets with <paramref name="access"/>.</summary>
    TransportRegion Register(int length, MemoryAccess access);

    /// <summary>Posts [offset, offset+length) of <paramref name="region"/> for one incoming Send.</summary>
    void PostReceive(ulong workRequestId, TransportRegion region, int offset, int length);

    void PostSend(ulong workRequestId, TransportRegion region, int offset, int length, PostFlags flags = PostFlags.Signaled);

    /// <summary>RDMA Write of [offset, offset+length) of <paramref name="region"/> to the peer's <paramref name="remoteKey"/> at <paramref name="remoteAddress"/>.</summary>
    void PostWrite(ulong workRequestId, TransportRegion region, int offset, int length, uint remoteKey, ulong remoteAddress, PostFlags flags = PostFlags.Signaled);

    /// <summary>RDMA Read of <paramref name="length"/> octets from the peer into [offset, offset+length) of <paramref name="sink"/>.</summary>
    void PostRead(ulong workRequestId, TransportRegion sink, int offset, int length, uint remoteKey, ulong remoteAddress, PostFlags flags = PostFlags.Signaled);

    /// <summary>
    /// The next completion. Throws <see cref="IwarpException"/>: Stall after <paramref name="timeout"/>, or
    /// <see cref="Error"/> once the connection has failed and no completion is left.
    /// </summary>
    Completion WaitForCompletion(TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Graceful close (TCP FIN, or rdma_disconnect), then <see cref="IDisposable.Dispose"/>.</summary>
    void Close();
}

/// <summary>
/// Memory registered on a transport. The peer names it by <see cref="RemoteKey"/> (the STag, the
/// rkey) and addresses it from <see cref="RemoteAddress"/> (the tagged offset of the first octet: the
/// buffer's virtual address on verbs, the region's base TO on the soft endpoint).
/// </summary>
public abstract class TransportRegion : IDisposable
{
    public abstract uint RemoteKey { get; }

    public abstract ulong RemoteAddress { get; }

    public abstract int Length { get; }

    /// <summary>The registered octets; valid until the region is disposed.</summary>
    public abstract Span<byte> Span { get; }

    /// <summary>
    /// Where the peer's [address, address+length) falls in this region; false when any of it lies
    /// outside (or the range wraps past 2^64).
    /// </summary>
    public bool TryGetOffset(ulong address, ulong length, out int offset)
    {
        offset = 0;
        if (address + length < address || address < RemoteAddress)
        {
            return false;
        }
        ulong start = address - RemoteAddress;
        if (start > (ulong)Length || length > (ulong)Length - start)
        {
            return false;
        }
        offset = (int)start;
        return true;
    }

    /// <summary>Throws unless [offset, offset+length) lies inside the region.</summary>
    internal void CheckSlice(int offset, int length)
    {
        if (offset < 0 || length < 0 || (long)offset + length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset}+{length}) lies outside the {Length}-octet region");
        }
    }

    public abstract void Dispose();

    public override string ToString() => $"region key 0x{RemoteKey:X8} at 0x{RemoteAddress:X}+{Length}";
}
