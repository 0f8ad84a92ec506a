using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Endpoint;

public sealed partial class IwarpConnection
{
    // Responses to the peer's Read and Atomic Requests, and Reads/Atomics waiting for ORD credits, are
    // sent by one helper thread in arrival order, so the receive loop never waits behind a large
    // response (two endpoints each blocked sending a Read Response would otherwise stop reading).
    private readonly object _workLock = new();
    private readonly Queue<TransmitWork> _work = new();
    private Thread? _worker;
    private bool _workerStop;

    private void EnqueueWork(in TransmitWork work)
    {
        lock (_workLock)
        {
            if (_workerStop)
            {
                return;
            }
            _work.Enqueue(work);
            if (_worker is null)
            {
                _worker = new Thread(WorkerLoop) { IsBackground = true, Name = $"iwarp-tx {RemoteEndPoint}" };
                _worker.Start();
            }
            else
            {
                Monitor.Pulse(_workLock);
            }
        }
    }

    private void WorkerLoop()
    {
        while (true)
        {
            TransmitWork work;
            lock (_workLock)
            {
                while (_work.Count == 0 && !_workerStop)
                {
                    Monitor.Wait(_workLock);
                }
                if (_workerStop)
                {
                    return;
                }
                work = _work.Dequeue();
            }
            try
            {
                Process(work);
            }
            catch (Exception e) when (e is IwarpException or ObjectDisposedException or InvalidOperationException)
            {
                // The connection failed under us; its Error already says why.
            }
        }
    }

    private void Process(in TransmitWork work)
    {
        switch (work.Kind)
        {
            // The IRD slot is released just before the response's last FPDU leaves: a peer may answer that FPDU
            // with its next Read Request before this thread runs again, and with IRD 1 (rping) that request is
            // legal; a request that arrives while earlier FPDUs of the response are still going out is not.
            case TransmitWorkKind.ReadResponse:
                SendReadResponse(work.Read, work.Region);
                break;
            case TransmitWorkKind.AtomicResponse:
                Interlocked.Decrement(ref _inboundRequests);
                lock (_sendLock)
                {
                    ThrowIfCannotSend();
                    var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.AtomicResponse), 3, _transmitMsn[3]++, 0, last: true);
                    SendMessage(ddp, work.Atomic, default);
                }
                break;
            case TransmitWorkKind.IssuePending:
                IssuePendingOutbound();
                break;
        }
    }

    /// <summary>
    /// One Read Response: tagged with the request's sink STag and TO, segmented like any message. The
    /// source region is checked again, since it may have been invalidated since the request arrived; a
    /// failure then replaces the response with a Terminate whose copies are empty (RFC 5040 §7.1).
    /// </summary>
    private void SendReadResponse(in ReadRequestHeader read, MemoryRegion? region)
    {
        bool released = false;
        try
        {
            SendReadResponse(read, region, ref released);
        }
        finally
        {
            if (!released)
            {
                Interlocked.Decrement(ref _inboundRequests);
            }
        }
    }

    private void SendReadResponse(in ReadRequestHeader read, MemoryRegion? region, ref bool released)
    {
        lock (_sendLock)
        {
            ThrowIfCannotSend();
            ReadOnlyMemory<byte> data = default;
            if (read.ReadSize > 0)
            {
                if (region is null || !region.Allows(MemoryAccess.RemoteRead) || region.Check(read.SourceTO, read.ReadSize, out int offset) != RegionCheck.Ok)
                {
                    var terminate = new TerminateHeader(TerminateErrors.RdmapInvalidSTag);
                    TerminateStream(terminate, new IwarpException(IwarpErrorKind.TerminateSent, ConnectionPhase.FullOperation,
                        $"the source of the peer's RDMA Read (STag 0x{read.SourceSTag:X8}) became invalid before the response; sent Terminate {terminate}")
                    {
                        RemoteEndPoint = RemoteEndPoint,
                        Terminate = terminate,
                    });
                    return;
                }
                data = region.Memory.Slice(offset, (int)read.ReadSize);
            }
            var first = DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaReadResponse), read.SinkSTag, read.SinkTO, last: false);
            ReadOnlySpan<byte> payload = data.Span;
            foreach (DdpSegment segment in new DdpSegmenter(first, payload.Length, _mulpdu))
            {
                if (segment.Header.Last)
                {
                    FlushTransmit();
                    Interlocked.Decrement(ref _inboundRequests);
                    released = true;
                }
                AppendFpdu(segment.Header, RdmapHeader.None, payload.Slice((int)segment.Offset, segment.Length));
            }
            FlushTransmit();
        }
    }

    private void StopWorker()
    {
        lock (_workLock)
        {
            _workerStop = true;
            _work.Clear();
            Monitor.PulseAll(_workLock);
        }
    }

    private void JoinWorker()
    {
        Thread? worker;
        lock (_workLock)
        {
            worker = _worker;
        }
        if (worker is not null && worker != Thread.CurrentThread)
        {
            worker.Join(TimeSpan.FromSeconds(2));
        }
    }

    private enum TransmitWorkKind : byte
    {
        ReadResponse,
        AtomicResponse,
        IssuePending,
    }

    private struct TransmitWork
    {
        public TransmitWorkKind Kind;
        public ReadRequestHeader Read;
        public MemoryRegion? Region;
        public AtomicResponse Atomic;
    }
}
