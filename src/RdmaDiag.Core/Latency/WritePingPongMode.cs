using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>
/// `latency write`: RDMA Write ping-pong over the userspace iWARP endpoint, as ib_write_lat. Each side
/// Writes its whole buffer into the other's advertised region and then polls the last octet of its
/// own region until the other's Write lands; one sample is half the round trip. The polled octet is
/// the exchange's tag and must be exactly that; after each size both regions are compared in full
/// with the other side's data.
/// </summary>
public sealed class WritePingPongMode : RdmaLatencyMode
{
    public override SoftLatencyOp Operation => SoftLatencyOp.Write;

    public override string Name => "write";

    public override string Description => "RDMA Write ping-pong polling the last octet, over the userspace iWARP endpoint or a verbs device (as ib_write_lat); sample = RTT/2";

    private protected override ILatencySession CreateSession(SoftLatencyClient client, List<string> notes) => new Session(client, notes);

    private sealed class Session(SoftLatencyClient client, List<string> notes) : ILatencySession
    {
        private long _verified;
        private int _sizes;

        public IReadOnlyList<string> Notes =>
            [.. notes, $"write: {_verified} polled octets were their exchange's tag; after each of {_sizes} size(s) both regions held the other side's data"];

        public IReadOnlyList<LatencySeries> Measure(int size, SamplePlan plan)
        {
            var transport = client.Transport;
            using var region = transport.Register(size, MemoryAccess.LocalWrite | MemoryAccess.RemoteWrite);
            using var send = transport.Register(size, MemoryAccess.None);
            var ready = client.BeginSize(size, out var seed, region);
            ProbeMessage.FillPattern(send.Span, seed);
            var exchange = new Exchange(client, ready, send, region);
            var recorder = plan.Measure(exchange.Once, 2);
            var done = client.EndSize(size);
            var label = $"write {LatencySeries.FormatSize(size)}";
            if (done.Status != SoftLatencyStatus.Ok || done.Count != exchange.Count)
            {
                throw new IOException($"{label}: the responder saw {done.Count} Writes (this side sent {exchange.Count}) and reports {done.Status}: its region did not hold this side's data and tag");
            }
            // Done travelled after the responder's last Write (RDMAP orders them), so that Write is placed in full.
            var expected = new byte[size];
            ProbeMessage.FillPattern(expected, SoftLatencyProtocol.ResponderSeed(seed));
            expected[^1] = exchange.Count == 0 ? (byte)0 : SoftLatencyProtocol.Tag(exchange.Count);
            var same = region.Span.CommonPrefixLength(expected);
            if (same != size)
            {
                throw new IOException($"{label}: octet {same} of this side's region is 0x{region.Span[same]:X2} after the responder's last Write, expected 0x{expected[same]:X2}");
            }
            _verified += exchange.Count;
            _sizes++;
            return [new LatencySeries("write", "", size, "rtt/2", recorder)];
        }

        public void Dispose() => client.Dispose();
    }

    /// <summary>One size's ping-pong state: the exchange count is the tag sequence both sides follow.</summary>
    private sealed class Exchange(SoftLatencyClient client, SoftLatencyControl ready, TransportRegion send, TransportRegion region)
    {
        private byte _previous;

        public long Count { get; private set; }

        public void Once()
        {
            var tag = SoftLatencyProtocol.Tag(++Count);
            send.Span[^1] = tag;
            LatencyPosts.Write(client.Transport, send, ready.STag, ready.TaggedOffset);
            var seen = LastOctetPoller.WaitForChange(region, _previous, client.Transport, client.Settings.BusyPoll, client.TimeoutTicks, watchCompletions: false, out _);
            if (seen != tag)
            {
                throw new IOException($"write {LatencySeries.FormatSize(region.Length)}: in exchange {Count} the polled octet became 0x{seen:X2}, expected the tag 0x{tag:X2}");
            }
            _previous = tag;
        }
    }
}
