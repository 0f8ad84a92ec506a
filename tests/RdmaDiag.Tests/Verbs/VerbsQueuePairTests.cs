using RdmaDiag.Endpoint;
using RdmaDiag.Native;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>The verbs data path (slots, completions, errors, waits) through a fake provider.</summary>
public sealed class VerbsQueuePairTests : IDisposable
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(50);
    private static readonly ScatterGatherElement Buffer = new(0x10000, 64, 0xAB);

    private readonly FakeQueuePair _fake = new();
    private int _betweenWaits;

    public void Dispose() => _fake.Dispose();

    private VerbsQueuePair Create(int sendDepth = 8, int receiveDepth = 8, Action? betweenWaits = null, TimeSpan? flushGrace = null) =>
        new(_fake.QueuePair(), _fake.CompletionQueue(), channel: null, sendDepth, receiveDepth,
            betweenWaits ?? (() => _betweenWaits++), () => null, "fake", flushGrace);

    private static void Send(VerbsQueuePair queue, ulong id, PostFlags flags, int length = 64) =>
        queue.PostSend(id, CompletionOpcode.Send, length, flags, (native, sendFlags) => SendWorkRequest.Send(native, Buffer with { Length = (uint)length }, sendFlags));

    private static void Write(VerbsQueuePair queue, ulong id, PostFlags flags) =>
        queue.PostSend(id, CompletionOpcode.RdmaWrite, 64, flags, (native, sendFlags) => SendWorkRequest.RdmaWrite(native, Buffer, 0xFEED0000, 0x1234, sendFlags));

    [Fact]
    public void PostSend_Unsignalled_GoesToTheProviderSignalledUnderASlotId()
    {
        using VerbsQueuePair queue = Create();

        Send(queue, 500, PostFlags.None);
        Write(queue, 501, PostFlags.Solicited);

        Assert.Equal([0ul, 1ul], _fake.Sent.Select(w => w.wr_id));
        Assert.All(_fake.Sent, w => Assert.True((w.send_flags & (uint)SendFlags.Signaled) != 0));
        Assert.Equal((uint)(SendFlags.Signaled | SendFlags.Solicited), _fake.Sent[1].send_flags);
        Assert.Equal((0xFEED0000ul, 0x1234u), (_fake.Sent[1].wr_rdma_remote_addr, _fake.Sent[1].wr_rdma_rkey));
    }

    [Fact]
    public void Wait_UnsignalledSuccess_IsReapedAndNotReported()
    {
        using VerbsQueuePair queue = Create();
        Send(queue, 500, PostFlags.None);
        _fake.Complete(_fake.Sent[0].wr_id);

        var e = Assert.Throws<IwarpException>(() => queue.WaitForCompletion(Short, default));

        Assert.Equal(IwarpErrorKind.Stall, e.Kind);
        Assert.True(_betweenWaits > 0, "the owner was never called between waits");
    }

    [Fact]
    public void Wait_SignalledCompletion_ReportsCallersIdOpcodeAndLengthFromTheSlot()
    {
        using VerbsQueuePair queue = Create();
        Send(queue, 500, PostFlags.None);
        Write(queue, 501, PostFlags.Signaled);
        // The provider's opcode field is only defined for some completions; the slot is what counts.
        _fake.Complete(_fake.Sent[0].wr_id);
        _fake.Complete(_fake.Sent[1].wr_id, opcode: (WcOpcode)0x55);

        Completion completion = queue.WaitForCompletion(Short, default);

        Assert.Equal(new Completion(501, CompletionOpcode.RdmaWrite, CompletionStatus.Success, 64), completion);
    }

    [Fact]
    public void Wait_Receive_ReportsTheBytesReceived()
    {
        using VerbsQueuePair queue = Create();
        queue.PostReceive(7, Buffer);
        ulong native = _fake.Received.Single().wr_id;

        _fake.Complete(native, opcode: WcOpcode.Recv, byteLength: 16);
        Completion completion = queue.WaitForCompletion(Short, default);

        Assert.Equal(VerbsQueuePair.ReceiveTag, native & VerbsQueuePair.ReceiveTag);
        Assert.Equal(new Completion(7, CompletionOpcode.Receive, CompletionStatus.Success, 16), completion);
    }

    [Fact]
    public void Wait_UnsignalledWriteFailsRemoteAccess_ReportsItAndFailsTheConnectionWithEvidence()
    {
        using VerbsQueuePair queue = Create();
        Write(queue, 501, PostFlags.None);
        _fake.Complete(_fake.Sent[0].wr_id, WcStatus.RemAccessErr, opcode: (WcOpcode)0x55, vendorError: 0x22);

        Completion completion = queue.WaitForCompletion(Short, default);

        Assert.Equal(new Completion(501, CompletionOpcode.RdmaWrite, CompletionStatus.RemoteAccessError, 0), completion);
        IwarpException error = Assert.IsType<IwarpException>(queue.Error);
        Assert.Equal((IwarpErrorKind.TerminateReceived, ErrorSource.Peer), (error.Kind, error.DetectedBy));
        var evidence = Assert.IsType<RdmaCmEvidence>(error.InnerException);
        Assert.Equal((WcStatus.RemAccessErr, 0x22u), (evidence.CompletionStatus, evidence.VendorError));
        Assert.Contains("RdmaWrite (wr 501, 64 octets)", error.Message);
        Assert.Same(error, Assert.Throws<IwarpException>(() => Send(queue, 502, PostFlags.None)));
        Assert.Same(error, Assert.Throws<IwarpException>(() => queue.WaitForCompletion(Short, default)));
    }

    [Fact]
    public void Wait_FlushWithoutDisconnect_BecomesResetAfterTheGrace()
    {
        using VerbsQueuePair queue = Create(flushGrace: TimeSpan.FromMilliseconds(20));
        queue.PostReceive(7, Buffer);
        _fake.Complete(_fake.Received[0].wr_id, WcStatus.WrFlushErr);

        Completion flushed = queue.WaitForCompletion(Short, default);
        Thread.Sleep(30);
        var e = Assert.Throws<IwarpException>(() => queue.WaitForCompletion(TimeSpan.FromSeconds(1), default));

        Assert.Equal(new Completion(7, CompletionOpcode.Receive, CompletionStatus.Flushed, 0), flushed);
        Assert.Equal(IwarpErrorKind.ConnectionReset, e.Kind);
        Assert.Contains("flushed", e.Message);
    }

    [Fact]
    public void Wait_OwnerSeesDisconnectBetweenWaits_ThrowsItsError()
    {
        VerbsQueuePair? queue = null;
        var closed = new IwarpException(IwarpErrorKind.ConnectionClosed, ConnectionPhase.FullOperation, "the peer closed the connection");
        queue = Create(betweenWaits: () => queue!.Fail(closed));

        var e = Assert.Throws<IwarpException>(() => queue.WaitForCompletion(TimeSpan.FromSeconds(5), default));

        Assert.Same(closed, e);
        queue.Dispose();
    }

    [Fact]
    public void PostSend_QueueFull_ReapsFinishedRequestsFirstThenRefuses()
    {
        using VerbsQueuePair queue = Create(sendDepth: 2);
        Send(queue, 1, PostFlags.None);
        Send(queue, 2, PostFlags.None);

        var full = Assert.Throws<IwarpException>(() => Send(queue, 3, PostFlags.None));
        _fake.Complete(_fake.Sent[0].wr_id);
        Send(queue, 3, PostFlags.None);

        Assert.Equal((IwarpErrorKind.LocalResourceLimit, "send queue full: 2 work requests outstanding"), (full.Kind, full.Message));
        Assert.Equal([0ul, 1ul, 0ul], _fake.Sent.Select(w => w.wr_id));
    }

    [Theory]
    [InlineData(Errno.ENOMEM, IwarpErrorKind.LocalResourceLimit)]
    [InlineData(Errno.EINVAL, IwarpErrorKind.ConnectionReset)]
    public void PostSend_ProviderRefuses_MapsErrnoAndFreesTheSlot(int errno, IwarpErrorKind kind)
    {
        using VerbsQueuePair queue = Create(sendDepth: 1);
        _fake.PostSendReturn = errno;

        var e = Assert.Throws<IwarpException>(() => Send(queue, 1, PostFlags.None));
        _fake.PostSendReturn = 0;
        Send(queue, 2, PostFlags.None);

        Assert.Equal(kind, e.Kind);
        var evidence = Assert.IsType<RdmaCmEvidence>(e.InnerException);
        Assert.Equal(("ibv_post_send", errno), (evidence.Function, evidence.Errno));
        Assert.Single(_fake.Sent);
    }

    [Fact]
    public void Dispose_ThenWait_ThrowsLocalClose()
    {
        VerbsQueuePair queue = Create();
        queue.Dispose();

        var e = Assert.Throws<IwarpException>(() => queue.WaitForCompletion(Short, default));

        Assert.Equal(IwarpErrorKind.LocalClose, e.Kind);
        Assert.Throws<ObjectDisposedException>(() => queue.PostReceive(1, Buffer));
    }
}
