using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Endpoint;

public sealed partial class IwarpConnection
{
    /// <summary>FPDUs are gathered up to this many octets per Socket.Send.</summary>
    private const int TransmitBatch = 256 * 1024;

    /// <summary>Worst-case marker octets inside one FPDU of at most <see cref="Fpdu.MaxLength"/> octets.</summary>
    private const int MaxMarkerOverhead = MpaMarkers.Length * (Fpdu.MaxLength / (MpaMarkers.Interval - MpaMarkers.Length) + 2);

    private readonly object _sendLock = new();
    private byte[] _transmit = [];
    private byte[] _transmitScratch = [];
    private int _transmitLength;
    private bool _crc;
    private int _mulpdu;
    private bool _markersSent;
    private MarkerInserter _markerInserter;
    private bool _terminateSent;
    private volatile bool _fenceOpen;
    private readonly uint[] _transmitMsn = [1, 1, 1, 1];

    // Outbound Read and Atomic Requests: in flight (ORQ, at most ORD) and waiting for a credit.
    private readonly object _outboundLock = new();
    private OutboundRequest[] _orq = [];
    private int _orqHead;
    private int _orqCount;
    private int _ord;
    private readonly Queue<OutboundRequest> _pendingOutbound = new();

    private void InitializeTransmit(NegotiatedParameters parameters)
    {
        _crc = parameters.Crc;
        _mulpdu = parameters.Mulpdu;
        _markersSent = parameters.MarkersSent;
        _markerInserter = new MarkerInserter(0);
        _transmit = new byte[TransmitBatch + Fpdu.MaxLength + MaxMarkerOverhead];
        _transmitScratch = _markersSent ? new byte[Fpdu.MaxLength] : [];
        _ord = parameters.Ord;
        _orq = new OutboundRequest[Math.Clamp(parameters.Ord, 1, MpaV2Block.MaxValue)];
        _fenceOpen = parameters.Role == ConnectionRole.Initiator;
    }

    /// <summary>
    /// Posts a Send of <paramref name="data"/> (copied before this returns). <paramref name="invalidateSTag"/>
    /// makes it Send with Invalidate; <see cref="PostFlags.Solicited"/> the SE variant.
    /// </summary>
    public void PostSend(ulong workRequestId, ReadOnlySpan<byte> data, PostFlags flags = PostFlags.Signaled, uint? invalidateSTag = null) =>
        PostSend(workRequestId, new Payload(data), flags, invalidateSTag);

    /// <summary>
    /// <see cref="PostSend(ulong, ReadOnlySpan{byte}, PostFlags, uint?)"/> for array-backed data: large
    /// FPDUs are then written to the socket straight from the array (no copy), framing around them.
    /// </summary>
    public void PostSend(ulong workRequestId, ReadOnlyMemory<byte> data, PostFlags flags = PostFlags.Signaled, uint? invalidateSTag = null) =>
        PostSend(workRequestId, new Payload(data), flags, invalidateSTag);

    private void PostSend(ulong workRequestId, in Payload data, PostFlags flags, uint? invalidateSTag)
    {
        bool solicited = (flags & PostFlags.Solicited) != 0;
        RdmapOpcode opcode = (solicited, invalidateSTag.HasValue) switch
        {
            (false, false) => RdmapOpcode.Send,
            (false, true) => RdmapOpcode.SendWithInvalidate,
            (true, false) => RdmapOpcode.SendWithSolicitedEvent,
            (true, true) => RdmapOpcode.SendWithSolicitedEventAndInvalidate,
        };
        CheckMessageLength(data.Length);
        WaitForFence();
        lock (_sendLock)
        {
            ThrowIfCannotSend();
            var first = DdpHeader.CreateUntagged(RdmapControl.Encode(opcode), 0, _transmitMsn[0]++, 0, last: false, rsvdUlp: invalidateSTag ?? 0);
            SendMessage(first, RdmapHeader.None, data);
        }
        Complete(workRequestId, CompletionOpcode.Send, data.Length, flags);
    }

    /// <summary>Posts an RDMA Write of <paramref name="data"/> to the peer's STag at TO (copied before this returns).</summary>
    public void PostWrite(ulong workRequestId, ReadOnlySpan<byte> data, uint remoteSTag, ulong remoteTO, PostFlags flags = PostFlags.Signaled) =>
        PostWrite(workRequestId, new Payload(data), remoteSTag, remoteTO, flags);

    /// <summary><see cref="PostWrite(ulong, ReadOnlySpan{byte}, uint, ulong, PostFlags)"/> for array-backed data, without a copy for large FPDUs.</summary>
    public void PostWrite(ulong workRequestId, ReadOnlyMemory<byte> data, uint remoteSTag, ulong remoteTO, PostFlags flags = PostFlags.Signaled) =>
        PostWrite(workRequestId, new Payload(data), remoteSTag, remoteTO, flags);

    private void PostWrite(ulong workRequestId, in Payload data, uint remoteSTag, ulong remoteTO, PostFlags flags)
    {
        CheckMessageLength(data.Length);
        WaitForFence();
        lock (_sendLock)
        {
            ThrowIfCannotSend();
            SendMessage(DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), remoteSTag, remoteTO, last: false), RdmapHeader.None, data);
        }
        Complete(workRequestId, CompletionOpcode.RdmaWrite, data.Length, flags);
    }

    /// <summary>Posts an Immediate Data message (RFC 7306): 8 octets that consume one receive at the peer.</summary>
    public void PostImmediate(ulong workRequestId, ulong value, PostFlags flags = PostFlags.Signaled)
    {
        RdmapOpcode opcode = (flags & PostFlags.Solicited) != 0 ? RdmapOpcode.ImmediateDataWithSolicitedEvent : RdmapOpcode.ImmediateData;
        WaitForFence();
        lock (_sendLock)
        {
            ThrowIfCannotSend();
            var header = DdpHeader.CreateUntagged(RdmapControl.Encode(opcode), 0, _transmitMsn[0]++, 0, last: true);
            SendMessage(header, new ImmediateData(value), default);
        }
        Complete(workRequestId, CompletionOpcode.ImmediateData, ImmediateData.Length, flags);
    }

    /// <summary>
    /// Posts an RDMA Read of <paramref name="length"/> octets from the peer's STag at TO into
    /// <paramref name="sink"/> at <paramref name="sinkTO"/> (a tagged offset of the sink region). Beyond
    /// the negotiated ORD, Reads wait in a local queue for a credit.
    /// </summary>
    public void PostRead(ulong workRequestId, MemoryRegion sink, ulong sinkTO, int length, uint remoteSTag, ulong remoteTO, PostFlags flags = PostFlags.Signaled)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!sink.Allows(MemoryAccess.LocalWrite) || FindRegion(sink.STag) != sink)
        {
            throw new ArgumentException($"{sink} is not a valid registered region with LocalWrite access", nameof(sink));
        }
        if (sink.Check(sinkTO, (ulong)length, out _) != RegionCheck.Ok)
        {
            throw new ArgumentOutOfRangeException(nameof(sinkTO), $"[0x{sinkTO:X}, +{length}) is outside {sink}");
        }
        PostOutbound(new OutboundRequest
        {
            Kind = OutboundKind.Read,
            WorkRequestId = workRequestId,
            Signaled = (flags & PostFlags.Signaled) != 0,
            Read = new ReadRequestHeader(sink.STag, sinkTO, (uint)length, remoteSTag, remoteTO),
        });
    }

    /// <summary>Posts an Atomic FetchAdd on the peer's 8-octet word at STag/TO; the completion carries the original value.</summary>
    public void PostFetchAdd(ulong workRequestId, uint remoteSTag, ulong remoteTO, ulong add, ulong addMask = 0, PostFlags flags = PostFlags.Signaled) =>
        PostOutbound(new OutboundRequest
        {
            Kind = OutboundKind.Atomic,
            WorkRequestId = workRequestId,
            Signaled = (flags & PostFlags.Signaled) != 0,
            Atomic = AtomicRequest.FetchAdd((uint)workRequestId, remoteSTag, remoteTO, add, addMask),
        });

    /// <summary>Posts an Atomic CmpSwap: if ((compare ^ original) &amp; compareMask) == 0 the word becomes (original &amp; ~swapMask) | (swap &amp; swapMask).</summary>
    public void PostCompareSwap(ulong workRequestId, uint remoteSTag, ulong remoteTO, ulong compare, ulong swap,
        ulong compareMask = ulong.MaxValue, ulong swapMask = ulong.MaxValue, PostFlags flags = PostFlags.Signaled) =>
        PostOutbound(new OutboundRequest
        {
            Kind = OutboundKind.Atomic,
            WorkRequestId = workRequestId,
            Signaled = (flags & PostFlags.Signaled) != 0,
            Atomic = AtomicRequest.CmpSwap((uint)workRequestId, remoteSTag, remoteTO, swap, swapMask, compare, compareMask),
        });

    private void PostOutbound(in OutboundRequest request)
    {
        WaitForFence();
        lock (_sendLock)
        {
            ThrowIfCannotSend();
            if (_ord == 0)
            {
                throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
                    "the negotiated ORD is 0: this side may not issue RDMA Reads or Atomics");
            }
            bool issue;
            lock (_outboundLock)
            {
                issue = _orqCount < _ord && _pendingOutbound.Count == 0;
                if (issue)
                {
                    PushOrq(request);
                }
                else if (_pendingOutbound.Count >= _options.MaxPendingReads)
                {
                    throw new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation,
                        $"{_pendingOutbound.Count} Reads/Atomics already wait for ORD credits (ORD {_ord}); limit {_options.MaxPendingReads}");
                }
                else
                {
                    _pendingOutbound.Enqueue(request);
                }
            }
            if (issue)
            {
                SendOutboundRequest(request);
            }
        }
    }

    /// <summary>Caller holds _outboundLock.</summary>
    private void PushOrq(in OutboundRequest request)
    {
        _orq[(_orqHead + _orqCount) % _orq.Length] = request;
        _orqCount++;
    }

    /// <summary>Caller holds _sendLock. Read Requests and Atomic Requests share QN 1 and its MSN.</summary>
    private void SendOutboundRequest(in OutboundRequest request)
    {
        bool read = request.Kind is OutboundKind.Read or OutboundKind.ReadRtr;
        var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(read ? RdmapOpcode.RdmaReadRequest : RdmapOpcode.AtomicRequest), 1, _transmitMsn[1]++, 0, last: true);
        SendMessage(ddp, read ? new RdmapHeader(request.Read) : new RdmapHeader(request.Atomic), default);
    }

    /// <summary>Sends queued Reads/Atomics while ORD credits allow (after a response freed one).</summary>
    private void IssuePendingOutbound()
    {
        lock (_sendLock)
        {
            while (!_terminateSent && _state == ConnectionState.Established)
            {
                OutboundRequest next;
                lock (_outboundLock)
                {
                    if (_orqCount >= _ord || !_pendingOutbound.TryDequeue(out next))
                    {
                        return;
                    }
                    PushOrq(next);
                }
                SendOutboundRequest(next);
            }
        }
    }

    /// <summary>The initiator's RTR (RFC 6581 §3.4) with the values siw puts on the wire: STag 1, TO 0.</summary>
    private void SendRtr(RtrType rtr)
    {
        lock (_sendLock)
        {
            switch (rtr)
            {
                case RtrType.Send:
                    SendMessage(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, _transmitMsn[0]++, 0), RdmapHeader.None, default);
                    break;
                case RtrType.Write:
                    SendMessage(DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), 1, 0), RdmapHeader.None, default);
                    break;
                case RtrType.Read:
                    var request = new OutboundRequest { Kind = OutboundKind.ReadRtr, Read = new ReadRequestHeader(0, 0, 0, 1, 0) };
                    lock (_outboundLock)
                    {
                        PushOrq(request);
                    }
                    SendOutboundRequest(request);
                    break;
            }
        }
    }

    private void Complete(ulong workRequestId, CompletionOpcode opcode, int length, PostFlags flags)
    {
        if ((flags & PostFlags.Signaled) != 0)
        {
            AddCompletion(new Completion(workRequestId, opcode, CompletionStatus.Success, length));
        }
    }

    private static void CheckMessageLength(long length)
    {
        if (length > DdpSegmenter.MaxMessageLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"a DDP message is shorter than 2^32 octets; got {length}");
        }
    }

    private void ThrowIfCannotSend()
    {
        ThrowIfUnusable();
        if (_state != ConnectionState.Established || _socket is null)
        {
            throw new InvalidOperationException($"connection is {_state}; it must be established to send");
        }
        if (_terminateSent)
        {
            throw _error ?? new IwarpException(IwarpErrorKind.TerminateSent, ConnectionPhase.FullOperation, "a Terminate was sent; the stream is closed");
        }
    }

    /// <summary>
    /// RFC 5044 §6 MPA fencing: a responder sends nothing until the initiator's first FPDU (or RTR)
    /// arrived. Waits outside every lock, since the FPDU that opens the fence may need the send lock.
    /// </summary>
    private void WaitForFence()
    {
        if (_fenceOpen)
        {
            return;
        }
        TimeSpan limit = _options.FenceTimeout;
        long deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (!_fenceOpen)
        {
            ThrowIfUnusable();
            if (_state != ConnectionState.Established)
            {
                throw new InvalidOperationException($"connection is {_state}; it must be established to send");
            }
            if (Stopwatch.GetTimestamp() >= deadline)
            {
                throw Stall(limit, "at the responder's MPA fence (RFC 5044: the responder may not send before the initiator's first FPDU)");
            }
            if (_options.Progress == ProgressMode.Inline)
            {
                DriveProgress(deadline);
            }
            else
            {
                SleepUntilSignalled(deadline);
            }
        }
    }

    /// <summary>
    /// Caller holds _sendLock. Cuts a message into FPDUs of at most MULPDU (a message with an RDMAP header
    /// is always one segment) and sends them in as few Socket.Send calls as the batch buffer allows.
    /// </summary>
    private void SendMessage(in DdpHeader first, in RdmapHeader header, in Payload payload)
    {
        ReadOnlySpan<byte> data = payload.Span;
        if (header.Kind != RdmapHeaderKind.None || data.IsEmpty)
        {
            AppendFpdu(first.WithLast(true), header, data);
        }
        else if (payload.Array is { } array && !_markersSent && _mulpdu - first.Length >= GatherMinimumSegment)
        {
            FlushTransmit();
            SendGathered(first, array, payload.Offset, data.Length);
            return;
        }
        else
        {
            foreach (DdpSegment segment in new DdpSegmenter(first, data.Length, _mulpdu))
            {
                AppendFpdu(segment.Header, RdmapHeader.None, data.Slice((int)segment.Offset, segment.Length));
            }
        }
        FlushTransmit();
    }

    /// <summary>Segments carrying at least this much payload are sent from the caller's array instead of copied.</summary>
    private const int GatherMinimumSegment = 8 * 1024;

    /// <summary>
    /// FPDUs per gathered Socket.Send: k FPDUs take 2k+1 buffers (framing pieces join a trailer to the next
    /// header), and .NET builds at most 8 iovecs on the stack; more would allocate per call.
    /// </summary>
    private const int GatherFpdusPerSend = 3;

    private readonly List<ArraySegment<byte>> _gather = new(2 * GatherFpdusPerSend + 1);

    /// <summary>
    /// Sends a message whose payload lives in <paramref name="array"/>: ULPDU_Length, DDP header, pad and
    /// CRC are built in the transmit buffer, the payload goes to the kernel from the array itself.
    /// <code>
    ///  transmit buffer:  [len|hdr1]       [pad|crc1 len|hdr2]       [pad|crc2 len|hdr3]       [pad|crc3]
    ///  caller's array:             [payload1]                  [payload2]                [payload3]
    /// </code>
    /// </summary>
    private void SendGathered(in DdpHeader first, byte[] array, int offset, int length)
    {
        Span<byte> framing = _transmit;
        int at = 0;
        int piece = 0;
        int fpdus = 0;
        foreach (DdpSegment segment in new DdpSegmenter(first, length, _mulpdu))
        {
            int ulpduLength = segment.Header.Length + segment.Length;
            BinaryPrimitives.WriteUInt16BigEndian(framing[at..], (ushort)ulpduLength);
            int headerEnd = at + Fpdu.LengthFieldSize + segment.Header.Write(framing[(at + Fpdu.LengthFieldSize)..]);
            var payload = new ArraySegment<byte>(array, offset + (int)segment.Offset, segment.Length);
            _gather.Add(new ArraySegment<byte>(_transmit, piece, headerEnd - piece));
            _gather.Add(payload);
            int pad = Fpdu.PadLength(ulpduLength);
            framing.Slice(headerEnd, pad).Clear();
            uint crc = 0;
            if (_crc)
            {
                crc = Crc32c.Update(Crc32c.Seed, framing[at..headerEnd]);
                crc = Crc32c.Update(crc, payload);
                crc = Crc32c.Finish(Crc32c.Update(crc, framing.Slice(headerEnd, pad)));
            }
            Crc32c.WriteWire(framing[(headerEnd + pad)..], crc);
            piece = headerEnd;
            at = headerEnd + pad + Crc32c.Size;
            _fpdusSent++;
            if (++fpdus == GatherFpdusPerSend)
            {
                SendGather(new ArraySegment<byte>(_transmit, piece, at - piece));
                at = piece = fpdus = 0;
            }
        }
        if (fpdus > 0)
        {
            SendGather(new ArraySegment<byte>(_transmit, piece, at - piece));
        }
    }

    private void SendGather(ArraySegment<byte> trailer)
    {
        _gather.Add(trailer);
        int total = 0;
        foreach (ArraySegment<byte> buffer in _gather)
        {
            total += buffer.Count;
        }
        try
        {
            int sent = _socket!.Send(_gather, SocketFlags.None);
            while (sent < total)
            {
                // A blocking send normally takes everything; after a partial one, send the rest piece by piece.
                int skip = sent;
                foreach (ArraySegment<byte> buffer in _gather)
                {
                    if (skip >= buffer.Count)
                    {
                        skip -= buffer.Count;
                        continue;
                    }
                    ReadOnlySpan<byte> rest = buffer.AsSpan(skip);
                    skip = 0;
                    while (!rest.IsEmpty)
                    {
                        rest = rest[_socket.Send(rest, SocketFlags.None)..];
                    }
                }
                sent = total;
            }
            Interlocked.Add(ref _bytesSent, total);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw SendFailed(e);
        }
        finally
        {
            _gather.Clear();
        }
    }

    private void AppendFpdu(in DdpHeader ddp, in RdmapHeader header, ReadOnlySpan<byte> payload)
    {
        int total = Fpdu.TotalLength(RdmapCodec.GetUlpduLength(ddp, header, payload.Length));
        if (_transmitLength + total + MaxMarkerOverhead > _transmit.Length)
        {
            FlushTransmit();
        }
        if (!_markersSent)
        {
            _transmitLength += RdmapCodec.WriteFpdu(_transmit.AsSpan(_transmitLength), ddp, header, payload, _crc);
        }
        else
        {
            int length = RdmapCodec.WriteFpdu(_transmitScratch, ddp, header, payload, crcEnabled: false);
            _transmitLength += _markerInserter.Write(_transmitScratch.AsSpan(0, length), _transmit.AsSpan(_transmitLength), _crc);
        }
        _fpdusSent++;
    }

    private void FlushTransmit()
    {
        if (_transmitLength == 0)
        {
            return;
        }
        int length = _transmitLength;
        _transmitLength = 0;
        try
        {
            ReadOnlySpan<byte> data = _transmit.AsSpan(0, length);
            while (!data.IsEmpty)
            {
                data = data[_socket!.Send(data, SocketFlags.None)..];
            }
            Interlocked.Add(ref _bytesSent, length);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw SendFailed(e);
        }
    }

    /// <summary>A socket error while sending fails the connection; a send on a socket closed under us reports why it was closed.</summary>
    private IwarpException SendFailed(Exception e)
    {
        if (e is SocketException socketError)
        {
            var error = IwarpException.FromSocket(socketError, ConnectionPhase.FullOperation, RemoteEndPoint, "sending FPDUs");
            Fail(error);
            return _error ?? error;
        }
        return _error ?? new IwarpException(IwarpErrorKind.LocalClose, ConnectionPhase.FullOperation, "the connection was closed locally");
    }

    /// <summary>
    /// Sends the one Terminate this stream may carry (QN 2, MSN 1, MO 0, L=1), then fails the
    /// connection with <paramref name="error"/>; the socket's sending half is shut so it arrives.
    /// </summary>
    private void TerminateStream(in TerminateHeader terminate, IwarpException error)
    {
        StopReceiving();
        lock (_sendLock)
        {
            if (!_terminateSent && _error is null && _socket is not null)
            {
                _terminateSent = true;
                _transmitLength = 0;
                try
                {
                    var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, _transmitMsn[2]++, 0, last: true);
                    AppendFpdu(ddp, terminate, []);
                    FlushTransmit();
                }
                catch (IwarpException)
                {
                    // The stream broke under the Terminate; the original error is still the one to report.
                }
            }
        }
        Fail(error, keepReceiving: true);
    }

    /// <summary>The initiator's Terminate for MPA errors 6 and 7, sent before any FPDU, framed as negotiated so far.</summary>
    private static void SendSetupTerminate(Socket socket, in MpaStartFrame request, in MpaStartFrame reply, IwarpErrorKind kind)
    {
        TerminateError error = kind == IwarpErrorKind.InsufficientIrd ? TerminateErrors.MpaInsufficientIrd : TerminateErrors.MpaNoMatchingRtr;
        bool crc = request.CrcPreferred || reply.CrcPreferred;
        var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, 1, 0, last: true);
        Span<byte> fpdu = stackalloc byte[64];
        int length = RdmapCodec.WriteFpdu(fpdu, ddp, new TerminateHeader(error), [], crc);
        Span<byte> marked = stackalloc byte[96];
        if (reply.MarkersRequired)
        {
            var inserter = new MarkerInserter(0);
            length = inserter.Write(fpdu[..length], marked, crc);
            fpdu = marked;
        }
        try
        {
            MpaHandshake.SendAll(socket, fpdu[..length], ConnectionPhase.MpaHandshake, "sending the Terminate");
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IwarpException or SocketException)
        {
            // Best effort: the failure being reported is the negotiation's, not this send's.
        }
    }

    private enum OutboundKind : byte
    {
        Read,
        ReadRtr,
        Atomic,
    }

    private struct OutboundRequest
    {
        public OutboundKind Kind;
        public ulong WorkRequestId;
        public bool Signaled;
        public ReadRequestHeader Read;
        public AtomicRequest Atomic;
        public uint Received;
    }

    /// <summary>A message payload: a span, and the array behind it when there is one (for sending without a copy).</summary>
    private readonly ref struct Payload
    {
        public Payload(ReadOnlySpan<byte> span)
        {
            Span = span;
        }

        public Payload(ReadOnlyMemory<byte> memory)
        {
            Span = memory.Span;
            if (MemoryMarshal.TryGetArray(memory, out ArraySegment<byte> segment))
            {
                Array = segment.Array;
                Offset = segment.Offset;
            }
        }

        public ReadOnlySpan<byte> Span { get; }

        public byte[]? Array { get; }

        public int Offset { get; }

        public int Length => Span.Length;
    }
}
