using System.Buffers;
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
    private const int ReceiveBufferSize = 256 * 1024;

    /// <summary>Free room the receive buffer keeps so that any FPDU, markers included, fits whole.</summary>
    private const int ReceiveRoom = Fpdu.MaxLength + MaxMarkerOverhead;

    private const int SmallRemainder = 4096;

    /// <summary>Payload still on the socket below which a tagged FPDU is buffered and copied like any other.</summary>
    private const int PlacementMinimum = 2048;

    /// <summary>
    /// While a payload is placed, buffer receives stop this far past its trailer: enough for a short FPDU
    /// and the next one's header, so a stream of large FPDUs is placed rather than pulled into the buffer.
    /// </summary>
    private const int PlacementLookahead = 1024;

    /// <summary>Owned by whoever runs the receive loop: the receive thread for its life, or one inline waiter at a time.</summary>
    private readonly object _progressLock = new();
    private byte[] _receive = [];
    private byte[] _receiveScratch = [];
    private int _receiveStart;
    private int _receiveEnd;
    private bool _markersReceived;
    private MarkerRemover _markerRemover;
    private volatile bool _receiveStopped;
    private int _socketReceiveTimeout = -1;
    private readonly uint[] _receiveMsn = [1, 1, 1, 1];

    // The tagged FPDU whose payload is received from the socket straight into its region (RFC 5041 §5:
    // a segment may be placed before its CRC is known; nothing is delivered until the CRC has passed).
    private bool _placing;
    private DdpHeader _placeDdp;
    private Memory<byte> _placeTarget;
    private int _placed;
    private uint _placeCrc;
    private long _directPlacements;

    // The Send being received on QN 0: the posted buffer it fills and the next MO.
    private bool _receiveActive;
    private ReceiveEntry _activeReceive;
    private uint _sendOffset;

    private RtrTypes _acceptedRtr;
    private bool _awaitRtr;
    private int _ird;
    private int _inboundRequests;
    private readonly object _atomicLock = new();
    private CompletionStatus _remoteErrorStatus = CompletionStatus.Flushed;

    private void InitializeReceive(NegotiatedParameters parameters, RtrTypes acceptedRtr)
    {
        _receive = new byte[ReceiveBufferSize];
        _markersReceived = parameters.MarkersReceived;
        _markerRemover = new MarkerRemover(0);
        _receiveScratch = _markersReceived ? new byte[Fpdu.MaxLength] : [];
        _ird = parameters.Ird;
        _acceptedRtr = acceptedRtr;
        _awaitRtr = parameters.Role == ConnectionRole.Responder && parameters.PeerToPeer;
    }

    /// <summary>FPDUs whose payload was received straight into a memory region rather than through the receive buffer.</summary>
    internal long DirectPlacements => Interlocked.Read(ref _directPlacements);

    private void StopReceiving() => _receiveStopped = true;

    private void ReceiveLoop()
    {
        lock (_progressLock)
        {
            try
            {
                while (!_receiveStopped && ReceiveOnce(0))
                {
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Fail(new IwarpException(IwarpErrorKind.ConnectionReset, ConnectionPhase.FullOperation, $"the receive loop stopped: {e.Message}", e) { RemoteEndPoint = RemoteEndPoint });
            }
            FlushReceives();
            if (_terminateSent)
            {
                DrainAfterTerminate();
            }
        }
    }

    /// <summary>
    /// Inline progress: one receive and the FPDUs it completes, by whichever waiting thread gets the
    /// progress lock; the others sleep until it signals.
    /// </summary>
    private void DriveProgress(long deadline, long now)
    {
        if (!Monitor.TryEnter(_progressLock))
        {
            SleepUntilSignalled(Math.Min(deadline, now + Stopwatch.Frequency / 100));
            return;
        }
        try
        {
            if (!_receiveStopped)
            {
                long left = (deadline - now) * 1000 / Stopwatch.Frequency;
                if (left <= 0)
                {
                    return;
                }
                if (_options.BusyPoll)
                {
                    while (_socket!.Available == 0 && Stopwatch.GetTimestamp() < deadline && !_receiveStopped)
                    {
                        Thread.SpinWait(20);
                    }
                }
                // Coarse steps keep SO_RCVTIMEO from being set again on every call.
                ReceiveOnce(left >= 2000 ? (int)(left / 1000 * 1000) : (int)Math.Max(1, left));
            }
            if (_receiveStopped)
            {
                FlushReceives();
            }
        }
        catch (ObjectDisposedException)
        {
            StopReceiving();
            FlushReceives();
        }
        finally
        {
            Monitor.Exit(_progressLock);
        }
        // Unlocked look first: usually nobody else waits, and a thread that starts waiting just after
        // this look sleeps only its 10 ms slice before it tries to drive progress itself.
        if (Volatile.Read(ref _waiters) > 0)
        {
            Signal();
        }
    }

    /// <summary>One blocking receive (timeout in ms, 0 for none) and every FPDU it completes. False once the stream is over.</summary>
    private bool ReceiveOnce(int timeoutMilliseconds)
    {
        if (_receiveStart == _receiveEnd)
        {
            _receiveStart = _receiveEnd = 0;
        }
        else if (_receiveStart > 0 && (_receive.Length - _receiveEnd < ReceiveRoom || _receiveEnd - _receiveStart <= SmallRemainder))
        {
            // Moving a short partial FPDU to the front keeps each receive large (fewer system calls).
            Buffer.BlockCopy(_receive, _receiveStart, _receive, 0, _receiveEnd - _receiveStart);
            _receiveEnd -= _receiveStart;
            _receiveStart = 0;
        }
        Socket socket = _socket!;
        bool intoRegion = _placing && _placed < _placeTarget.Length;
        int received;
        try
        {
            if (timeoutMilliseconds != _socketReceiveTimeout)
            {
                socket.ReceiveTimeout = timeoutMilliseconds;
                _socketReceiveTimeout = timeoutMilliseconds;
            }
            Span<byte> into = intoRegion ? _placeTarget.Span[_placed..]
                : _placing ? _receive.AsSpan(_receiveEnd, Math.Min(_receive.Length - _receiveEnd, PlacementLookahead))
                : _receive.AsSpan(_receiveEnd);
            received = socket.Receive(into, SocketFlags.None);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            return true;
        }
        catch (SocketException e)
        {
            if (!_receiveStopped)
            {
                Fail(IwarpException.FromSocket(e, ConnectionPhase.FullOperation, RemoteEndPoint, "receiving FPDUs", BytesReceived));
            }
            return false;
        }
        catch (ObjectDisposedException)
        {
            StopReceiving();
            return false;
        }
        if (received == 0)
        {
            if (!_receiveStopped)
            {
                PeerClosed();
            }
            return false;
        }
        Interlocked.Add(ref _bytesReceived, received);
        Interlocked.Exchange(ref _lastReceiveTick, Environment.TickCount64);
        if (intoRegion)
        {
            if (_crc)
            {
                // The octets the kernel just copied are still in cache.
                _placeCrc = Crc32c.Update(_placeCrc, _placeTarget.Span.Slice(_placed, received));
            }
            _placed += received;
            return !_receiveStopped;
        }
        _receiveEnd += received;
        ProcessReceived();
        return !_receiveStopped;
    }

    private void ProcessReceived()
    {
        if (_placing && !TryFinishPlacement())
        {
            return;
        }
        while (!_receiveStopped)
        {
            ReadOnlySpan<byte> available = _receive.AsSpan(_receiveStart, _receiveEnd - _receiveStart);
            ReadOnlySpan<byte> ulpdu;
            int consumed;
            WireError error;
            if (!_markersReceived)
            {
                OperationStatus status = Fpdu.TryRead(available, _crc, out FpduView fpdu, out error);
                if (status == OperationStatus.NeedMoreData)
                {
                    TryBeginPlacement(available);
                    return;
                }
                if (status != OperationStatus.Done)
                {
                    FramingFailure(error);
                    return;
                }
                consumed = fpdu.TotalLength;
                ulpdu = fpdu.Ulpdu;
            }
            else
            {
                OperationStatus status = _markerRemover.TryRead(available, _receiveScratch, _crc, out consumed, out int length, out error);
                if (status == OperationStatus.NeedMoreData)
                {
                    return;
                }
                if (status != OperationStatus.Done)
                {
                    FramingFailure(error);
                    return;
                }
                Fpdu.TryRead(_receiveScratch.AsSpan(0, length), verifyCrc: false, out FpduView fpdu, out _);
                ulpdu = fpdu.Ulpdu;
            }
            _receiveStart += consumed;
            _fpdusReceived++;
            HandleUlpdu(ulpdu);
        }
    }

    /// <summary>
    /// Starts direct placement of the unmarked FPDU that <paramref name="available"/> begins but does not
    /// hold whole, when it is a tagged Write or Read Response that passes every check the buffered path
    /// would make and most of its payload is still on the socket. Anything else stays buffered, so its
    /// errors are found and answered exactly as before (the CRC first, then the DDP/RDMAP checks).
    /// </summary>
    private void TryBeginPlacement(ReadOnlySpan<byte> available)
    {
        const int headerEnd = Fpdu.LengthFieldSize + DdpHeader.TaggedLength;
        if (!_fenceOpen || available.Length < headerEnd || (available[Fpdu.LengthFieldSize] & DdpHeader.TaggedFlag) == 0)
        {
            return;
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(available) - DdpHeader.TaggedLength;
        int buffered = available.Length - headerEnd;
        if (payloadLength - buffered < PlacementMinimum
            || DdpHeader.TryRead(available[Fpdu.LengthFieldSize..headerEnd], out DdpHeader ddp) != OperationStatus.Done
            || ddp.Dv != DdpHeader.CurrentVersion)
        {
            return;
        }
        var control = new RdmapControl(ddp.RdmapControl);
        if (control.Version != RdmapControl.CurrentVersion)
        {
            return;
        }
        MemoryAccess access;
        if (control.Opcode == RdmapOpcode.RdmaWrite)
        {
            access = MemoryAccess.RemoteWrite;
        }
        else if (control.Opcode == RdmapOpcode.RdmaReadResponse && ExpectsReadResponse(ddp, payloadLength))
        {
            access = MemoryAccess.LocalWrite;
        }
        else
        {
            return;
        }
        MemoryRegion? region = FindRegion(ddp.STag);
        if (region is null || !region.Allows(access) || region.Check(ddp.TaggedOffset, (ulong)payloadLength, out int offset) != RegionCheck.Ok)
        {
            return;
        }
        _placeTarget = region.Memory.Slice(offset, payloadLength);
        available[headerEnd..].CopyTo(_placeTarget.Span);
        _placeCrc = _crc ? Crc32c.Update(Crc32c.Seed, available) : 0;
        _placeDdp = ddp;
        _placed = buffered;
        _placing = true;
        _directPlacements++;
        _receiveStart = _receiveEnd;
    }

    /// <summary>The Read Response checks of <see cref="HandleReadResponse"/> for a non-empty segment, without answering a failure.</summary>
    private bool ExpectsReadResponse(DdpHeader ddp, int length)
    {
        lock (_outboundLock)
        {
            if (_orqCount == 0 || _orq[_orqHead].Kind == OutboundKind.Atomic)
            {
                return false;
            }
            OutboundRequest head = _orq[_orqHead];
            return ddp.STag == head.Read.SinkSTag && ddp.TaggedOffset == head.Read.SinkTO + head.Received && head.Received + (ulong)length <= head.Read.ReadSize;
        }
    }

    /// <summary>
    /// Once the placed payload is whole and its pad and CRC are buffered: checks the CRC chained over header,
    /// payload and pad, then delivers the segment. False while the trailer is still on its way or when
    /// the CRC failed (the stream is then terminated with MPA error 2, as for a buffered FPDU).
    /// </summary>
    private bool TryFinishPlacement()
    {
        int pad = Fpdu.PadLength(DdpHeader.TaggedLength + _placeTarget.Length);
        if (_placed < _placeTarget.Length || _receiveEnd - _receiveStart < pad + Fpdu.CrcSize)
        {
            return false;
        }
        ReadOnlySpan<byte> trailer = _receive.AsSpan(_receiveStart, pad + Fpdu.CrcSize);
        _receiveStart += trailer.Length;
        _placing = false;
        if (_crc)
        {
            uint computed = Crc32c.Finish(Crc32c.Update(_placeCrc, trailer[..pad]));
            uint carried = Crc32c.ReadWire(trailer[pad..]);
            if (carried != computed)
            {
                FramingFailure(new WireError(WireErrorKind.MpaCrcMismatch, carried, computed));
                return false;
            }
        }
        _fpdusReceived++;
        if (new RdmapControl(_placeDdp.RdmapControl).Opcode == RdmapOpcode.RdmaReadResponse)
        {
            ReadResponsePlaced(new RdmapSegment(_placeDdp, new RdmapControl(_placeDdp.RdmapControl), RdmapHeader.None, _placeTarget.Span));
        }
        _placeTarget = default;
        return !_receiveStopped;
    }

    /// <summary>MPA errors 2 and 3 (RFC 5044 §8): a Terminate without header copies, then stop.</summary>
    private void FramingFailure(in WireError error)
    {
        bool crc = error.Kind == WireErrorKind.MpaCrcMismatch;
        var terminate = new TerminateHeader(crc ? TerminateErrors.MpaCrcError : TerminateErrors.MpaMarkerMismatch);
        TerminateStream(terminate, new IwarpException(crc ? IwarpErrorKind.CrcError : IwarpErrorKind.TerminateSent, ConnectionPhase.FullOperation,
            $"FPDU {_fpdusReceived + 1} from the peer: {error.Message}; sent Terminate {terminate}")
        {
            RemoteEndPoint = RemoteEndPoint,
            Terminate = terminate,
            WireError = error,
            BytesReceived = BytesReceived,
        });
    }

    private void HandleUlpdu(ReadOnlySpan<byte> ulpdu)
    {
        if (RdmapCodec.TryDecode(ulpdu, out RdmapSegment segment, out WireError error) != OperationStatus.Done)
        {
            DecodeFailure(segment, error, ulpdu.Length);
            return;
        }
        if (segment.Opcode == RdmapOpcode.Terminate)
        {
            HandleTerminate(segment);
            return;
        }
        if (!_fenceOpen && !AcceptFirstFpdu(segment))
        {
            return;
        }
        switch (segment.Opcode)
        {
            case RdmapOpcode.RdmaWrite:
                HandleWrite(segment);
                break;
            case RdmapOpcode.RdmaReadResponse:
                HandleReadResponse(segment);
                break;
            case RdmapOpcode.Send or RdmapOpcode.SendWithInvalidate or RdmapOpcode.SendWithSolicitedEvent or RdmapOpcode.SendWithSolicitedEventAndInvalidate:
                HandleSend(segment);
                break;
            case RdmapOpcode.ImmediateData or RdmapOpcode.ImmediateDataWithSolicitedEvent:
                HandleImmediate(segment);
                break;
            case RdmapOpcode.RdmaReadRequest:
                HandleReadRequest(segment);
                break;
            case RdmapOpcode.AtomicRequest:
                HandleAtomicRequest(segment);
                break;
            case RdmapOpcode.AtomicResponse:
                HandleAtomicResponse(segment);
                break;
        }
    }

    /// <summary>The codec refused the segment: the RFC 5040/5041 error for why, with the DDP header copied where it was read.</summary>
    private void DecodeFailure(RdmapSegment segment, in WireError error, int ulpduLength)
    {
        switch (error.Kind)
        {
            case WireErrorKind.TerminateTruncated or WireErrorKind.TerminateDdpCopyTruncated or WireErrorKind.TerminateRdmaCopyTruncated:
                StopReceiving();
                Fail(new IwarpException(IwarpErrorKind.TerminateReceived, ConnectionPhase.FullOperation, $"the peer sent a malformed Terminate: {error.Message}")
                {
                    DetectedBy = ErrorSource.Peer,
                    RemoteEndPoint = RemoteEndPoint,
                    WireError = error,
                });
                return;
            case WireErrorKind.DdpTruncated:
                Violation(TerminateErrors.RdmapOperationUnspecified, segment, $"a {ulpduLength}-octet ULPDU is too short for its DDP header", copy: false, error);
                return;
            case WireErrorKind.DdpVersion:
                Violation(segment.Ddp.Tagged ? TerminateErrors.DdpTaggedInvalidVersion : TerminateErrors.DdpUntaggedInvalidVersion, segment, error.Message, copy: true, error);
                return;
            case WireErrorKind.RdmapVersion:
                Violation(TerminateErrors.RdmapInvalidVersion, segment, error.Message, copy: true, error);
                return;
            case WireErrorKind.RdmapOpcodeUnassigned or WireErrorKind.RdmapWrongBufferModel:
                Violation(TerminateErrors.RdmapUnexpectedOpcode, segment, error.Message, copy: true, error);
                return;
            default:
                Violation(TerminateErrors.RdmapOperationUnspecified, segment, error.Message, copy: true, error);
                return;
        }
    }

    /// <summary>
    /// Answers a violation in the peer's segment with a Terminate (RFC 5040 §7.1 copies: DDP segment
    /// length and header unless <paramref name="copy"/> is false, the Read Request header when the
    /// offending message is one, R alone for a Send with Invalidate as siw sends it) and stops the stream.
    /// </summary>
    private void Violation(TerminateError error, RdmapSegment segment, string detail, bool copy = true, WireError? wireError = null, bool rdmaFlagOnly = false)
    {
        TerminateHeader terminate;
        if (copy)
        {
            ReadRequestHeader? readRequest = segment.Header.Kind == RdmapHeaderKind.ReadRequest ? segment.Header.ReadRequest : null;
            terminate = new TerminateHeader(error, (ushort)Math.Min(segment.Payload.Length, ushort.MaxValue), segment.Ddp, readRequest);
            if (rdmaFlagOnly)
            {
                terminate = terminate with { RdmaHeaderIncluded = true };
            }
        }
        else
        {
            terminate = new TerminateHeader(error);
        }
        string what = copy ? $"the peer's {RdmapOpcodes.GetSpecName(segment.Opcode)} ({segment.Ddp}, {segment.Payload.Length} octets)" : "an FPDU from the peer";
        TerminateStream(terminate, new IwarpException(IwarpErrorKind.TerminateSent, ConnectionPhase.FullOperation,
            $"{what}: {detail}; sent Terminate {terminate}")
        {
            RemoteEndPoint = RemoteEndPoint,
            Terminate = terminate,
            WireError = wireError,
            BytesReceived = BytesReceived,
        });
    }

    /// <summary>
    /// The responder's MPA fence (RFC 5044 §6): the first FPDU opens it. In peer-to-peer mode it must be a
    /// zero-length RTR of a type the Reply offered (RFC 6581 §3.4), else MPA error 7. A Send RTR is
    /// consumed here (QN 0, MSN 1) without a posted receive.
    /// </summary>
    private bool AcceptFirstFpdu(RdmapSegment segment)
    {
        if (_parameters?.Role != ConnectionRole.Responder)
        {
            return true;
        }
        if (!_awaitRtr)
        {
            OpenFence();
            return true;
        }
        RtrType seen = segment.Opcode switch
        {
            RdmapOpcode.RdmaWrite when segment.Payload.IsEmpty => RtrType.Write,
            RdmapOpcode.RdmaReadRequest when segment.Header.ReadRequest.ReadSize == 0 => RtrType.Read,
            RdmapOpcode.Send when segment.Payload.IsEmpty => RtrType.Send,
            _ => RtrType.None,
        };
        if (seen == RtrType.None || (MpaNegotiation.ToTypes(seen) & _acceptedRtr) == 0)
        {
            var terminate = new TerminateHeader(TerminateErrors.MpaNoMatchingRtr);
            TerminateStream(terminate, new IwarpException(IwarpErrorKind.NoMatchingRtr, ConnectionPhase.ReadyToReceive,
                $"peer-to-peer: the initiator's first FPDU is a {RdmapOpcodes.GetSpecName(segment.Opcode)} of {segment.Payload.Length} octets, not a zero-length RTR of the offered type ({MpaNegotiation.Describe(_acceptedRtr)}); sent Terminate {terminate}")
            {
                RemoteEndPoint = RemoteEndPoint,
                Terminate = terminate,
            });
            return false;
        }
        _parameters = _parameters with { Rtr = seen };
        if (seen == RtrType.Send)
        {
            if (CheckUntagged(segment, 0, singleSegment: true))
            {
                _receiveMsn[0]++;
                OpenFence();
            }
            return false;
        }
        OpenFence();
        return true;
    }

    private void OpenFence()
    {
        _fenceOpen = true;
        Signal();
    }

    /// <summary>RFC 5041 §7 checks of an untagged segment: QN for the opcode, the expected MSN, the expected MO.</summary>
    private bool CheckUntagged(RdmapSegment segment, int queue, bool singleSegment)
    {
        DdpHeader ddp = segment.Ddp;
        if (ddp.QueueNumber != (uint)queue)
        {
            Violation(TerminateErrors.DdpUntaggedInvalidQn, segment, $"QN {ddp.QueueNumber}, expected {queue} for this opcode");
            return false;
        }
        if (ddp.MessageSequenceNumber != _receiveMsn[queue])
        {
            Violation(TerminateErrors.DdpUntaggedMsnRange, segment, $"MSN {ddp.MessageSequenceNumber} on QN {queue}, expected {_receiveMsn[queue]}");
            return false;
        }
        uint expectedOffset = queue == 0 ? _sendOffset : 0;
        if (ddp.MessageOffset != expectedOffset || (singleSegment && !ddp.Last))
        {
            Violation(TerminateErrors.DdpUntaggedInvalidMo, segment,
                ddp.MessageOffset != expectedOffset ? $"MO {ddp.MessageOffset}, expected {expectedOffset}" : "this message must be one segment with L=1");
            return false;
        }
        return true;
    }

    private void HandleWrite(RdmapSegment segment)
    {
        ReadOnlySpan<byte> payload = segment.Payload;
        if (payload.IsEmpty)
        {
            return;
        }
        DdpHeader ddp = segment.Ddp;
        if (!TryPlaceTagged(segment, ddp.STag, MemoryAccess.RemoteWrite, out Span<byte> target))
        {
            return;
        }
        payload.CopyTo(target);
    }

    /// <summary>The Terminate codes for a region check, at the DDP layer (tagged placement) or the RDMAP layer (a Read or Atomic source).</summary>
    private sealed record RegionErrors(TerminateError Invalid, TerminateError Access, TerminateError Bounds, TerminateError Wrap, string AccessNote);

    private static readonly RegionErrors TaggedErrors = new(TerminateErrors.DdpTaggedInvalidSTag, TerminateErrors.DdpTaggedInvalidSTag,
        TerminateErrors.DdpTaggedBaseOrBounds, TerminateErrors.DdpTaggedToWrap, " (RFC 5041 has no access-rights code; siw reports Invalid STag)");

    private static readonly RegionErrors RemoteErrors = new(TerminateErrors.RdmapInvalidSTag, TerminateErrors.RdmapAccessRights,
        TerminateErrors.RdmapBaseOrBounds, TerminateErrors.RdmapToWrap, "");

    /// <summary>RFC 5041 §7 / RFC 5040 §7.2: a valid STag of this stream, the access right, TO and TO + length in range without wrapping.</summary>
    private bool CheckRegion(RdmapSegment segment, RegionErrors errors, uint stag, ulong to, ulong length, MemoryAccess access, out MemoryRegion? region, out int offset)
    {
        offset = 0;
        region = FindRegion(stag);
        if (region is null || !region.IsValid)
        {
            Violation(errors.Invalid, segment, $"no valid memory region has STag 0x{stag:X8}");
            return false;
        }
        if (!region.Allows(access))
        {
            Violation(errors.Access, segment, $"{region} lacks {access} access{errors.AccessNote}");
            return false;
        }
        switch (region.Check(to, length, out offset))
        {
            case RegionCheck.Wrap:
                Violation(errors.Wrap, segment, $"TO 0x{to:X} + {length} wraps past 2^64");
                return false;
            case RegionCheck.Bounds:
                Violation(errors.Bounds, segment, $"[TO 0x{to:X}, +{length}) is outside {region}");
                return false;
        }
        return true;
    }

    private bool TryPlaceTagged(RdmapSegment segment, uint stag, MemoryAccess access, out Span<byte> target)
    {
        int length = segment.Payload.Length;
        if (!CheckRegion(segment, TaggedErrors, stag, segment.Ddp.TaggedOffset, (ulong)length, access, out MemoryRegion? region, out int offset))
        {
            target = default;
            return false;
        }
        target = region!.Memory.Span.Slice(offset, length);
        return true;
    }

    private void HandleReadResponse(RdmapSegment segment)
    {
        DdpHeader ddp = segment.Ddp;
        int length = segment.Payload.Length;
        OutboundRequest head;
        lock (_outboundLock)
        {
            if (_orqCount == 0 || _orq[_orqHead].Kind == OutboundKind.Atomic)
            {
                Violation(TerminateErrors.RdmapUnexpectedOpcode, segment, _orqCount == 0 ? "an RDMA Read Response with no Read outstanding" : "an RDMA Read Response where an Atomic Response was due");
                return;
            }
            head = _orq[_orqHead];
        }
        ReadRequestHeader read = head.Read;
        if (length > 0)
        {
            if (ddp.STag != read.SinkSTag)
            {
                Violation(TerminateErrors.DdpTaggedInvalidSTag, segment, $"the Read Response carries STag 0x{ddp.STag:X8}, the outstanding Read's sink is 0x{read.SinkSTag:X8}");
                return;
            }
            ulong expected = read.SinkTO + head.Received;
            if (ddp.TaggedOffset != expected || head.Received + (ulong)length > read.ReadSize)
            {
                Violation(TerminateErrors.DdpTaggedBaseOrBounds, segment,
                    $"the Read Response places [TO 0x{ddp.TaggedOffset:X}, +{length}); the outstanding Read expects TO 0x{expected:X} with {read.ReadSize - head.Received} octets left");
                return;
            }
            if (!TryPlaceTagged(segment, ddp.STag, MemoryAccess.LocalWrite, out Span<byte> target))
            {
                return;
            }
            segment.Payload.CopyTo(target);
        }
        ReadResponsePlaced(segment);
    }

    /// <summary>A checked Read Response segment is in the sink: counts it, and on L=1 completes the Read when it got all it asked for.</summary>
    private void ReadResponsePlaced(RdmapSegment segment)
    {
        OutboundRequest head;
        lock (_outboundLock)
        {
            if (_orqCount == 0)
            {
                return;
            }
            _orq[_orqHead].Received += (uint)segment.Payload.Length;
            head = _orq[_orqHead];
        }
        if (!segment.Ddp.Last)
        {
            return;
        }
        ReadRequestHeader read = head.Read;
        if (head.Received != read.ReadSize)
        {
            Violation(TerminateErrors.DdpTaggedBaseOrBounds, segment, $"the Read Response ended after {head.Received} of {read.ReadSize} octets");
            return;
        }
        CompleteOutbound(head.Kind == OutboundKind.Read ? CompletionOpcode.RdmaRead : null, (int)read.ReadSize, 0);
    }

    /// <summary>Retires the ORQ head, completes it when signalled, and lets a waiting Read or Atomic take the freed credit.</summary>
    private void CompleteOutbound(CompletionOpcode? opcode, int length, ulong atomicValue)
    {
        OutboundRequest done;
        bool pending;
        lock (_outboundLock)
        {
            if (_orqCount == 0)
            {
                return;
            }
            done = _orq[_orqHead];
            _orq[_orqHead] = default;
            _orqHead = (_orqHead + 1) % _orq.Length;
            _orqCount--;
            pending = _pendingOutbound.Count > 0;
        }
        if (opcode is { } op && done.Signaled)
        {
            AddCompletion(new Completion(done.WorkRequestId, op, CompletionStatus.Success, length, AtomicOriginalValue: atomicValue));
        }
        if (pending)
        {
            EnqueueWork(new TransmitWork { Kind = TransmitWorkKind.IssuePending });
        }
    }

    private void HandleSend(RdmapSegment segment)
    {
        if (!CheckUntagged(segment, 0, singleSegment: false))
        {
            return;
        }
        DdpHeader ddp = segment.Ddp;
        ReadOnlySpan<byte> payload = segment.Payload;
        if (!_receiveActive)
        {
            if (!TryTakeReceive(out _activeReceive))
            {
                Violation(TerminateErrors.DdpUntaggedNoBuffer, segment, $"a Send (MSN {ddp.MessageSequenceNumber}) arrived with no receive posted");
                return;
            }
            _receiveActive = true;
        }
        Memory<byte> buffer = _activeReceive.Buffer;
        if (_sendOffset + (long)payload.Length > buffer.Length)
        {
            AddCompletion(new Completion(_activeReceive.WorkRequestId, CompletionOpcode.Receive, CompletionStatus.LocalLengthError, (int)_sendOffset));
            _receiveActive = false;
            Violation(TerminateErrors.DdpUntaggedTooLong, segment, $"a Send of at least {_sendOffset + (long)payload.Length} octets does not fit the posted {buffer.Length}-octet receive");
            return;
        }
        payload.CopyTo(buffer.Span[(int)_sendOffset..]);
        _sendOffset += (uint)payload.Length;
        if (!ddp.Last)
        {
            return;
        }
        CompletionFlags flags = segment.Opcode is RdmapOpcode.SendWithSolicitedEvent or RdmapOpcode.SendWithSolicitedEventAndInvalidate
            ? CompletionFlags.SolicitedEvent : CompletionFlags.None;
        uint invalidated = 0;
        if (RdmapOpcodes.CarriesInvalidateSTag(segment.Opcode))
        {
            invalidated = ddp.InvalidateSTag;
            MemoryRegion? region = FindRegion(invalidated);
            if (region is null || !region.IsValid)
            {
                Violation(TerminateErrors.RdmapProtectionCannotInvalidate, segment, $"Send with Invalidate names STag 0x{invalidated:X8}, which is not a valid region of this stream", rdmaFlagOnly: true);
                return;
            }
            region.Invalidate();
            flags |= CompletionFlags.Invalidated;
        }
        AddCompletion(new Completion(_activeReceive.WorkRequestId, CompletionOpcode.Receive, CompletionStatus.Success, (int)_sendOffset, flags, InvalidatedSTag: invalidated));
        _receiveActive = false;
        _activeReceive = default;
        _sendOffset = 0;
        _receiveMsn[0]++;
    }

    private void HandleImmediate(RdmapSegment segment)
    {
        if (!CheckUntagged(segment, 0, singleSegment: true))
        {
            return;
        }
        if (!TryTakeReceive(out ReceiveEntry entry))
        {
            Violation(TerminateErrors.DdpUntaggedNoBuffer, segment, $"Immediate Data (MSN {segment.Ddp.MessageSequenceNumber}) arrived with no receive posted");
            return;
        }
        CompletionFlags flags = segment.Opcode == RdmapOpcode.ImmediateDataWithSolicitedEvent ? CompletionFlags.SolicitedEvent : CompletionFlags.None;
        AddCompletion(new Completion(entry.WorkRequestId, CompletionOpcode.ReceiveImmediate, CompletionStatus.Success, 0, flags, segment.Header.ImmediateData.Value));
        _receiveMsn[0]++;
    }

    private bool CheckIrd(RdmapSegment segment)
    {
        int outstanding = Volatile.Read(ref _inboundRequests);
        if (outstanding >= _ird)
        {
            Violation(TerminateErrors.RdmapStreamCatastrophic, segment, $"IRD overrun: {outstanding} Read/Atomic Request(s) already outstanding, IRD {_ird}");
            return false;
        }
        return true;
    }

    /// <summary>RFC 5040 §7.2 checks of a Read Request's source; the response goes out on the helper thread.</summary>
    private void HandleReadRequest(RdmapSegment segment)
    {
        if (!CheckUntagged(segment, 1, singleSegment: true) || !CheckIrd(segment))
        {
            return;
        }
        ReadRequestHeader read = segment.Header.ReadRequest;
        MemoryRegion? region = null;
        if (read.ReadSize > 0 && !CheckRegion(segment, RemoteErrors, read.SourceSTag, read.SourceTO, read.ReadSize, MemoryAccess.RemoteRead, out region, out _))
        {
            return;
        }
        _receiveMsn[1]++;
        Interlocked.Increment(ref _inboundRequests);
        EnqueueWork(new TransmitWork { Kind = TransmitWorkKind.ReadResponse, Read = read, Region = region });
    }

    /// <summary>RFC 7306 §4: FetchAdd and CmpSwap on an 8-octet word, held in host byte order in the region.</summary>
    private void HandleAtomicRequest(RdmapSegment segment)
    {
        if (!CheckUntagged(segment, 1, singleSegment: true) || !CheckIrd(segment))
        {
            return;
        }
        AtomicRequest request = segment.Header.AtomicRequest;
        if (request.Opcode is not (AtomicOpcode.FetchAdd or AtomicOpcode.CmpSwap))
        {
            Violation(TerminateErrors.RdmapUnexpectedOpcode, segment, $"AOpCode {(int)request.Opcode} is not FetchAdd (0) or CmpSwap (2)");
            return;
        }
        if (!CheckRegion(segment, RemoteErrors, request.RemoteSTag, request.RemoteTO, sizeof(ulong), MemoryAccess.RemoteAtomic, out MemoryRegion? region, out int offset))
        {
            return;
        }
        if ((request.RemoteTO & 7) != 0)
        {
            Violation(TerminateErrors.RdmapStreamCatastrophic, segment, $"the Atomic target TO 0x{request.RemoteTO:X} is not 64-bit aligned");
            return;
        }
        ulong original;
        lock (_atomicLock)
        {
            Span<byte> word = region!.Memory.Span.Slice(offset, sizeof(ulong));
            original = MemoryMarshal.Read<ulong>(word);
            ulong updated = request.Opcode == AtomicOpcode.FetchAdd
                ? AtomicArithmetic.FetchAdd(original, request.AddOrSwapData, request.AddOrSwapMask)
                : AtomicArithmetic.CompareSwap(original, request.CompareData, request.CompareMask, request.AddOrSwapData, request.AddOrSwapMask);
            MemoryMarshal.Write(word, in updated);
        }
        _receiveMsn[1]++;
        Interlocked.Increment(ref _inboundRequests);
        EnqueueWork(new TransmitWork { Kind = TransmitWorkKind.AtomicResponse, Atomic = new AtomicResponse(request.RequestId, original) });
    }

    private void HandleAtomicResponse(RdmapSegment segment)
    {
        if (!CheckUntagged(segment, 3, singleSegment: true))
        {
            return;
        }
        AtomicResponse response = segment.Header.AtomicResponse;
        AtomicOpcode opcode;
        lock (_outboundLock)
        {
            if (_orqCount == 0 || _orq[_orqHead].Kind != OutboundKind.Atomic || _orq[_orqHead].Atomic.RequestId != response.OriginalRequestId)
            {
                Violation(TerminateErrors.RdmapUnexpectedOpcode, segment, $"an Atomic Response for request {response.OriginalRequestId} that is not the oldest outstanding Atomic");
                return;
            }
            opcode = _orq[_orqHead].Atomic.Opcode;
        }
        _receiveMsn[3]++;
        CompleteOutbound(opcode == AtomicOpcode.FetchAdd ? CompletionOpcode.FetchAdd : CompletionOpcode.CompareSwap, sizeof(ulong), response.OriginalRemoteDataValue);
    }

    private void HandleTerminate(RdmapSegment segment)
    {
        TerminateHeader terminate = segment.Header.Terminate;
        TerminateError error = terminate.Error;
        IwarpErrorKind kind = error switch
        {
            _ when error == TerminateErrors.MpaCrcError => IwarpErrorKind.CrcError,
            _ when error == TerminateErrors.MpaNoMatchingRtr => IwarpErrorKind.NoMatchingRtr,
            _ when error == TerminateErrors.MpaInsufficientIrd => IwarpErrorKind.InsufficientIrd,
            _ => IwarpErrorKind.TerminateReceived,
        };
        _remoteErrorStatus = (terminate.Layer, terminate.EType) switch
        {
            (TerminateLayer.Rdmap, 1) or (TerminateLayer.Ddp, 1) => CompletionStatus.RemoteAccessError,
            _ => CompletionStatus.RemoteOperationError,
        };
        string about = (terminate.CopiedDdpHeader is { } copied
                ? $"; it names our {RdmapOpcodes.GetSpecName(new RdmapControl(copied.RdmapControl).Opcode)} ({copied}{(terminate.SegmentLengthValid ? $", {terminate.DdpSegmentLength} octets" : "")})"
                : "")
            + (terminate.CopiedReadRequest is { } request ? $", Read Request {request}" : "")
            + (terminate.SiwBitfieldLayout ? "; the Terminate is in Linux siw's little-endian bitfield layout" : "");
        StopReceiving();
        Fail(new IwarpException(kind, _fenceOpen ? ConnectionPhase.FullOperation : ConnectionPhase.ReadyToReceive,
            $"the peer sent Terminate {terminate.LayerValue}/{terminate.EType}/0x{terminate.ErrorCode:X2}: {error.Description}{about}")
        {
            DetectedBy = ErrorSource.Peer,
            RemoteEndPoint = RemoteEndPoint,
            Terminate = terminate,
        });
    }

    private void PeerClosed()
    {
        int buffered = _receiveEnd - _receiveStart;
        ReadOnlySpan<byte> partial = _receive.AsSpan(_receiveStart, Math.Min(buffered, 64));
        bool midMessage = _placing || buffered > 0 || _receiveActive || HasPartialReadResponse();
        string where = _placing
            ? $"in the middle of an FPDU: {Fpdu.LengthFieldSize + DdpHeader.TaggedLength + _placed + buffered} octet(s) of {Fpdu.TotalLength(DdpHeader.TaggedLength + _placeTarget.Length)} received, the payload placed at {_placeDdp}"
            : buffered > 0
            ? $"in the middle of an FPDU: {buffered} octet(s) of {(buffered >= 2 ? Fpdu.TotalLength(BinaryPrimitives.ReadUInt16BigEndian(partial)).ToString() : "?")} received"
            : _receiveActive ? $"in the middle of a Send: {_sendOffset} octet(s) of message MSN {_receiveMsn[0]} received"
            : midMessage ? "in the middle of an RDMA Read Response" : "between messages (FIN)";
        Fail(new IwarpException(midMessage ? IwarpErrorKind.ClosedMidMessage : IwarpErrorKind.ConnectionClosed, ConnectionPhase.FullOperation,
            $"the peer closed the stream {where}")
        {
            DetectedBy = ErrorSource.Peer,
            RemoteEndPoint = RemoteEndPoint,
            BytesReceived = BytesReceived,
            FirstBytes = partial.ToArray(),
        });
    }

    private bool HasPartialReadResponse()
    {
        lock (_outboundLock)
        {
            return _orqCount > 0 && _orq[_orqHead].Received > 0;
        }
    }

    private string DescribeReceiveProgress()
    {
        int buffered = _receiveEnd - _receiveStart;
        int outstanding;
        lock (_outboundLock)
        {
            outstanding = _orqCount;
        }
        return (_placing ? $"; {_placed} of {_placeTarget.Length} payload octet(s) of an FPDU placed at {_placeDdp}" : "")
            + (buffered > 0 ? $"; {buffered} octet(s) of an incomplete FPDU buffered" : "")
            + (_receiveActive ? $"; a Send is in progress at MO {_sendOffset}" : "")
            + (outstanding > 0 ? $"; {outstanding} Read/Atomic Request(s) await their response" : "")
            + (!_fenceOpen ? "; the responder's MPA fence is still closed" : "");
    }

    /// <summary>Completes the Send being received as flushed; the caller owns the receive loop.</summary>
    private void FlushInboundMessage()
    {
        if (_receiveActive)
        {
            _receiveActive = false;
            AddCompletion(new Completion(_activeReceive.WorkRequestId, CompletionOpcode.Receive, CompletionStatus.Flushed, (int)_sendOffset));
            _activeReceive = default;
        }
    }

    private void FlushOutbound(IwarpException error)
    {
        var flushed = new List<Completion>();
        lock (_outboundLock)
        {
            CompletionStatus first = error.DetectedBy == ErrorSource.Peer && error.Terminate is not null ? _remoteErrorStatus : CompletionStatus.Flushed;
            while (_orqCount > 0)
            {
                OutboundRequest request = _orq[_orqHead];
                _orq[_orqHead] = default;
                _orqHead = (_orqHead + 1) % _orq.Length;
                _orqCount--;
                if (request.Kind != OutboundKind.ReadRtr)
                {
                    flushed.Add(new Completion(request.WorkRequestId, OpcodeOf(request), first, 0));
                }
                first = CompletionStatus.Flushed;
            }
            while (_pendingOutbound.TryDequeue(out OutboundRequest request))
            {
                flushed.Add(new Completion(request.WorkRequestId, OpcodeOf(request), CompletionStatus.Flushed, 0));
            }
        }
        foreach (Completion completion in flushed)
        {
            AddCompletion(completion);
        }
    }

    private static CompletionOpcode OpcodeOf(in OutboundRequest request) => request.Kind switch
    {
        OutboundKind.Atomic => request.Atomic.Opcode == AtomicOpcode.FetchAdd ? CompletionOpcode.FetchAdd : CompletionOpcode.CompareSwap,
        _ => CompletionOpcode.RdmaRead,
    };

    /// <summary>
    /// After our Terminate the sending half is shut; reading on until the peer closes (at most 2 s) keeps
    /// the kernel from answering its last data with RST, which could destroy the Terminate in flight.
    /// </summary>
    private void DrainAfterTerminate()
    {
        Socket? socket = _socket;
        if (socket is null)
        {
            return;
        }
        long until = Stopwatch.GetTimestamp() + 2 * Stopwatch.Frequency;
        try
        {
            socket.ReceiveTimeout = 200;
            while (Stopwatch.GetTimestamp() < until && _state != ConnectionState.Closed)
            {
                try
                {
                    if (socket.Receive(_receive, SocketFlags.None) == 0)
                    {
                        return;
                    }
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
                {
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The peer reset or we closed: nothing more to drain.
        }
    }
}

/// <summary>RFC 7306 §4.1 arithmetic for the Atomic responder.</summary>
internal static class AtomicArithmetic
{
    /// <summary>
    /// Adds with independent fields: each set bit of <paramref name="mask"/> is the most significant bit
    /// of a field, and the carry out of it is dropped. Mask 0 is a plain 64-bit add.
    /// </summary>
    public static ulong FetchAdd(ulong original, ulong add, ulong mask)
    {
        if (mask == 0)
        {
            return unchecked(original + add);
        }
        ulong result = 0;
        ulong carry = 0;
        for (int bit = 0; bit < 64; bit++)
        {
            ulong a = (original >> bit) & 1;
            ulong b = (add >> bit) & 1;
            result |= (a ^ b ^ carry) << bit;
            carry = (a & b) | (a & carry) | (b & carry);
            if (((mask >> bit) & 1) != 0)
            {
                carry = 0;
            }
        }
        return result;
    }

    /// <summary>If ((compare ^ original) &amp; compareMask) == 0: (original &amp; ~swapMask) | (swap &amp; swapMask); else unchanged.</summary>
    public static ulong CompareSwap(ulong original, ulong compare, ulong compareMask, ulong swap, ulong swapMask) =>
        ((compare ^ original) & compareMask) == 0 ? (original & ~swapMask) | (swap & swapMask) : original;
}
