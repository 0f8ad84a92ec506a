using System.Net;
using RdmaDiag.Endpoint;
using SoftRegion = RdmaDiag.Endpoint.MemoryRegion;

namespace RdmaDiag.Verbs;

/// <summary>
/// <see cref="IRdmaTransport"/> over RdmaDiag's userspace iWARP endpoint. It owns the connection:
/// create it, register and post through this transport, then connect or accept the connection.
/// </summary>
public sealed class SoftTransport(IwarpConnection connection) : IRdmaTransport
{
    public IwarpConnection Connection { get; } = connection;

    public string Name => "soft";

    public EndPoint? LocalEndPoint => Connection.LocalEndPoint;

    public EndPoint? RemoteEndPoint => Connection.RemoteEndPoint;

    public IwarpException? Error => Connection.Error;

    public TransportRegion Register(int length, MemoryAccess access)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        return new Region(Connection, Connection.RegisterMemory(new byte[length], access));
    }

    public void PostReceive(ulong workRequestId, TransportRegion region, int offset, int length)
    {
        region.CheckSlice(offset, length);
        Connection.PostReceive(workRequestId, Soft(region).Memory.Slice(offset, length));
    }

    public void PostSend(ulong workRequestId, TransportRegion region, int offset, int length, PostFlags flags = PostFlags.Signaled)
    {
        region.CheckSlice(offset, length);
        // Array-backed memory: the endpoint frames large Sends around it without a copy.
        Connection.PostSend(workRequestId, (ReadOnlyMemory<byte>)Soft(region).Memory.Slice(offset, length), flags);
    }

    public void PostWrite(ulong workRequestId, TransportRegion region, int offset, int length, uint remoteKey, ulong remoteAddress, PostFlags flags = PostFlags.Signaled)
    {
        region.CheckSlice(offset, length);
        Connection.PostWrite(workRequestId, (ReadOnlyMemory<byte>)Soft(region).Memory.Slice(offset, length), remoteKey, remoteAddress, flags);
    }

    public void PostRead(ulong workRequestId, TransportRegion sink, int offset, int length, uint remoteKey, ulong remoteAddress, PostFlags flags = PostFlags.Signaled)
    {
        sink.CheckSlice(offset, length);
        SoftRegion region = Soft(sink);
        Connection.PostRead(workRequestId, region, region.BaseTO + (ulong)offset, length, remoteKey, remoteAddress, flags);
    }

    public Completion WaitForCompletion(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Connection.WaitForCompletion(timeout, cancellationToken);

    public void Close() => Connection.Close();

    public void Dispose() => Connection.Dispose();

    public override string ToString() => Connection.ToString();

    private SoftRegion Soft(TransportRegion region) => region is Region r && r.Owner == Connection
        ? r.Inner
        : throw new ArgumentException($"{region} was not registered on this connection", nameof(region));

    private sealed class Region(IwarpConnection owner, SoftRegion inner) : TransportRegion
    {
        public IwarpConnection Owner { get; } = owner;

        public SoftRegion Inner { get; } = inner;

        public override uint RemoteKey => Inner.STag;

        public override ulong RemoteAddress => Inner.BaseTO;

        public override int Length => Inner.Length;

        public override Span<byte> Span => Inner.Memory.Span;

        public override void Dispose() => Owner.DeregisterMemory(Inner);
    }
}
