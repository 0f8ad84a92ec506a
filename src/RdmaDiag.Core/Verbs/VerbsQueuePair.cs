using System.Diagnostics;
using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Native;

namespace RdmaDiag.Verbs;

/// <summary>
/// The data path of one verbs QP: posting, the completion queue, and waits. Every work request is
/// posted signalled and remembered in a slot its native wr_id names, because a failed completion's
/// opcode and length are undefined in verbs; the caller's unsignalled requests are reaped here and
/// only surface when they fail, as on the soft endpoint.
/// </summary>
/// <remarks>
/// Waits poll the CQ, arm it, and sleep on the completion channel in slices of at most 100 ms (a CQ
/// without a channel is polled every millisecond), calling back between slices so the owner can read
/// rdma_cm events: a DISCONNECTED then ends the wait with the connection's error.
/// </remarks>
internal sealed class VerbsQueuePair : IDisposable
{
    internal const ulong ReceiveTag = 1UL << 63;
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(100);

    // A flush without a DISCONNECTED after this long means the connection broke without rdma_cm saying so.
    private static readonly TimeSpan DefaultFlushGrace = TimeSpan.FromSeconds(2);

    private readonly QueuePair _qp;
    private readonly CompletionQueue _cq;
    private readonly CompletionChannel? _channel;
    private readonly Action _betweenWaits;
    private readonly Func<EndPoint?> _remote;
    private readonly string _name;
    private readonly TimeSpan _flushGrace;
    private readonly object _lock = new();
    private readonly Slot[] _sendSlots;
    private readonly Slot[] _receiveSlots;
    private readonly Stack<int> _freeSend = new();
    private readonly Stack<int> _freeReceive = new();
    private readonly WorkCompletion[] _polled = new WorkCompletion[32];
    private readonly Queue<Completion> _ready = new();
    private bool _armed;
    private long _flushedAt;
    private volatile bool _closed;
    private volatile IwarpException? _error;

    public VerbsQueuePair(QueuePair qp, CompletionQueue cq, CompletionChannel? channel, int sendDepth, int receiveDepth,
        Action betweenWaits, Func<EndPoint?> remote, string name, TimeSpan? flushGrace = null)
    {
        _flushGrace = flushGrace ?? DefaultFlushGrace;
        _qp = qp;
        _cq = cq;
        _channel = channel;
        _betweenWaits = betweenWaits;
        _remote = remote;
        _name = name;
        _sendSlots = new Slot[sendDepth];
        _receiveSlots = new Slot[receiveDepth];
        for (int i = sendDepth - 1; i >= 0; i--)
        {
            _freeSend.Push(i);
        }
        for (int i = receiveDepth - 1; i >= 0; i--)
        {
            _freeReceive.Push(i);
        }
    }

    public uint QpNum => _qp.QpNum;

    public IwarpException? Error => _error;

    public bool IsClosed => _closed;

    /// <summary>Records why the connection stopped; the first error wins. False when one was already recorded.</summary>
    public bool Fail(IwarpException error)
    {
        lock (_lock)
        {
            if (_error is not null || _closed)
            {
                return false;
            }
            _error = error;
            return true;
        }
    }

    public void PostReceive(ulong workRequestId, ScatterGatherElement sge)
    {
        lock (_lock)
        {
            ThrowIfUnusable();
            int slot = Take(_freeReceive, "receive queue", _receiveSlots.Length);
            _receiveSlots[slot] = new Slot(workRequestId, CompletionOpcode.Receive, true, (int)sge.Length);
            try
            {
                _qp.PostRecv(new RecvWorkRequest(ReceiveTag | (uint)slot, sge));
            }
            catch (RdmaNativeException e)
            {
                _freeReceive.Push(slot);
                throw PostFailed(e);
            }
        }
    }

    /// <summary>Posts the request <paramref name="build"/> makes for a native wr_id and send flags.</summary>
    public void PostSend(ulong workRequestId, CompletionOpcode opcode, int length, PostFlags flags, Func<ulong, SendFlags, SendWorkRequest> build)
    {
        var sendFlags = SendFlags.Signaled | ((flags & PostFlags.Solicited) != 0 ? SendFlags.Solicited : SendFlags.None);
        lock (_lock)
        {
            ThrowIfUnusable();
            int slot = Take(_freeSend, "send queue", _sendSlots.Length);
            _sendSlots[slot] = new Slot(workRequestId, opcode, (flags & PostFlags.Signaled) != 0, length);
            try
            {
                _qp.PostSend(build((uint)slot, sendFlags));
            }
            catch (RdmaNativeException e)
            {
                _freeSend.Push(slot);
                throw PostFailed(e);
            }
        }
    }

    private int Take(Stack<int> free, string queue, int depth)
    {
        // Completions not yet waited for still hold slots; reap them before declaring the queue full.
        if (free.Count == 0)
        {
            Drain();
        }
        return free.TryPop(out int slot) ? slot : throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
            $"{queue} full: {depth} work requests outstanding");
    }

    private IwarpException PostFailed(RdmaNativeException e) => _error ?? (e.Errno == Native.Errno.ENOMEM
        ? new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation, e.Message,
            new RdmaCmEvidence(e.Message) { Function = e.Function, Errno = e.Errno })
        : VerbsFailures.FromCall(e, ConnectionPhase.FullOperation, _remote(), "posting a work request"));

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_error is { } error)
        {
            throw error;
        }
    }

    public Completion WaitForCompletion(TimeSpan timeout, CancellationToken cancellationToken)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            lock (_lock)
            {
                if (_ready.Count == 0 && !_closed)
                {
                    Drain();
                }
                if (_ready.TryDequeue(out Completion completion))
                {
                    return completion;
                }
                if (_error is { } error)
                {
                    throw error;
                }
                ObjectDisposedException.ThrowIf(_closed, this);
            }
            _betweenWaits();
            CheckFlushGrace();
            cancellationToken.ThrowIfCancellationRequested();
            long now = Stopwatch.GetTimestamp();
            if (now >= deadline)
            {
                throw new IwarpException(IwarpErrorKind.Stall, ConnectionPhase.FullOperation,
                    $"no completion within {timeout.TotalSeconds:0.###} s on {_name}")
                {
                    RemoteEndPoint = _remote(),
                    Waited = timeout,
                };
            }
            TimeSpan left = Stopwatch.GetElapsedTime(now, deadline);
            Sleep(left < Slice ? left : Slice);
        }
    }

    /// <summary>Arms the CQ and sleeps on the channel until an event or <paramref name="slice"/>; returns at once when completions slipped in.</summary>
    private void Sleep(TimeSpan slice)
    {
        if (_channel is null)
        {
            Thread.Sleep(1);
            return;
        }
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            if (!_armed)
            {
                try
                {
                    _cq.RequestNotify();
                }
                catch (RdmaNativeException e)
                {
                    Fail(VerbsFailures.FromCall(e, ConnectionPhase.FullOperation, _remote(), "arming the CQ"));
                    return;
                }
                _armed = true;
                // A completion that arrived before the arming raised no event: look once more.
                Drain();
                if (_ready.Count > 0)
                {
                    return;
                }
            }
        }
        try
        {
            if (_channel.WaitForEvent(slice) is not null)
            {
                lock (_lock)
                {
                    _armed = false;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed while waiting: the next round reports the close.
        }
    }

    private void Drain()
    {
        int count;
        try
        {
            count = _cq.Poll(_polled);
        }
        catch (RdmaNativeException e)
        {
            Fail(VerbsFailures.FromCall(e, ConnectionPhase.FullOperation, _remote(), "polling the CQ"));
            return;
        }
        for (int i = 0; i < count; i++)
        {
            Complete(_polled[i]);
        }
    }

    private void Complete(in WorkCompletion wc)
    {
        bool receive = (wc.WrId & ReceiveTag) != 0;
        int index = (int)(wc.WrId & ~ReceiveTag);
        Slot[] slots = receive ? _receiveSlots : _sendSlots;
        if (index >= slots.Length)
        {
            return;
        }
        Slot slot = slots[index];
        (receive ? _freeReceive : _freeSend).Push(index);
        if (wc.Status == WcStatus.WrFlushErr)
        {
            if (_flushedAt == 0)
            {
                _flushedAt = Stopwatch.GetTimestamp();
            }
        }
        else if (!wc.IsSuccess)
        {
            Fail(VerbsFailures.FromCompletion(wc.Status, wc.VendorError, $"{slot.Opcode} (wr {slot.CallerId}, {slot.Length} octets)", _remote()));
        }
        if (!receive && wc.IsSuccess && !slot.Signaled)
        {
            return;
        }
        CompletionOpcode opcode = receive && wc.IsSuccess && wc.Opcode == WcOpcode.RecvRdmaWithImm ? CompletionOpcode.ReceiveImmediate : slot.Opcode;
        CompletionFlags flags = receive && wc.IsSuccess && (wc.Flags & WcFlags.WithInv) != 0 ? CompletionFlags.Invalidated : CompletionFlags.None;
        int length = !wc.IsSuccess ? 0 : receive ? (int)wc.ByteLength : slot.Length;
        _ready.Enqueue(new Completion(slot.CallerId, opcode, Map(wc.Status), length, flags,
            ImmediateData: opcode == CompletionOpcode.ReceiveImmediate ? wc.ImmediateData : 0,
            InvalidatedSTag: flags == CompletionFlags.Invalidated ? wc.ImmediateData : 0));
    }

    internal static CompletionStatus Map(WcStatus status) => status switch
    {
        WcStatus.Success => CompletionStatus.Success,
        WcStatus.RemAccessErr => CompletionStatus.RemoteAccessError,
        WcStatus.RemOpErr or WcStatus.RemInvReqErr or WcStatus.RemInvRdReqErr or WcStatus.RemAbortErr => CompletionStatus.RemoteOperationError,
        WcStatus.LocLenErr => CompletionStatus.LocalLengthError,
        _ => CompletionStatus.Flushed,
    };

    private void CheckFlushGrace()
    {
        long flushedAt = _flushedAt;
        if (flushedAt != 0 && _error is null && Stopwatch.GetElapsedTime(flushedAt) > _flushGrace)
        {
            Fail(new IwarpException(IwarpErrorKind.ConnectionReset, ConnectionPhase.FullOperation,
                $"the QP's work requests were flushed (it entered the error state) and rdma_cm reported no disconnect within {_flushGrace.TotalSeconds:0.###} s")
            {
                RemoteEndPoint = _remote(),
            });
        }
    }

    /// <summary>Destroys the QP, then the CQ and its channel; later calls see the close.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _error ??= new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.FullOperation, "the connection was closed locally") { RemoteEndPoint = _remote() };
            _closed = true;
            _qp.Dispose();
            _cq.Dispose();
            _channel?.Dispose();
        }
    }

    private readonly record struct Slot(ulong CallerId, CompletionOpcode Opcode, bool Signaled, int Length);
}
