using System.Security.Cryptography;
using RdmaDiag.Verbs;

namespace RdmaDiag.Endpoint;

/// <summary>
/// The server half of the probe protocol (<see cref="ProbeMessage"/>) on one connection. Construct it
/// before accepting, so its region is registered and its receives are posted when the client's first
/// Send arrives; then <see cref="Run"/> until the client closes. It runs over any
/// <see cref="IRdmaTransport"/>: the userspace endpoint or an rdma_cm connection.
/// </summary>
public sealed class ProbeServer : ITransportSession
{
    /// <summary>Probe region and largest Echo: check runs Send, Write and Read at up to 1 MiB.</summary>
    public const int DefaultLength = 1 << 20;

    private const int ReceiveBuffers = 2;

    private readonly IRdmaTransport _transport;
    private readonly TransportRegion _region;
    private readonly TransportRegion _receives;
    private readonly TransportRegion _reply;
    private readonly int _maxEcho;
    private readonly int _receiveLength;

    public ProbeServer(IwarpConnection connection, int regionLength = DefaultLength, int maxEcho = DefaultLength)
        : this(new SoftTransport(connection), regionLength, maxEcho)
    {
    }

    public ProbeServer(IRdmaTransport transport, int regionLength = DefaultLength, int maxEcho = DefaultLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(regionLength, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxEcho);
        _transport = transport;
        _maxEcho = maxEcho;
        _region = transport.Register(regionLength, MemoryAccess.LocalWrite | MemoryAccess.RemoteWrite | MemoryAccess.RemoteRead);
        _receiveLength = ProbeMessage.HeaderLength + maxEcho;
        _receives = transport.Register(ReceiveBuffers * _receiveLength, MemoryAccess.LocalWrite);
        _reply = transport.Register(ProbeMessage.HeaderLength, MemoryAccess.None);
        for (int i = 0; i < ReceiveBuffers; i++)
        {
            transport.PostReceive((ulong)i, _receives, i * _receiveLength, _receiveLength);
        }
    }

    public TransportRegion Region => _region;

    /// <summary>Requests answered so far.</summary>
    public int RequestsServed { get; private set; }

    public string Progress => $"{RequestsServed} probe request(s)";

    /// <summary>
    /// Serves until the client closes cleanly (returns) or the connection fails (throws
    /// <see cref="IwarpException"/>), or until <paramref name="cancellationToken"/> fires.
    /// </summary>
    public void Run(CancellationToken cancellationToken = default)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Completion completion;
                try
                {
                    completion = _transport.WaitForCompletion(TimeSpan.FromMilliseconds(500), cancellationToken);
                }
                catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
                {
                    continue;
                }
                if (completion.Opcode != CompletionOpcode.Receive || completion.Status != CompletionStatus.Success)
                {
                    continue;
                }
                int offset = (int)completion.WorkRequestId * _receiveLength;
                Answer(_receives.Span.Slice(offset, completion.ByteLength));
                RequestsServed++;
                _transport.PostReceive(completion.WorkRequestId, _receives, offset, _receiveLength);
            }
        }
        catch (IwarpException e) when (e.Kind is IwarpErrorKind.ConnectionClosed or IwarpErrorKind.LocalClose)
        {
            // The client is done (or we are shutting down): a clean end.
        }
        catch (OperationCanceledException)
        {
            // Shutdown.
        }
    }

    private void Answer(ReadOnlySpan<byte> request)
    {
        if (!ProbeMessage.TryRead(request, out ProbeMessage message, out _))
        {
            Reply(new ProbeMessage(ProbeOp.Digest, ProbeStatus.BadRequest));
            return;
        }
        if (message.Version != ProbeMessage.CurrentVersion)
        {
            Reply(new ProbeMessage(ProbeOp.Digest, ProbeStatus.BadVersion));
            return;
        }
        switch (message.Op)
        {
            case ProbeOp.Hello:
                Reply(new ProbeMessage(ProbeOp.Advert, Length: (uint)_region.Length, Limit: (uint)_maxEcho, Offset: _region.RemoteAddress, Value: _region.RemoteKey));
                break;
            case ProbeOp.Echo:
                ReadOnlySpan<byte> payload = request[ProbeMessage.HeaderLength..];
                Reply(message.Length != payload.Length
                    ? new ProbeMessage(ProbeOp.Digest, ProbeStatus.BadRequest, (uint)payload.Length)
                    : Digest(payload, (uint)payload.Length, 0));
                break;
            case ProbeOp.Check or ProbeOp.Fill:
                if (!_region.TryGetOffset(message.Offset, message.Length, out int offset))
                {
                    Reply(new ProbeMessage(ProbeOp.Digest, ProbeStatus.BadRequest, message.Length, Offset: message.Offset));
                    break;
                }
                Span<byte> range = _region.Span.Slice(offset, (int)message.Length);
                if (message.Op == ProbeOp.Fill)
                {
                    ProbeMessage.FillPattern(range, message.Value);
                }
                Reply(Digest(range, message.Length, message.Offset));
                break;
            default:
                Reply(new ProbeMessage(ProbeOp.Digest, ProbeStatus.UnknownOp));
                break;
        }
    }

    private static ProbeMessage Digest(ReadOnlySpan<byte> data, uint length, ulong offset) =>
        new(ProbeOp.Digest, ProbeStatus.Ok, length, Offset: offset) { Digest = SHA256.HashData(data) };

    private void Reply(in ProbeMessage message)
    {
        message.Write(_reply.Span);
        _transport.PostSend(0, _reply, 0, ProbeMessage.HeaderLength, PostFlags.None);
    }
}
