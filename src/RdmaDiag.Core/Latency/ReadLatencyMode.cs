using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>
/// `latency read`: RDMA Read latency over the userspace iWARP endpoint, as ib_read_lat. One Read is
/// outstanding at a time; one sample is the time from posting it to its completion (a whole round
/// trip, not halved). The responder's region holds a seeded pattern: the first and the last Read of
/// every size are compared with it in full (the sink is cleared in between).
/// </summary>
public sealed class ReadLatencyMode : RdmaLatencyMode
{
    public override SoftLatencyOp Operation => SoftLatencyOp.Read;

    public override string Name => "read";

    public override string Description => "RDMA Read latency over the userspace iWARP endpoint or a verbs device (as ib_read_lat); sample = post to completion";

    private protected override ILatencySession CreateSession(SoftLatencyClient client, List<string> notes) => new Session(client, notes);

    private sealed class Session(SoftLatencyClient client, List<string> notes) : ILatencySession
    {
        private ulong _workRequest;
        private int _verified;

        public IReadOnlyList<string> Notes =>
            [.. notes, $"read: {_verified} Reads (the first and last of each size) matched the responder's pattern octet for octet"];

        public IReadOnlyList<LatencySeries> Measure(int size, SamplePlan plan)
        {
            using var sink = client.Transport.Register(size, MemoryAccess.LocalWrite);
            var ready = client.BeginSize(size, out var seed);
            var expected = new byte[size];
            ProbeMessage.FillPattern(expected, seed);
            long reads = 0;
            var recorder = plan.Measure(() => Once(sink, ready, expected, ++reads), 1);
            if (reads > 1)
            {
                Verify(sink.Span, expected, "last");
            }
            client.EndSize(size);
            return [new LatencySeries("read", "", size, "post→completion", recorder)];
        }

        private void Once(TransportRegion sink, in SoftLatencyControl ready, byte[] expected, long read)
        {
            var transport = client.Transport;
            var id = ++_workRequest;
            transport.PostRead(id, sink, 0, sink.Length, ready.STag, ready.TaggedOffset);
            var completion = transport.WaitForCompletion(client.Settings.ReplyTimeout);
            if (completion.Opcode != CompletionOpcode.RdmaRead || !completion.IsSuccess || completion.WorkRequestId != id || completion.ByteLength != sink.Length)
            {
                throw new IOException($"read {LatencySeries.FormatSize(sink.Length)}: Read {id} ended as {completion}");
            }
            if (read == 1)
            {
                Verify(sink.Span, expected, "first");
                sink.Span.Clear();
            }
        }

        private void Verify(ReadOnlySpan<byte> sink, byte[] expected, string which)
        {
            var same = sink.CommonPrefixLength(expected);
            if (same != sink.Length)
            {
                throw new IOException($"read {LatencySeries.FormatSize(sink.Length)}: octet {same} of the {which} Read is 0x{sink[same]:X2}, the responder's region holds 0x{expected[same]:X2}");
            }
            _verified++;
        }

        public void Dispose() => client.Dispose();
    }
}
