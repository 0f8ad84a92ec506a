using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Rping;

/// <summary>
/// rping's message path on one transport, for either role: two 16-octet receives kept posted (rping
/// keeps one; a second costs nothing and tolerates a peer that signals early), one 16-octet send buffer,
/// and the completion waits both roles make.
/// </summary>
internal sealed class RpingMessages : IDisposable
{
    private const int ReceiveBuffers = 2;

    private readonly IRdmaTransport _transport;
    private readonly TransportRegion _receives;
    private readonly TransportRegion _send;
    private ulong _workRequest = 100;

    public RpingMessages(IRdmaTransport transport)
    {
        _transport = transport;
        _receives = transport.Register(ReceiveBuffers * RpingBufferInfo.Length, MemoryAccess.LocalWrite);
        _send = transport.Register(RpingBufferInfo.Length, MemoryAccess.None);
        for (int i = 0; i < ReceiveBuffers; i++)
        {
            transport.PostReceive((ulong)i, _receives, i * RpingBufferInfo.Length, RpingBufferInfo.Length);
        }
    }

    public ulong NextWorkRequest() => _workRequest++;

    /// <summary>Sends one rping message (unsignalled: a failure surfaces through the connection's error).</summary>
    public void Send(in RpingBufferInfo info)
    {
        info.Write(_send.Span);
        _transport.PostSend(NextWorkRequest(), _send, 0, RpingBufferInfo.Length, PostFlags.None);
    }

    /// <summary>
    /// The peer's next message, its receive posted again. Throws <see cref="IwarpException"/> (a Stall
    /// after <paramref name="timeout"/>, or the connection's error) and <see cref="InvalidDataException"/>
    /// for a message that is not 16 octets.
    /// </summary>
    public RpingBufferInfo Receive(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Completion completion = WaitFor(CompletionOpcode.Receive, timeout, cancellationToken);
        int offset = (int)completion.WorkRequestId * RpingBufferInfo.Length;
        bool parsed = RpingBufferInfo.TryRead(_receives.Span.Slice(offset, completion.ByteLength), out RpingBufferInfo info, out string error);
        _transport.PostReceive(completion.WorkRequestId, _receives, offset, RpingBufferInfo.Length);
        return parsed ? info : throw new InvalidDataException(error);
    }

    /// <summary>
    /// The next successful completion of <paramref name="opcode"/>. Others that succeed are passed over,
    /// flushed ones too (the next wait then reports the connection's error); any other failure ends it.
    /// </summary>
    public Completion WaitFor(CompletionOpcode opcode, TimeSpan timeout, CancellationToken cancellationToken)
    {
        while (true)
        {
            Completion completion = _transport.WaitForCompletion(timeout, cancellationToken);
            if (completion.IsSuccess && completion.Opcode == opcode)
            {
                return completion;
            }
            if (completion.Status == CompletionStatus.LocalLengthError && completion.Opcode == CompletionOpcode.Receive)
            {
                throw new InvalidDataException($"the peer sent a message longer than the {RpingBufferInfo.Length} octets rping receives into (struct rping_rdma_info): it does not speak rping's protocol");
            }
            if (!completion.IsSuccess && completion.Status != CompletionStatus.Flushed)
            {
                throw (Exception?)_transport.Error ?? new InvalidDataException($"{completion.Opcode} failed: {completion}");
            }
        }
    }

    public void Dispose()
    {
        _receives.Dispose();
        _send.Dispose();
    }
}
