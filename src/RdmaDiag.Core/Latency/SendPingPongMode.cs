using System.Buffers.Binary;
using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>
/// `latency send`: RDMA Send/Recv ping-pong over the userspace iWARP endpoint, as ib_send_lat. The
/// responder echoes each Send; one sample is half the round trip. Each echo carries its sequence
/// number, and the last echo of every size is compared with what was sent, octet for octet.
/// </summary>
public sealed class SendPingPongMode : RdmaLatencyMode
{
    public override SoftLatencyOp Operation => SoftLatencyOp.Send;

    public override string Name => "send";

    public override string Description => "RDMA Send/Recv ping-pong over the userspace iWARP endpoint or a verbs device (as ib_send_lat); sample = RTT/2";

    private protected override ILatencySession CreateSession(SoftLatencyClient client, List<string> notes) => new Session(client, notes);

    private sealed class Session(SoftLatencyClient client, List<string> notes) : ILatencySession
    {
        private long _sequence;
        private long _verified;

        public IReadOnlyList<string> Notes =>
            [.. notes, $"send: {_verified} echoes carried their own sequence number; the last echo of each size matched what was sent"];

        public IReadOnlyList<LatencySeries> Measure(int size, SamplePlan plan)
        {
            var transport = client.Transport;
            using var send = transport.Register(size, MemoryAccess.None);
            using var receive = transport.Register(size, MemoryAccess.LocalWrite);
            client.BeginSize(size, out var seed);
            ProbeMessage.FillPattern(send.Span, seed);
            var before = _sequence;
            var recorder = plan.Measure(() => Once(send, receive), 2);
            var served = _sequence - before;
            if (served > 0 && !receive.Span.SequenceEqual(send.Span))
            {
                var at = receive.Span.CommonPrefixLength(send.Span);
                throw new IOException($"send {LatencySeries.FormatSize(size)}: octet {at} of the last echo is 0x{receive.Span[at]:X2}, sent 0x{send.Span[at]:X2}");
            }
            var done = client.EndSize(size);
            if (done.Count != served)
            {
                throw new IOException($"send {LatencySeries.FormatSize(size)}: the responder echoed {done.Count} Sends, this side sent {served}");
            }
            return [new LatencySeries("send", "", size, "rtt/2", recorder)];
        }

        private void Once(TransportRegion send, TransportRegion receive)
        {
            var sequence = ++_sequence;
            var length = send.Length;
            if (length >= sizeof(long))
            {
                BinaryPrimitives.WriteInt64LittleEndian(send.Span, sequence);
            }
            var transport = client.Transport;
            transport.PostReceive(1, receive, 0, length);
            LatencyPosts.Send(transport, send, length);
            var completion = client.WaitReceive();
            if (completion.ByteLength != length)
            {
                throw new IOException($"send {LatencySeries.FormatSize(length)}: an echo of {completion.ByteLength} octets");
            }
            if (length >= sizeof(long))
            {
                var echoed = BinaryPrimitives.ReadInt64LittleEndian(receive.Span);
                if (echoed != sequence)
                {
                    throw new IOException($"send {LatencySeries.FormatSize(length)}: echo {echoed} answers no request (expected {sequence})");
                }
                _verified++;
            }
        }

        public void Dispose() => client.Dispose();
    }
}
